"""Shared test helpers: fixture paths."""

from __future__ import annotations

from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def fixtures() -> Path:
    """Folder of the tiny hand-written corpora."""
    return FIXTURES


@pytest.fixture(scope="session")
def mini_corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A small real corpus: the first 160 MSRA training sentences (train) and the next 40 (test), as BIO files."""
    from itertools import islice

    from ner_lightning.data.corpora import corpus_path
    from ner_lightning.data.readers import read_column

    folder = tmp_path_factory.mktemp("mini")
    sentences = list(islice(read_column(corpus_path("msra")), 200))
    paths = {"train": folder / "train.txt", "test": folder / "test.txt"}
    for name, part in (("train", sentences[:160]), ("test", sentences[160:])):
        text = "\n".join("\n".join(f"{c}\t{t}" for c, t in zip(s.chars, s.tags)) + "\n" for s in part)
        paths[name].write_text(text, encoding="utf-8")
    return paths
