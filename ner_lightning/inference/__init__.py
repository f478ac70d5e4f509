"""Using a trained tagger: ``load_tagger(path).predict(texts)`` from a checkpoint (``.ckpt``) or an export (``.onnx``).

``from ner_lightning.inference.onnx_backend import OnnxPredictor`` needs onnxruntime and numpy only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ner_lightning.inference.predictor import Entity, Predictor, entities, merge_windows, windows

__all__ = ["Entity", "Predictor", "entities", "load_tagger", "merge_windows", "windows"]


def load_tagger(
    path: str | Path, device: str | None = None, threads: int | None = None, batch_size: int = 64, **kwargs: Any
) -> Predictor:
    """A predictor for a checkpoint (PyTorch on ``device``) or an exported ``.onnx`` model (onnxruntime with
    ``threads``); each backend ignores the other's option.

    Example:
        >>> tagger = load_tagger("outputs/.../checkpoints/last.ckpt")  # doctest: +SKIP
        >>> tagger.predict(["赵阳在中科院工作"])  # doctest: +SKIP
        [[{'type': 'PER', 'text': '赵阳', 'start': 0, 'end': 2}, {'type': 'ORG', 'text': '中科院', ...}]]
    """
    if str(path).endswith(".onnx"):
        from ner_lightning.inference.onnx_backend import OnnxPredictor

        return OnnxPredictor(path, threads=threads, batch_size=batch_size, **kwargs)
    from ner_lightning.inference.torch_backend import TorchPredictor

    return TorchPredictor.load(path, device=device, batch_size=batch_size, **kwargs)
