"""Pretrained starts for the bigram and word tables (issue 19): ``.vec`` files, characters' means, PCA, checkpoints."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from ner_lightning.assets import vectors
from ner_lightning.assets.vectors import read_vec, reduce_dim, start_table
from ner_lightning.data.features import FeatureVocab
from ner_lightning.data.lexicon import Lexicon
from ner_lightning.data.vocab import CharVocab
from ner_lightning.errors import ConfigError, DataError
from ner_lightning.models.tagger import Tagger


def _vec(tmp_path: Path, text: str | bytes) -> Path:
    path = tmp_path / "w.vec"
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def test_read_vec_keeps_wanted_rows_with_or_without_header(tmp_path: Path) -> None:
    for header in ("3 2\n", ""):
        path = _vec(tmp_path, header + "北京 1 2\n上海 3 4 \n大 5 6\n")
        rows, width = read_vec(path, {"北京", "大", "广州"}, 2)
        assert width == 2 and set(rows) == {"北京", "大"} and rows["大"].tolist() == [5.0, 6.0]


@pytest.mark.parametrize(
    ("text", "dim", "message"),
    [
        ("北京 1 2 3\n上海 1 2\n", None, r"w.vec:2: 2 values, but line 1 has 3"),
        ("2 3\n北京 1 2 3\n上海 1 2\n", None, r"w.vec:3: 2 values, but the header has 3"),
        ("北京 1 2 3\n", 2, r"w.vec:1: vectors of 3 values, but model.encoder.word_dim=2"),
        ("北京 1 2\n上海 1 x\n", 2, r"w.vec:2: a value that is not a number"),
        (b"\xe5\x8c\x97 1 2\n\xff\xfe 1 2\n", 2, r"w.vec:2: not UTF-8"),
        ("", 2, r"w.vec: empty word-vector file"),
    ],
)
def test_bad_vec_file_names_path_and_line(tmp_path: Path, text: str | bytes, dim: int | None, message: str) -> None:
    with pytest.raises(DataError, match=message):
        read_vec(_vec(tmp_path, text), {"北京", "上海", "北"}, dim, "model.encoder.word_dim")


def test_start_rows_own_vector_then_characters_mean_then_random(tmp_path: Path) -> None:
    path = _vec(tmp_path, "北京 1 2\n北 4 0\n京 0 8\n")
    table, counts = start_table(["北京", "京北", "北", "京", "外国"], str(path), 2, "model.encoder.word_vectors")
    assert counts == {"whole": 3, "chars": 1, "random": 1}
    scale = table[2, 0] / 4.0  # one scale for the whole table (unit standard deviation)
    assert np.allclose(table[0], np.array([1, 2]) * scale)  # its own vector, not its characters'
    assert np.allclose(table[1], np.array([2, 4]) * scale)  # the mean of 北 and 京
    assert np.allclose(table[3], np.array([0, 8]) * scale) and table.std() == pytest.approx(1.0, abs=1e-5)


def test_wider_source_is_reduced_to_its_principal_components(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(0)
    rank2 = rng.normal(size=(40, 2)) @ rng.normal(size=(2, 6))
    reduced = reduce_dim(rank2, 2)
    centred = rank2 - rank2.mean(0)
    # two components keep all the variance of rank-2 data, and distances between rows
    assert reduced.shape == (40, 2) and np.isclose((reduced**2).sum(), (centred**2).sum())
    assert np.allclose(np.linalg.norm(reduced[0] - reduced[1]), np.linalg.norm(rank2[0] - rank2[1]))
    # e5 (384-d) and LAC (128-d) are reduced; a source narrower than the config is refused
    monkeypatch.setattr(vectors, "source_vectors", lambda *_: ({"北": np.ones(6, np.float32)}, 6))
    assert start_table(["北", "京"], "e5", 2, "k")[0].shape == (2, 2)
    with pytest.raises(ConfigError, match="model.encoder.word_vectors=e5: its vectors have 6 values, fewer than"):
        start_table(["北"], "e5", 8, "model.encoder.word_vectors")


def _tagger(tmp_path: Path, **encoder: object) -> Tagger:
    lex = tmp_path / "lex.txt"
    lex.write_text("北京 10\n大学 4\n北京大学 2\n", encoding="utf-8")
    train = [list("北京大学在北京"), list("京城北京大学")]
    vocab = FeatureVocab.build(train, CharVocab.build(train), True, 1, Lexicon.load(str(lex)), "train", None, 1)
    config = {"type": "bilstm", "embedding_dim": 4, "hidden_size": 4, "num_layers": 1, "dropout": 0.0,
              "bigrams": True, "bigram_dim": 2, "lexicon": True, "word_dim": 2, **encoder}  # fmt: skip
    return Tagger(["O", "B-LOC", "I-LOC"], vocab.to_dict(), config, {"type": "crf"})


def test_tagger_starts_from_vectors_and_its_checkpoint_never_reads_them_again(tmp_path: Path) -> None:
    vec = _vec(tmp_path, "北京 3 1\n大学 -1 2\n北 1 1\n京 1 -1\n")
    model = _tagger(tmp_path, word_vectors=str(vec), bigram_vectors=str(vec))
    plain = _tagger(tmp_path)
    words = model.hparams["vocab"]["features"]["lexicon"]["words"]
    table = model.encoder.word_embedding.weight.detach()[3:]
    row = dict(zip(words, table))
    # the two words with vectors keep their directions; a random start would not
    assert torch.allclose(row["北京"] / row["北京"].norm(), torch.tensor([3.0, 1.0]) / 10**0.5, atol=1e-5)
    assert torch.allclose(row["大学"] / row["大学"].norm(), torch.tensor([-1.0, 2.0]) / 5**0.5, atol=1e-5)
    bigrams = model.hparams["vocab"]["features"]["bigrams"]
    brow = dict(zip(bigrams, model.encoder.bigram_embedding.weight.detach()[2:]))
    assert torch.allclose(brow["北京"] / brow["北京"].norm(), torch.tensor([3.0, 1.0]) / 10**0.5, atol=1e-5)
    assert not torch.allclose(plain.encoder.word_embedding.weight[3:], model.encoder.word_embedding.weight[3:])
    # the checkpoint's encoder config no longer names the file: it loads with the file gone
    assert model.hparams["encoder"]["word_vectors"] is None and model.hparams["encoder"]["bigram_vectors"] is None
    path = tmp_path / "m.ckpt"
    torch.save({"state_dict": model.state_dict(), "hyper_parameters": dict(model.hparams)}, path)
    vec.unlink()
    again = Tagger(**torch.load(path, weights_only=False)["hyper_parameters"])
    again.load_state_dict(torch.load(path, weights_only=False)["state_dict"])
    assert torch.equal(again.encoder.word_embedding.weight, model.encoder.word_embedding.weight)


def test_vectors_without_the_feature_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="model.encoder.word_vectors=e5: needs model.encoder.lexicon=true"):
        _tagger(tmp_path, lexicon=False, word_vectors="e5")


def test_character_table_starts_from_vectors_and_not_beside_pretrained_embeddings(tmp_path: Path) -> None:
    vec = _vec(tmp_path, "北 1 0 0 0\n京 0 2 0 0\n大 0 0 3 1\n学 1 1 1 1\n")
    torch.manual_seed(0)
    model = _tagger(tmp_path, char_vectors=str(vec))
    torch.manual_seed(0)
    plain = _tagger(tmp_path)
    itos = model.hparams["vocab"]["itos"]
    row = dict(zip(itos, model.encoder.embedding.weight.detach()))
    # a character with a vector keeps its direction (a 4-d source at embedding_dim 4: only scaled)
    source = {"北": [1, 0, 0, 0], "京": [0, 2, 0, 0], "大": [0, 0, 3, 1], "学": [1, 1, 1, 1]}
    for char, value in source.items():
        want = torch.tensor(value, dtype=torch.float32)
        assert torch.allclose(row[char] / row[char].norm(), want / want.norm(), atol=1e-4), char
    assert torch.equal(row["[PAD]"], torch.zeros(4))  # padding and [UNK] keep the encoder's own rows
    assert torch.equal(model.encoder.embedding.weight[1], plain.encoder.embedding.weight[1])
    assert not torch.allclose(model.encoder.embedding.weight[2:], plain.encoder.embedding.weight[2:])
    assert model.hparams["encoder"]["char_vectors"] is None  # in the weights from now on
    with pytest.raises(ConfigError, match="char_vectors and pretrained_embeddings both start the characters"):
        _tagger(tmp_path, char_vectors=str(vec), pretrained_embeddings="lac")
