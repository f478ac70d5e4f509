"""Predictor over an exported ONNX model: needs onnxruntime and numpy only (no torch, Lightning or Hydra)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ner_lightning.errors import CheckpointError
from ner_lightning.inference.predictor import Predictor


def sidecar_path(model_path: str | Path) -> Path:
    """The JSON written beside an exported model (``tagger.onnx`` -> ``tagger.json``)."""
    return Path(model_path).with_suffix(".json")


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
        self.meta: dict[str, Any] = json.loads(meta_path.read_text(encoding="utf-8"))
        super().__init__(
            self.meta["labels"], self.meta["vocab"], self.meta["scheme"], self.meta["max_chars"], None, batch_size
        )
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as err:  # noqa: BLE001 - onnxruntime raises its own types
            raise CheckpointError(f"{path}: not a loadable ONNX model ({str(err).splitlines()[0][:200]})") from None

    def tag_ids(self, input_ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        (tags,) = self.session.run(None, {"input_ids": input_ids, "mask": mask})
        return tags
