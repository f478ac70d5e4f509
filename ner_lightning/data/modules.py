"""The corpus data modules: ``BioDataModule`` (column corpora, named ``msra``) and ``ClueDataModule`` (CLUENER)."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ner_lightning.data.corpora import CORPORA, corpus_path, dev_slice, split_official
from ner_lightning.data.datamodule import SPLITS, NerDataModule
from ner_lightning.data.readers import (
    TOKEN_FORMATS,
    ReadStats,
    Sentence,
    TokenFormat,
    check_file,
    read_cluener,
    read_column,
)
from ner_lightning.errors import ConfigError, DataError, positive_int


def check_distinct(paths: dict[str, str | None]) -> None:
    """Dev or test data must not be the training file (scores would be on training data)."""
    train = paths.get("train")
    for split in ("val", "test"):
        other = paths.get(split)
        if train and other and Path(other).resolve() == Path(train).resolve():
            raise DataError(
                f"data.{split}_path={other}: the same file as data.train_path; scores on it would be on training "
                "data (give a held-out file, or leave it unset: dev is then sliced from train, data.dev_size)"
            )


def nonempty(sentences: list[Sentence], path: str | Path, split: str) -> list[Sentence]:
    """``sentences`` unchanged, or an error naming the file when it holds none."""
    if not sentences:
        raise DataError(f"{path}: no sentences in the {split} file (data.{split}_path)")
    return sentences


class BioDataModule(NerDataModule):
    """Column corpora (BIO, IOB1, BIOES, BMES): a named ``corpus`` (e.g. ``msra``) or explicit paths.

    Args:
        corpus: named corpus (official train/test split; dev sliced from train).
        train_path / val_path / test_path: column files (used when ``corpus`` is not set).
        dev_size: sentences held out from train as dev when there is no ``val_path``.
        dev_seed: seed of that held-out slice.
        dev_from: ``random`` (a seeded sample) or ``tail`` (the last ``dev_size`` sentences).
        encoding: file encoding.
        **kwargs: see :class:`NerDataModule`.
    """

    def __init__(
        self,
        corpus: str | None = None,
        train_path: str | None = None,
        val_path: str | None = None,
        test_path: str | None = None,
        dev_size: int = 2000,
        dev_seed: int = 13,
        dev_from: str = "random",
        encoding: str = "utf-8",
        token_format: TokenFormat = "char",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if corpus is None and train_path is None:
            raise ConfigError("set data.corpus (e.g. msra) or data.train_path")
        if token_format not in TOKEN_FORMATS:
            raise ConfigError(f"data.token_format={token_format!r}: expected one of {', '.join(TOKEN_FORMATS)}")
        positive_int("data.dev_size", dev_size, minimum=0)
        self.corpus, self.encoding, self.token_format = corpus, encoding, token_format
        self.paths = {"train": train_path, "val": val_path, "test": test_path}
        self.dev_size, self.dev_seed, self.dev_from = dev_size, dev_seed, dev_from

    def _read(self, path: str | Path, desc: str, stats: ReadStats, key: str = "data.train_path") -> list[Sentence]:
        check_file(path, key)
        return list(self._progress(read_column(path, self.encoding, self.token_format, stats), desc))

    def _read_named(self, name: str) -> tuple[list[Sentence], list[Sentence], ReadStats, ReadStats]:
        """A named corpus's official (train, test) and each one's share of the file's read counts (the counts
        taken when its last training sentence was read belong to train, the rest to test)."""
        path = corpus_path(name)
        check_file(path, "data.corpus")
        read, at_boundary = ReadStats(), ReadStats()
        boundary = CORPORA[name].train_sentences
        sentences: list[Sentence] = []
        for sent in self._progress(read_column(path, self.encoding, self.token_format, read), f"reading {name}"):
            sentences.append(sent)
            if len(sentences) == boundary:
                at_boundary = copy.deepcopy(read)
        train, test = split_official(name, sentences)
        return train, test, at_boundary, read.minus(at_boundary)

    def read_splits(self) -> dict[str, tuple[Iterable[Sentence], ReadStats]]:
        stats = {k: ReadStats() for k in SPLITS}
        if self.corpus is not None:
            train, test, stats["train"], stats["test"] = self._read_named(self.corpus)
            splits = {"train": train, "test": test}
        else:
            check_distinct(self.paths)
            splits = {
                k: nonempty(self._read(p, f"reading {k}", stats[k], f"data.{k}_path"), p, k)
                for k, p in self.paths.items()
                if p
            }
        if "val" not in splits and self.dev_size > 0:
            splits["train"], splits["val"] = dev_slice(splits["train"], self.dev_size, self.dev_seed, self.dev_from)
        return {k: (v, stats[k]) for k, v in splits.items()}


class ClueDataModule(NerDataModule):
    """CLUENER2020 JSON (``train.json``, ``dev.json``, optional ``test.json``).

    The official test file is unlabelled: it is read (and summarised) but cannot be scored.
    """

    def __init__(
        self,
        train_path: str,
        val_path: str | None = None,
        test_path: str | None = None,
        dev_size: int = 0,
        dev_seed: int = 13,
        dev_from: str = "random",
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("source_scheme", "BIO")
        super().__init__(**kwargs)
        positive_int("data.dev_size", dev_size, minimum=0)
        self.paths = {"train": train_path, "val": val_path, "test": test_path}
        self.dev_size, self.dev_seed, self.dev_from = dev_size, dev_seed, dev_from

    def read_splits(self) -> dict[str, tuple[Iterable[Sentence], ReadStats]]:
        out: dict[str, tuple[Iterable[Sentence], ReadStats]] = {}
        check_distinct(self.paths)
        for name, path in self.paths.items():
            if path:
                check_file(path, f"data.{name}_path")
                stats = ReadStats()
                sents = list(self._progress(read_cluener(path, stats), f"reading {name}"))
                out[name] = (nonempty(sents, path, name), stats)
        if "val" not in out and self.dev_size > 0:
            train, stats = out["train"]
            rest, dev = dev_slice(list(train), self.dev_size, self.dev_seed, self.dev_from)
            out["train"], out["val"] = (rest, stats), (dev, ReadStats())
        return out
