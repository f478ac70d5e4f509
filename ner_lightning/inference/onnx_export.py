"""The whole tagger as one ONNX graph, ``(input_ids, mask) -> tags``, CRF Viterbi included; dynamic INT8.

Batch and length are dynamic (the Viterbi is a TorchScript loop that exports as an ONNX ``Loop``); transformer
graphs take at most the encoder's ``max_chars`` characters per row (the predictor windows longer text).
"""

from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ner_lightning.base.files import atomic_save, atomic_write_text
from ner_lightning.inference.onnx_backend import DIGEST_KEY, sidecar_digest, sidecar_path
from ner_lightning.inference.viterbi import viterbi_decode
from ner_lightning.models.tagger import Tagger

OPSET = 17


class GraphTagger(nn.Module):
    """Export view of a :class:`Tagger`: character ids and mask in, tag ids out (0 on padding)."""

    def __init__(self, model: Tagger) -> None:
        super().__init__()
        self.model = model.eval()
        self.crf = getattr(model.head, "crf", None)

    def forward(self, input_ids: Tensor, mask: Tensor) -> Tensor:
        encoder = self.model.encoder
        # transformers: the predictor sends pieces that fit, so the windowing branch is not traced
        hidden = encoder._encode(input_ids, mask) if hasattr(encoder, "_encode") else encoder(input_ids, mask)
        # shape: (batch, seq, num_labels)
        emissions = self.model.head.proj(hidden)
        if self.crf is None:
            return emissions.argmax(-1).masked_fill(~mask, 0)
        start, end, trans = self.crf.scores(bool(self.crf.has_constraints), emissions.dtype)
        return viterbi_decode(emissions, mask, start, end, trans)


def export_onnx(model: Tagger, path: str | Path, opset: int = OPSET) -> Path:
    """Write ``model`` as ONNX (dynamic batch and length); LoRA adapters are merged first."""
    path = Path(path)
    if getattr(model.encoder, "lora", None):
        model.encoder.merge_lora()
    graph = GraphTagger(model.cpu())
    mask = torch.tensor([[True] * 7, [True] * 4 + [False] * 3])
    dynamic = {"input_ids": {0: "batch", 1: "seq"}, "mask": {0: "batch", 1: "seq"}, "tags": {0: "batch", 1: "seq"}}
    features = feature_columns(model)
    if features:  # (batch, seq, F): character, bigram and word-set ids (see ner_lightning.data.features)
        example = (torch.randint(1, 3, (2, 7, features)), mask)
        dynamic["input_ids"][2] = "features"
    else:
        example = (torch.randint(2, 50, (2, 7)), mask)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer and deprecation chatter
        torch.onnx.export(
            graph,
            example,
            str(path),
            input_names=["input_ids", "mask"],
            output_names=["tags"],
            dynamic_axes=dynamic,
            opset_version=opset,
            dynamo=False,
        )
    return path


def feature_columns(model: Tagger) -> int:
    """Width of an example feature row for the export (0 for plain character ids): char, bigram, 4 sets x 2."""
    encoder = model.encoder
    if getattr(encoder, "bigram_embedding", None) is None and getattr(encoder, "word_embedding", None) is None:
        return 0
    return 1 + (encoder.bigram_embedding is not None) + (8 if encoder.word_embedding is not None else 0)


def quantize_int8(src: str | Path, dst: str | Path) -> Path:
    """Dynamic INT8 quantization (onnxruntime) of the weights of MatMul/Gemm (Linear) and LSTM nodes."""
    import logging

    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # its advice to pre-process the model applies to static quantization
    try:
        quantize_dynamic(
            str(src),
            str(dst),
            weight_type=QuantType.QInt8,
            op_types_to_quantize=["MatMul", "Gemm", "LSTM"],
            per_channel=True,  # per output channel: a transformer lost 5 F1 points with one scale per tensor
        )
    finally:
        root.setLevel(level)
    return Path(dst)


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file (ties an export to the checkpoint it came from)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_sidecar(model: Tagger, onnx_path: str | Path, ckpt_path: str | Path, extra: dict[str, Any]) -> Path:
    """The JSON beside the export: labels, vocabulary, scheme, window size, source checkpoint, measured parity."""

    max_chars = model.encoder.max_chars
    meta = {
        "format": "ner_lightning.onnx/1",
        "labels": model.labels,
        "scheme": model.hparams.scheme,
        "vocab": model.hparams.vocab,
        "tokenizer": (model.hparams.vocab or {}).get("name") or None,
        "max_chars": int(max_chars),
        "encoder": (model.hparams.encoder or {}).get("type", "bilstm"),
        "head": (model.hparams.head or {}).get("type", "crf"),
        "source_checkpoint": str(ckpt_path),
        "source_sha256": file_sha256(ckpt_path),
        **extra,
    }
    stamp_digest(onnx_path, sidecar_digest(meta))
    out = sidecar_path(onnx_path)
    atomic_write_text(out, json.dumps(meta, ensure_ascii=False, indent=1))
    return out


def stamp_digest(onnx_path: str | Path, digest: str) -> None:
    """Record the sidecar's digest in the ONNX model's metadata (rewritten atomically when it changes)."""
    import onnx

    graph = onnx.load(str(onnx_path))
    props = {p.key: p for p in graph.metadata_props}
    if DIGEST_KEY in props and props[DIGEST_KEY].value == digest:
        return
    if DIGEST_KEY in props:
        props[DIGEST_KEY].value = digest
    else:
        graph.metadata_props.add(key=DIGEST_KEY, value=digest)
    atomic_save(onnx_path, lambda fh: fh.write(graph.SerializeToString()))
