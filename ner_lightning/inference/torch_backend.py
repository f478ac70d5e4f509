"""Predictor over a PyTorch checkpoint (CPU or GPU)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ner_lightning.inference.predictor import Predictor
from ner_lightning.models.checkpoint import load_checkpoint
from ner_lightning.models.tagger import Tagger


class TorchPredictor(Predictor):
    """A :class:`Tagger` in eval mode behind the :class:`Predictor` API.

    Args:
        model: the tagger.
        device: ``cpu``, ``cuda``, ``cuda:1``...; ``None`` picks CUDA when available.
        max_chars: window size (default: the transformer's limit, or 512 characters for a BiLSTM).
        batch_size: pieces per forward pass.
    """

    def __init__(
        self, model: Tagger, device: str | None = None, max_chars: int | None = None, batch_size: int = 64
    ) -> None:
        limit = model.encoder.max_chars  # the one source: each encoder says how much it takes
        super().__init__(
            model.labels, model.hparams.vocab, model.hparams.scheme, min(max_chars or limit, limit), None, batch_size
        )
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        encoder = model.encoder
        if getattr(encoder, "lora", None):
            encoder.merge_lora()  # adapters folded into the weights: plain inference
        self.model = model.to(self.device).eval()

    @classmethod
    def load(cls, path: str | Path, **kwargs: object) -> TorchPredictor:
        """From a checkpoint file (nothing else needed: labels, vocabulary, scheme and config are inside)."""
        return cls(load_checkpoint(path), **kwargs)  # type: ignore[arg-type]

    def tag_ids(self, input_ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            ids = torch.from_numpy(input_ids).to(self.device)
            on = torch.from_numpy(mask).to(self.device)
            return self.model(ids, on).cpu().numpy()
