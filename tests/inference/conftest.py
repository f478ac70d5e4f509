"""Trained tiny checkpoints (real MSRA sentences, a few steps) for the inference tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import run_train


def _train(corpus: dict[str, Path], out: Path, *extra: str) -> Path:
    proc = run_train(
        "data=bio", f"data.train_path={corpus['train']}", f"data.test_path={corpus['test']}", "data.dev_size=20",
        "data.progress=false", "debug=limit", "~logger", "trainer.enable_progress_bar=false", "test=false",
        f"hydra.run.dir={out}", *extra, cwd=out.parent,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out / "checkpoints" / "last.ckpt"  # debug=limit keeps last.ckpt alone


@pytest.fixture(scope="session")
def bilstm_ckpt(mini_corpus: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A BiLSTM+CRF (BIO) checkpoint."""
    out = tmp_path_factory.mktemp("bilstm") / "run"
    return _train(mini_corpus, out, "model.encoder.embedding_dim=16", "model.encoder.hidden_size=16")


@pytest.fixture(scope="session")
def bert_ckpt(mini_corpus: dict[str, Path], tiny_bert: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny BERT + softmax checkpoint (62 characters per window: 64 positions minus [CLS]/[SEP])."""
    out = tmp_path_factory.mktemp("bert") / "run"
    return _train(mini_corpus, out, "model=bert_softmax", f"pretrained_encoder={tiny_bert}")


@pytest.fixture(scope="session")
def bert_crf_bioes_ckpt(
    mini_corpus: dict[str, Path], tiny_bert: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A tiny BERT + CRF checkpoint tagging BIOES."""
    out = tmp_path_factory.mktemp("bert_crf") / "run"
    return _train(mini_corpus, out, "model=bert_crf", f"pretrained_encoder={tiny_bert}", "data.scheme=BIOES")


@pytest.fixture(scope="session")
def lexicon_ckpt(mini_corpus: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A BiLSTM+CRF with character bigrams and SoftLexicon sets (jieba's dictionary)."""
    out = tmp_path_factory.mktemp("lexicon") / "run"
    return _train(
        mini_corpus, out, "experiment=lexicon", "model.encoder.embedding_dim=16", "model.encoder.hidden_size=16",
        "model.encoder.bigram_dim=8", "model.encoder.word_dim=8", "data.bigram_min_freq=1", "data.lexicon_min_freq=1",
    )  # fmt: skip


@pytest.fixture(scope="session")
def lexicon_tags_ckpt(mini_corpus: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The lexicon model with ``data.lexicon_tags``: words rare in training (most) take their jieba tag's id."""
    out = tmp_path_factory.mktemp("lexicon_tags") / "run"
    return _train(
        mini_corpus, out, "experiment=lexicon", "model.encoder.embedding_dim=16", "model.encoder.hidden_size=16",
        "model.encoder.bigram_dim=8", "model.encoder.word_dim=8", "data.lexicon_tags=true",
    )  # fmt: skip
