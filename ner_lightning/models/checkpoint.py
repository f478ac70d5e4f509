"""Loading a trained tagger from its checkpoint, safely (``weights_only=True``: pickled code never runs)."""

from __future__ import annotations

import pickle
from pathlib import Path

from ner_lightning.errors import CheckpointError, NerError
from ner_lightning.models.tagger import Tagger


def load_checkpoint(ckpt_path: str | Path, map_location: str = "cpu") -> Tagger:
    """The :class:`Tagger` stored in ``ckpt_path`` (labels, vocabulary, scheme and config come with it).

    Raises:
        CheckpointError: naming the file when it is missing, not a checkpoint, unsafe, or not ours.
    """
    ckpt_path = str(ckpt_path)
    if not Path(ckpt_path).is_file():
        raise CheckpointError(f"{ckpt_path}: no such checkpoint (ckpt_path)")
    try:
        model = Tagger.load_from_checkpoint(ckpt_path, map_location=map_location, weights_only=True)
    except NerError:
        raise
    except pickle.UnpicklingError as err:
        first = (str(err).strip().splitlines() or ["unpickling failed"])[0]
        if "weights_only" in str(err) or "Unsupported global" in str(err):
            first = "refusing to load: it holds pickled objects other than weights (possibly code)"
        raise CheckpointError(f"{ckpt_path}: not a safe ner_lightning checkpoint ({first})") from None
    except Exception as err:  # noqa: BLE001 - anything else means the file is not one of our checkpoints
        first = (str(err).strip().splitlines() or [""])[0][:200]
        raise CheckpointError(f"{ckpt_path}: not a ner_lightning checkpoint ({type(err).__name__}: {first})") from None
    bad = next((name for name, p in model.state_dict().items() if p.is_floating_point() and not p.isfinite().all()), None)
    if bad is not None:
        raise CheckpointError(f"{ckpt_path}: weight {bad} holds NaN or infinite values (a diverged run?); refusing it")
    return model
