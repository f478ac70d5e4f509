"""Data layer: tag schemes, readers, named corpora, vocabularies, batching and DataModules.

The DataModules (and with them Lightning) load on first use, so ``import ner_lightning.data.tags`` stays light.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from ner_lightning.data.readers import ReadStats, Sentence, read_cluener, read_column
from ner_lightning.errors import DataError

_LAZY = {"BioDataModule", "ClueDataModule", "NerDataModule"}

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


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        home = "ner_lightning.data.datamodule" if name == "NerDataModule" else "ner_lightning.data.modules"
        return getattr(import_module(home), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
