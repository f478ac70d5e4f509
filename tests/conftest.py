"""Shared test helpers: fixture paths."""

from __future__ import annotations

from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def fixtures() -> Path:
    """Folder of the tiny hand-written corpora."""
    return FIXTURES


def _write_bio(path: Path, sentences: list) -> None:
    text = "\n".join("\n".join(f"{c}\t{t}" for c, t in zip(s.chars, s.tags)) + "\n" for s in sentences)
    path.write_text(text, encoding="utf-8")


@pytest.fixture(scope="session")
def msra_slice(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A real MSRA slice big enough to learn from: the first 1,600 training sentences (train) and the next 400
    (test), as BIO files."""
    from itertools import islice

    from ner_lightning.data.corpora import corpus_path
    from ner_lightning.data.readers import read_column

    folder = tmp_path_factory.mktemp("msra_slice")
    sentences = list(islice(read_column(corpus_path("msra")), 2000))
    paths = {"train": folder / "train.txt", "test": folder / "test.txt"}
    _write_bio(paths["train"], sentences[:1600])
    _write_bio(paths["test"], sentences[1600:])
    return paths


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


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory, mini_corpus: dict[str, Path]) -> Path:
    """A randomly initialised 2-layer BERT (hidden 32, 64 positions) with a character vocabulary, saved as a
    local HF folder: the offline stand-in for ``hfl/chinese-macbert-base`` in tests."""
    from transformers import BertConfig, BertModel, BertTokenizerFast

    folder = tmp_path_factory.mktemp("tiny_bert")
    chars = sorted(
        {
            c
            for p in mini_corpus.values()
            for line in p.read_text(encoding="utf-8").splitlines()
            if line
            for c in line.split("\t")[0]
        }
    )
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    latin = list("abcdefghijklmnopqrstuvwxyz0123456789")
    tokens = specials + latin + [c for c in chars if c not in latin]
    tokenizer = BertTokenizerFast(vocab={t: i for i, t in enumerate(tokens)}, do_lower_case=True)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    __import__("torch").manual_seed(0)
    BertModel(config, add_pooling_layer=False).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
