"""What the data loaders need to know of the Lightning run they serve: the process layout under DDP and where a
resumed fit loop stands. All reads of Lightning's loop state (some of it private) are kept here, in one place."""

from __future__ import annotations

from typing import Any

from ner_lightning.errors import ConfigError


def replicas(trainer: Any | None) -> tuple[int, int]:
    """``(processes, this rank)``; ``(1, 0)`` outside a distributed run. Under DDP the loaders shard themselves
    (``trainer.use_distributed_sampler=false``): Lightning's own sampler would rebuild the bucketed batch sampler
    without its lengths."""
    world = int(getattr(trainer, "world_size", 1) or 1) if trainer is not None else 1
    if world > 1 and trainer._accelerator_connector.use_distributed_sampler:
        raise ConfigError(
            "trainer.use_distributed_sampler=true: the data module shards its own (length-bucketed) batches "
            "across processes; set trainer.use_distributed_sampler=false (as conf/trainer/ddp.yaml does)"
        )
    return world, (int(trainer.global_rank) if world > 1 else 0)


def batches_done(trainer: Any | None) -> int:
    """Batches of the current epoch already trained when the fit loop restarts from a mid-epoch checkpoint
    (restored before the epoch's iterator is built); 0 at every other iterator start."""
    if trainer is None or not trainer.fit_loop.epoch_loop.restarting:
        return 0
    return int(trainer.fit_loop.epoch_loop.batch_progress.current.processed)


def current_epoch(trainer: Any | None) -> int | None:
    """The training loop's current epoch (restored on resume), or ``None`` outside a Lightning fit."""
    return None if trainer is None else int(trainer.fit_loop.epoch_progress.current.processed)
