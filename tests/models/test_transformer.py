"""Transformer taggers: one token per character, windows, first-N layers, LoRA, loading errors, LR groups."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import AutoTokenizer

from ner_lightning.assets.pretrained import load_model
from ner_lightning.data.collate import collate_batch
from ner_lightning.data.tags import spans_to_tags, tags_to_spans
from ner_lightning.data.vocab import PretrainedCharVocab
from ner_lightning.errors import NerError
from ner_lightning.models.tagger import Tagger
from ner_lightning.models.transformer import TransformerEncoder

LABELS = ["O", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-PER", "I-PER"]


@pytest.fixture
def vocab(tiny_bert: Path) -> PretrainedCharVocab:
    return PretrainedCharVocab.from_tokenizer(AutoTokenizer.from_pretrained(tiny_bert), str(tiny_bert))


def tagger(tiny_bert: Path, vocab: PretrainedCharVocab, head: str = "crf", **encoder: object) -> Tagger:
    torch.manual_seed(0)
    return Tagger(
        LABELS,
        vocab.to_dict(),
        {"type": "transformer", "pretrained": str(tiny_bert), **encoder},
        {"type": head},
        optimizer={"_target_": "torch.optim.AdamW", "_partial_": True, "lr": 1e-3},
        lr_mult={"head": 10.0},
        crf_lr_mult=100.0,
    )


def test_one_token_per_character_with_unk_spaces_and_latin(vocab: PretrainedCharVocab) -> None:
    text = "我在Ａbc 北京1号㐀"  # full-width A, a space, an ideograph missing from the vocab
    ids = vocab.encode(list(text))
    assert len(ids) == len(text)
    assert ids[2] == vocab.stoi["a"] and ids[3] == vocab.stoi["b"]  # NFKC + lowercase
    assert ids[5] == vocab.unk_id and ids[-1] == vocab.unk_id  # space and unknown keep their position
    assert ids[8] == vocab.stoi["1"]
    again = PretrainedCharVocab.from_dict(vocab.to_dict())
    assert again.encode(list(text)) == ids


MIXED = "Apple公司在2024年收购了ＡＢＣ 北京😀分部"  # Latin word, digits, full-width letters, a space, an emoji


def test_each_character_keeps_its_position_through_the_encoder(tiny_bert: Path, vocab: PretrainedCharVocab) -> None:
    """Hidden state i belongs to character i of mixed-script text: equal to HF's own output at token i + 1
    ([CLS] first), whatever the padding, and changing character i changes position i first."""
    model = tagger(tiny_bert, vocab).eval()
    chars = list(MIXED)
    ids = vocab.encode(chars)
    assert len(ids) == len(MIXED)
    assert ids[MIXED.index("😀")] == vocab.unk_id  # unknown: [UNK] at its own position
    assert ids[MIXED.index(" ")] == vocab.unk_id
    assert ids[MIXED.index("Ａ")] == vocab.stoi["a"] and ids[0] == vocab.stoi["a"]  # NFKC + lower case
    batch = collate_batch([{"input_ids": ids}, {"input_ids": ids[:5]}])  # the second row is padded
    with torch.no_grad():
        hidden = model.encoder(batch["input_ids"], batch["mask"])
        reference = model.encoder.model(
            input_ids=torch.tensor([[vocab.cls_id, *ids, vocab.sep_id]]),
            attention_mask=torch.ones(1, len(ids) + 2, dtype=torch.long),
        ).last_hidden_state[0, 1:-1]
        short = model.encoder.model(input_ids=torch.tensor([[vocab.cls_id, *ids[:5], vocab.sep_id]])).last_hidden_state
    assert hidden.shape == (2, len(MIXED), 32)
    assert torch.allclose(hidden[0], reference, atol=1e-5)
    assert torch.allclose(hidden[1, :5], short[0, 1:-1], atol=1e-5)  # a padded row is unchanged by its padding
    # the tagger's decoded tags come back one per character, at the character offsets
    tags = model(batch["input_ids"], batch["mask"])
    assert tags.shape == (2, len(MIXED))
    spans = [("ORG", 0, 7), ("LOC", MIXED.index("北"), MIXED.index("北") + 2)]
    assert [MIXED[s:e] for _, s, e in spans] == ["Apple公司", "北京"]
    gold = spans_to_tags(spans, len(MIXED))
    assert tags_to_spans(gold, "BIO")[0] == spans and len(gold) == len(MIXED)


def test_long_inputs_are_windowed_not_truncated(tiny_bert: Path, vocab: PretrainedCharVocab) -> None:
    encoder = TransformerEncoder(vocab.to_dict(), str(tiny_bert)).eval()
    assert encoder.max_chars == 62  # 64 positions minus [CLS] and [SEP]
    torch.manual_seed(1)
    ids = torch.randint(5, len(vocab), (2, 150))
    mask = torch.ones(2, 150, dtype=torch.bool)
    mask[1, 100:] = False
    with torch.no_grad():
        out = encoder(ids, mask)
        first = encoder._encode(ids[:, :62], mask[:, :62])
        last = encoder._encode(ids[:, 88:150], mask[:, 88:150])
    assert out.shape == (2, 150, 32) and torch.isfinite(out).all()
    torch.testing.assert_close(out[0, :20], first[0, :20])  # the start comes from the first window
    torch.testing.assert_close(out[0, 140:], last[0, 52:])  # the end from the last one
    assert (out[1, 100:] == 0).all()


def test_first_n_layers(tiny_bert: Path, vocab: PretrainedCharVocab) -> None:
    model = tagger(tiny_bert, vocab, num_layers=1)
    assert len(model.encoder.model.encoder.layer) == 1
    assert model.hparams.encoder["config_dict"]["num_hidden_layers"] == 1
    with pytest.raises(ValueError, match=r"model.encoder.num_layers=3: must be in \[1, 2\]"):
        tagger(tiny_bert, vocab, num_layers=3)


def test_lora_trains_only_adapters_head_and_crf(tiny_bert: Path, vocab: PretrainedCharVocab) -> None:
    model = tagger(tiny_bert, vocab, lora={"r": 4, "alpha": 16, "dropout": 0.0})
    counts = model.parameter_counts()
    assert counts["trainable_params"] < counts["params"] / 5
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert all("lora_" in n or n.startswith("head.") for n in trainable)
    assert any(n.startswith("head.crf.") for n in trainable) and any("lora_A" in n for n in trainable)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    groups = model.param_groups()
    opt = torch.optim.AdamW(groups)
    batch = collate_batch([{"input_ids": vocab.encode(list("赵阳在北京")), "labels": [5, 6, 0, 1, 2]}])
    for _ in range(2):
        loss = model.head.loss(model.encoder(batch["input_ids"], batch["mask"]), batch["mask"], batch["labels"])
        opt.zero_grad()
        loss.backward()
        opt.step()
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert changed and changed <= trainable
    assert any("lora_B" in n for n in changed) and "head.crf.transitions" in changed
    # merging folds the adapters into the base weights and keeps the outputs
    model.eval()
    with torch.no_grad():
        expected = model(batch["input_ids"], batch["mask"])
        model.encoder.merge_lora()
        assert not any("lora_" in n for n, _ in model.named_parameters())
        assert torch.equal(model(batch["input_ids"], batch["mask"]), expected)


def test_learning_rate_groups_carry_the_configured_rates(tiny_bert: Path, vocab: PretrainedCharVocab) -> None:
    rates = {g["name"]: g["lr"] for g in tagger(tiny_bert, vocab).param_groups()}
    assert rates == pytest.approx({"embeddings": 1e-3, "encoder": 1e-3, "head": 1e-2, "crf": 1e-1})


def test_unloadable_encoder_is_one_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    # the hub reads the variable at import: without this a run without it waits on network timeouts (~20 s)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(
        NerError,
        match=r"cannot load the encoder of model.encoder.pretrained='no-such/model'.*"
        r"pretrained_encoder=e5-small-offline.* or a local folder",
    ):
        load_model("no-such/model")


def test_unreachable_hub_is_one_quick_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without HF_HUB_OFFLINE and without network: one quick try, not minutes of "Retrying in 8s"."""
    import time

    import huggingface_hub.constants
    import transformers  # (its first import is slow; it is not what is timed)

    transformers.AutoModel  # noqa: B018
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there: refused at once
    start = time.perf_counter()
    with pytest.raises(NerError, match=r"hub is unreachable \(one quick try\).*pretrained_encoder=e5-small-offline"):
        load_model("no-such/model")
    assert time.perf_counter() - start < 10


