"""Data layer: tag schemes, readers, named corpora, vocabularies, batching and DataModules."""

from ner_lightning.data.datamodule import BioDataModule, ClueDataModule, NerDataModule
from ner_lightning.data.readers import DataError, ReadStats, Sentence, read_cluener, read_column

__all__ = [
    "BioDataModule",
    "ClueDataModule",
    "DataError",
    "NerDataModule",
    "ReadStats",
    "Sentence",
    "read_cluener",
    "read_column",
]
