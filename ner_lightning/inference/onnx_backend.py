"""Predictor over an exported ONNX model: needs onnxruntime and numpy only (no torch, Lightning or Hydra)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from ner_lightning.errors import CheckpointError
from ner_lightning.inference.predictor import Predictor

DIGEST_KEY = "ner_lightning.sidecar_sha256"  # ONNX metadata: the digest of what the sidecar must say
SCHEMES = ("BIO", "BIOES")


def sidecar_path(model_path: str | Path) -> Path:
    """The JSON written beside an exported model (``tagger.onnx`` -> ``tagger.json``)."""
    return Path(model_path).with_suffix(".json")


def sidecar_digest(meta: dict[str, Any]) -> str:
    """SHA-256 of what decoding depends on: labels, vocabulary, scheme and window size."""
    core = {k: meta[k] for k in ("labels", "vocab", "scheme", "max_chars")}
    return hashlib.sha256(json.dumps(core, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def read_sidecar(path: Path) -> dict[str, Any]:
    """The sidecar's content, its schema checked (one error line naming the file and the key otherwise)."""
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise CheckpointError(f"{path}:{err.lineno}: not valid JSON ({err.msg}); re-export the model") from None
    except UnicodeDecodeError:
        raise CheckpointError(f"{path}: not UTF-8 text; re-export the model") from None
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path}: expected a JSON object; re-export the model")
    checks = {
        "labels": lambda v: isinstance(v, list) and v and all(isinstance(t, str) for t in v) and v[0] == "O",
        "vocab": lambda v: isinstance(v, dict) and isinstance(v.get("itos"), list) and len(v["itos"]) > 2,
        "scheme": lambda v: v in SCHEMES,
        "max_chars": lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 1,
    }
    for key, ok in checks.items():
        if key not in meta:
            raise CheckpointError(f"{path}: key {key!r} is missing; re-export the model")
        if not ok(meta[key]):
            raise CheckpointError(f"{path}: {key} = {str(meta[key])[:60]!r} is not valid; re-export the model")
    return meta


def check_digest(model_path: Path, meta: dict[str, Any], session: Any) -> None:
    """The sidecar says what the graph was exported with (labels, vocabulary, scheme, window), else one line."""
    stamped = session.get_modelmeta().custom_metadata_map.get(DIGEST_KEY)
    if stamped is None:
        raise CheckpointError(
            f"{model_path}: the model carries no sidecar digest (exported by an older version); "
            "re-export it with python -m ner_lightning.export"
        )
    if stamped != sidecar_digest(meta):
        raise CheckpointError(
            f"{sidecar_path(model_path)}: its labels, vocabulary, scheme or max_chars differ from what "
            f"{model_path.name} was exported with; use the sidecar written with it (or re-export)"
        )


class OnnxPredictor(Predictor):
    """An ONNX Runtime session of ``ner_lightning.export`` output: ``(input_ids, mask) -> tags`` with the CRF's
    Viterbi (or the softmax argmax) inside the graph, any batch and length up to ``max_chars``.

    Args:
        path: the ``.onnx`` file; its sidecar ``.json`` (labels, vocabulary, scheme) must lie beside it.
        threads: intra-op threads (``None``: onnxruntime's default).
        batch_size: pieces per run.
    """

    def __init__(self, path: str | Path, threads: int | None = None, batch_size: int = 64) -> None:
        import onnxruntime as ort

        path = Path(path)
        meta_path = sidecar_path(path)
        if not path.is_file():
            raise CheckpointError(f"{path}: no such ONNX model")
        if not meta_path.is_file():
            raise CheckpointError(f"{path}: its sidecar {meta_path.name} (labels, vocabulary) is missing")
        self.meta: dict[str, Any] = read_sidecar(meta_path)
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as err:  # noqa: BLE001 - onnxruntime raises its own types
            raise CheckpointError(f"{path}: not a loadable ONNX model ({str(err).splitlines()[0][:200]})") from None
        check_digest(path, self.meta, self.session)
        super().__init__(
            self.meta["labels"], self.meta["vocab"], self.meta["scheme"], self.meta["max_chars"], None, batch_size
        )

    def tag_ids(self, input_ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        (tags,) = self.session.run(None, {"input_ids": input_ids, "mask": mask})
        return tags
