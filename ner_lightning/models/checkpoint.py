"""Loading a trained tagger from its checkpoint, safely (``weights_only=True``: pickled code never runs)."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import torch

from ner_lightning.errors import CheckpointError, NerError
from ner_lightning.models.tagger import Tagger


def _check_path(ckpt_path: str) -> None:
    path = Path(ckpt_path)
    if not path.exists():
        raise CheckpointError(f"{ckpt_path}: no such checkpoint (ckpt_path)")
    if not path.is_file():
        raise CheckpointError(f"{ckpt_path}: is a directory or special file, not a checkpoint (ckpt_path)")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{ckpt_path}: the file is empty (0 bytes), not a checkpoint (ckpt_path)")


def _reason(ckpt_path: str, err: BaseException) -> CheckpointError:
    """One line for a checkpoint that does not load."""
    if isinstance(err, pickle.UnpicklingError):
        first = (str(err).strip().splitlines() or ["unpickling failed"])[0]
        if "weights_only" in str(err) or "Unsupported global" in str(err):
            first = "refusing to load: it holds pickled objects other than weights (possibly code)"
        return CheckpointError(f"{ckpt_path}: not a safe ner_lightning checkpoint ({first})")
    first = (str(err).strip().splitlines() or [""])[0][:200]
    if "central directory" in first or "failed reading zip archive" in first:
        first = "the file is truncated or damaged"
    return CheckpointError(f"{ckpt_path}: not a ner_lightning checkpoint ({type(err).__name__}: {first})")


def read_checkpoint(ckpt_path: str | Path) -> dict[str, Any]:
    """The raw checkpoint dictionary, loaded safely (``weights_only=True``).

    Raises:
        CheckpointError: naming the file when it is missing, empty, truncated, unsafe or not a training checkpoint.
    """
    ckpt_path = str(ckpt_path)
    _check_path(ckpt_path)
    try:
        state = torch.load(ckpt_path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - every failure is one line naming the file
        raise _reason(ckpt_path, err) from None
    if not isinstance(state, dict) or "state_dict" not in state or "hyper_parameters" not in state:
        raise CheckpointError(f"{ckpt_path}: not a ner_lightning training checkpoint (no state_dict/hyper_parameters)")
    return state


def load_checkpoint(ckpt_path: str | Path, map_location: str = "cpu") -> Tagger:
    """The :class:`Tagger` stored in ``ckpt_path`` (labels, vocabulary, scheme and config come with it).

    Raises:
        CheckpointError: naming the file when it is missing, not a checkpoint, unsafe, or not ours.
    """
    ckpt_path = str(ckpt_path)
    _check_path(ckpt_path)
    try:
        model = Tagger.load_from_checkpoint(ckpt_path, map_location=map_location, weights_only=True)
    except NerError:
        raise
    except Exception as err:  # noqa: BLE001 - anything else means the file is not one of our checkpoints
        raise _reason(ckpt_path, err) from None
    bad = next((name for name, p in model.named_parameters() if not p.isfinite().all()), None)
    if bad is not None:
        raise CheckpointError(f"{ckpt_path}: weight {bad} holds NaN or infinite values (a diverged run?); refusing it")
    return model