def test_checkpoint_rebuilds_without_the_pretrained_folder(
    tiny_bert: Path, vocab: PretrainedCharVocab, tmp_path: Path
) -> None:
    model = tagger(tiny_bert, vocab, lora={"r": 2})
    ids = torch.tensor([vocab.encode(list("北京"))])
    mask = torch.ones_like(ids, dtype=torch.bool)
    model.eval()
    torch.save(
        {
            "state_dict": model.state_dict(),
            "hyper_parameters": dict(model.hparams),
            "pytorch-lightning_version": "2.6.0",
        },
        tmp_path / "m.ckpt",
    )
    hparams = dict(model.hparams)
    hparams["encoder"] = {**hparams["encoder"], "pretrained": str(tmp_path / "gone")}  # the folder is not needed
    torch.save(
        {"state_dict": model.state_dict(), "hyper_parameters": hparams, "pytorch-lightning_version": "2.6.0"},
        tmp_path / "m.ckpt",
    )
    loaded = Tagger.load_from_checkpoint(tmp_path / "m.ckpt", map_location="cpu", weights_only=False).eval()
    with torch.no_grad():
        assert torch.equal(loaded(ids, mask), model(ids, mask))


def test_encoder_and_predictor_merge_windows_by_one_rule(tiny_bert: Path, vocab: PretrainedCharVocab) -> None:
    """Both take each position from the window where it is most central (ner_lightning.base.windows)."""
    from ner_lightning.base.windows import window_owner, windows
    from ner_lightning.inference.predictor import merge_windows

    encoder = TransformerEncoder(vocab.to_dict(), str(tiny_bert)).eval()
    seen: list[int] = []

    def numbered(ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:  # window k answers k everywhere
        seen.append(len(seen))
        return torch.full((*ids.shape, 1), float(seen[-1]))

    encoder._encode = numbered  # type: ignore[method-assign]
    seq = 150
    out = encoder(torch.ones(1, seq, dtype=torch.long), torch.ones(1, seq, dtype=torch.bool))
    spans = windows(seq, encoder.max_chars, encoder.window_stride)
    owner = window_owner(seq, spans)
    assert out[0, :, 0].long().tolist() == owner
    assert merge_windows(seq, [(a, b, [k] * (b - a)) for k, (a, b) in enumerate(spans)]) == owner
