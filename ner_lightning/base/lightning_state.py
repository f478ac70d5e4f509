"""Every read of Lightning's state that its public API does not offer, in one place: the process layout under DDP
and where a resumed fit loop stands (for the data loaders), the epochs a checkpoint has done, whether a time cap is
set, and the hook that makes DDP children rerun one Hydra job. ``tests/base/test_lightning_state.py`` checks each
name this module and :class:`ner_lightning.runs.callbacks.RunCheckpoint` rely on, so an upgrade that moves one fails
that test by name instead of silently changing a run."""

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


def checkpoint_epochs_done(state: dict[str, Any]) -> int:
    """Epochs a saved fit loop had completed (``loops.fit_loop.epoch_progress.current.processed``; 0 if absent)."""
    done = (((state.get("loops") or {}).get("fit_loop") or {}).get("epoch_progress") or {}).get("current", {})
    return int(done.get("processed", 0))


def time_capped(trainer: Any) -> bool:
    """Whether a ``trainer.max_time`` cap (Lightning's :class:`~lightning.pytorch.callbacks.Timer`) is set."""
    from lightning.pytorch.callbacks import Timer

    return any(isinstance(cb, Timer) and cb.time_remaining() is not None for cb in trainer.callbacks)


def set_ddp_child_command(command: Any) -> None:
    """Make Lightning's DDP launcher build the command of ranks 1.. with ``command`` when run under Hydra.

    Raises:
        RuntimeError: when Lightning no longer has the hook (the children would rerun the whole command line).
    """
    from lightning.pytorch.strategies.launchers import subprocess_script

    if not hasattr(subprocess_script, "_hydra_subprocess_cmd"):
        raise RuntimeError(
            "lightning.pytorch.strategies.launchers.subprocess_script._hydra_subprocess_cmd is gone (a Lightning "
            "upgrade): DDP under Hydra cannot start its children for this job (ner_lightning/base/lightning_state.py)"
        )
    subprocess_script._hydra_subprocess_cmd = command
