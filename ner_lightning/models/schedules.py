"""Learning-rate schedules laid out over a run's budget rather than a fixed step count.

A CPU record is capped by time (``trainer.max_time``), and a schedule laid out over ``max_epochs`` then stops
part-way, its learning rate still high. :func:`budget_cosine` anneals over the *budget used*: the larger of the
fraction of the time cap spent (Lightning's ``Timer``, resumed runs included) and the fraction of the optimizer
steps done, so every recipe under the same cap ends annealed whatever its speed. The schedule then depends on the
machine's speed (as the time cap already does); a run without a time cap is an ordinary step schedule.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR


def budget_factor(progress: float, warmup: float = 0.0, floor: float = 0.0) -> float:
    """The learning-rate multiplier at ``progress`` (fraction of the budget used, clipped to ``[0, 1]``): linear
    warmup over the first ``warmup`` of the budget, then a half cosine from 1 down to ``floor``."""
    p = min(max(progress, 0.0), 1.0)
    if p < warmup:
        return max(p / warmup, 1e-3)
    rest = (p - warmup) / (1.0 - warmup) if warmup < 1.0 else 1.0
    return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * rest))


def budget_cosine(
    optimizer: Optimizer, progress: Callable[[], float], warmup: float = 0.0, floor: float = 0.0
) -> LambdaLR:
    """Cosine annealing over the budget used (see the module); each group keeps its own base learning rate.

    Args:
        optimizer: the optimizer (its groups' ``lr`` are the peaks).
        progress: returns the fraction of the run's budget used so far (the tagger's ``budget_progress``).
        warmup: fraction of the budget spent warming up linearly.
        floor: the final multiplier (0 anneals to 0).
    """
    if not 0.0 <= warmup < 1.0 or not 0.0 <= floor <= 1.0:
        raise ValueError(f"expected 0 <= warmup < 1 and 0 <= floor <= 1, got warmup={warmup}, floor={floor}")
    return LambdaLR(optimizer, lambda _step: budget_factor(progress(), warmup, floor))


def budget_progress(trainer: Any, total_steps: int) -> float:
    """The fraction of the run's budget used: the larger of time spent over ``trainer.max_time`` (resumed time
    included) and ``trainer.global_step`` over ``total_steps``."""
    from lightning.pytorch.callbacks import Timer

    used = trainer.global_step / max(total_steps, 1)
    for cb in trainer.callbacks:
        if isinstance(cb, Timer) and cb.time_remaining() is not None:
            elapsed = cb.time_elapsed("train")
            used = max(used, elapsed / max(elapsed + cb.time_remaining("train"), 1e-9))
    return min(used, 1.0)
