"""Lightning callbacks: checkpoints you can trust, a divergence guard, and the run files (reports, heatmaps).

The :class:`~ner_lightning.models.tagger.Tagger` computes scores; these callbacks decide what is written where.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback, EMAWeightAveraging, ModelCheckpoint
from lightning.pytorch.loggers import TensorBoardLogger, WandbLogger
from lightning.pytorch.plugins.io import TorchCheckpointIO
from lightning.pytorch.trainer.states import TrainerFn
from lightning.pytorch.utilities import rank_zero_info
from typing_extensions import override

from ner_lightning.base.files import atomic_open, atomic_write_text


class AtomicCheckpointIO(TorchCheckpointIO):
    """Checkpoints written whole or not at all: a temp file in the checkpoint's own folder, fsynced, then
    ``os.replace`` (Lightning's default writes through fsspec, which stages in ``$TMPDIR`` and, across
    filesystems, copies into the final name: a kill mid-copy left a truncated ``last.ckpt``)."""

    @override
    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any = None) -> None:
        if "://" in str(path):  # remote storage: Lightning's own writer
            return super().save_checkpoint(checkpoint, path, storage_options)
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        with atomic_open(path, "wb") as fh:
            torch.save(checkpoint, fh)
        return None


class RunCheckpoint(ModelCheckpoint):
    """``ModelCheckpoint`` whose ``last.ckpt`` is always the latest state, and whose best survives a resume.

    Lightning's ``save_last=True`` writes ``last.ckpt`` only when a top-k checkpoint is saved at the same step, so
    with ``save_top_k=1`` it holds the best epoch, not the last. Here ``last.ckpt`` is written after every
    validation, at the end of fit (a ``max_time`` or ``max_steps`` stop mid-epoch included) and on Ctrl-C.

    Resuming (``ckpt_path=...``) into a new run folder keeps the best score and path of the interrupted run (Lightning
    forgets them when the folder changes), so ``val/f1_best`` and the best checkpoint match an uninterrupted run.
    (Lightning never deletes checkpoints outside this run's folder.)
    """

    DDP_CHECK_STEPS = 20  # under DDP, how often rank 0 is asked whether a mid-epoch save is due

    def __init__(self, *args: Any, last_every_minutes: float | None = 10.0, **kwargs: Any) -> None:
        """``last_every_minutes``: also write ``last.ckpt`` mid-epoch after this many minutes of training since the
        last save (a long CPU epoch is never lost to a crash or a kill); ``None`` turns it off."""
        super().__init__(*args, **kwargs)
        self.last_every_s = 60.0 * last_every_minutes if last_every_minutes else None
        self._last_save_time: float | None = None

    @override
    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
        if self.last_every_s is None:
            return
        now = time.monotonic()
        if self._last_save_time is None:
            self._last_save_time = now
            return
        if trainer.world_size > 1:
            # saving is collective (a barrier): every process must decide alike at the same step. Rank 0's clock
            # decides, asked every DDP_CHECK_STEPS steps (one tiny broadcast, not one per step)
            if trainer.global_step % self.DDP_CHECK_STEPS:
                return
            due = bool(trainer.strategy.broadcast(now - self._last_save_time >= self.last_every_s, src=0))
        else:
            due = now - self._last_save_time >= self.last_every_s
        if due:
            self._save_last_now(trainer)

    @override
    def _save_last_checkpoint(self, trainer: L.Trainer, monitor_candidates: dict[str, Any]) -> None:
        if not weights_finite(trainer.lightning_module):  # diverged: last.ckpt keeps the last finite state
            return
        self._save_last_checkpoint_now(trainer, monitor_candidates)

    def _save_last_checkpoint_now(self, trainer: L.Trainer, monitor_candidates: dict[str, Any]) -> None:
        """``save_last: link``: ``last.ckpt`` links to the checkpoint saved at this same step (one copy of identical
        weights on disk); at any other step it is a real file (Lightning would link to an older top-k file). Either
        way the new ``last.ckpt`` replaces the old one in one rename (:class:`AtomicCheckpointIO`,
        :meth:`_link_checkpoint`): a real save replaces a link itself, never writes through it."""
        link = self.save_last == "link"
        same_step = bool(self._last_checkpoint_saved) and self._last_global_step_saved == trainer.global_step
        last = self.format_checkpoint_name(monitor_candidates, self.CHECKPOINT_NAME_LAST)
        if os.path.lexists(last):  # ours (a resumed run's too): replace it, never write last-v1.ckpt beside it
            self.last_model_path = last
        if link and not same_step:
            self.save_last = True
            try:
                super()._save_last_checkpoint(trainer, monitor_candidates)
            finally:
                self.save_last = "link"
            return
        super()._save_last_checkpoint(trainer, monitor_candidates)

    @staticmethod
    def _link_checkpoint(trainer: L.Trainer, filepath: str, linkpath: str) -> None:
        """Point ``linkpath`` at ``filepath`` by renaming a fresh link over it (Lightning removes ``linkpath`` first,
        leaving a moment without ``last.ckpt``)."""
        if trainer.is_global_zero:
            tmp = f"{linkpath}.link-tmp"
            if os.path.lexists(tmp):
                os.remove(tmp)
            os.symlink(os.path.relpath(filepath, os.path.dirname(linkpath)), tmp)
            os.replace(tmp, linkpath)
        trainer.strategy.barrier()

    def _save_last_now(self, trainer: L.Trainer) -> None:
        if not self.save_last or trainer.fast_dev_run or trainer.sanity_checking:
            return
        if trainer.state.fn != TrainerFn.FITTING:
            return
        if self._last_global_step_saved == trainer.global_step and self.last_model_path:
            return  # already saved at this step (Lightning saved top-k and last together)
        self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))
        self._last_save_time = time.monotonic()

    @override
    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_validation_end(trainer, pl_module)
        if not self._should_save_on_train_epoch_end(trainer):  # else Lightning saves top-k at the epoch's end
            self._save_last_now(trainer)

    @override
    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_train_epoch_end(trainer, pl_module)
        if self._should_save_on_train_epoch_end(trainer):  # after the end-of-epoch validation and top-k save
            self._save_last_now(trainer)

    @override
    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_train_end(trainer, pl_module)
        self._save_last_now(trainer)

    @override
    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        if isinstance(exception, KeyboardInterrupt) and trainer.training:
            self._save_last_now(trainer)

    @override
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        fresh = (self.best_model_score, self.best_model_path, self.kth_value, self.kth_best_model_path)
        if state_dict.get("dirpath", self.dirpath) == self.dirpath:
            super().load_state_dict(state_dict)
        else:  # a resume into a new run folder: keep the best of the interrupted run (its files stay where they are)
            self.best_model_score = state_dict["best_model_score"]
            self.best_model_path = state_dict["best_model_path"]
            self.kth_value = state_dict.get("kth_value", self.kth_value)
            self.kth_best_model_path = state_dict.get("kth_best_model_path", self.kth_best_model_path)
            self.best_k_models = dict(state_dict.get("best_k_models", {}))
        if self.best_model_path and not os.path.exists(self.best_model_path):
            # removed by keep_checkpoints=last|none: the best starts again from this resume
            rank_zero_info(f"the best checkpoint {self.best_model_path} is gone (keep_checkpoints); the best is "
                           "counted again from this resume")  # fmt: skip
            self.best_model_score, self.best_model_path, self.kth_value, self.kth_best_model_path = fresh
            self.best_k_models = {}


class TrainThroughput(Callback):
    """Sentences actually trained on and the seconds spent in training batches (validation excluded), summed over
    processes: the honest figures for runs cut short by ``limit_train_batches``, ``max_steps`` or ``max_time``."""

    def __init__(self) -> None:
        self.sentences = 0
        self.seconds = 0.0
        self._t0: float | None = None

    @override
    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        self._t0 = time.perf_counter()

    @override
    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        if self._t0 is not None:
            self.seconds += time.perf_counter() - self._t0
        self.sentences += int(batch["mask"].size(0)) * trainer.world_size

    def state_dict(self) -> dict[str, Any]:  # resumed runs keep counting
        return {"sentences": self.sentences, "seconds": self.seconds}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.sentences = int(state_dict.get("sentences", 0))
        self.seconds = float(state_dict.get("seconds", 0.0))


class DivergenceGuard(Callback):
    """Stop training at the first NaN or infinite training or validation loss, keeping what the run earned.

    Training stops at that step (``trainer.should_stop``); the diverged weights never become the best checkpoint nor
    ``last.ckpt`` (:class:`RunCheckpoint` keeps the last finite state); ``train`` then scores the last good
    checkpoint on test, writes ``metrics.json`` with ``stopped_by: diverged`` and ends with :attr:`message`.
    """

    def __init__(self) -> None:
        self.message: str | None = None

    def _diverged(self, trainer: L.Trainer, what: str, value: float, where: str) -> None:
        if self.message is None:
            self.message = f"training diverged: {what} is {value} at step {trainer.global_step} ({where})"
        trainer.should_stop = True

    @override
    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        if loss is not None and not bool(torch.isfinite(loss.detach()).all()):
            value = float(loss.detach().float().mean())
            self._diverged(trainer, "the training loss", value, f"epoch {trainer.current_epoch}, batch {batch_idx}")

    @override
    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        loss = trainer.callback_metrics.get("val/loss")
        if loss is not None and not math.isfinite(float(loss)):
            self._diverged(trainer, "the validation loss", float(loss), f"validation of epoch {trainer.current_epoch}")
        if self.message is not None and "val/f1" in trainer.callback_metrics:
            # diverged weights never become the best checkpoint (checkpoint callbacks run after this one)
            trainer.callback_metrics["val/f1"] = torch.tensor(float("nan"))


class WeightEMA(EMAWeightAveraging):
    """An exponential moving average of the weights (Lightning's :class:`EMAWeightAveraging`), validated, checkpointed
    and tested in place of the raw weights (``callbacks=ema``).

    Checkpoints hold the average as ``state_dict`` (so ``evaluate``, ``predict`` and ``export`` use it) and the raw
    weights as ``current_model_state`` (so a resume continues both). Unlike the stock callback, the average is
    released when training ends: a later ``trainer.validate`` of the best checkpoint scores that checkpoint instead of
    swapping in the final average.
    """

    @override
    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_train_end(trainer, pl_module)  # the module now holds the average
        self._average_model = None


def weights_finite(module: torch.nn.Module) -> bool:
    """Whether every parameter of ``module`` is finite (metric states such as the best F1 start at -inf)."""
    return all(bool(p.isfinite().all()) for p in module.parameters())


def _log_figure(trainer: L.Trainer, key: str, fig: Any, step: int) -> None:
    """Send a matplotlib figure to the loggers that take images (TensorBoard, W&B)."""
    for logger in trainer.loggers:
        if isinstance(logger, TensorBoardLogger):
            logger.experiment.add_figure(key, fig, step, close=False)
        elif isinstance(logger, WandbLogger):
            logger.log_image(key=key, images=[fig], step=step)


def _takes_images(trainer: L.Trainer) -> bool:
    return any(isinstance(lg, (TensorBoardLogger, WandbLogger)) for lg in trainer.loggers)


class RunFiles(Callback):
    """Write what the tagger computed into the run folder (rank 0 only) and send figures to image loggers.

    - after each validation: the CRF transitions as a line of ``transitions.jsonl`` and a heatmap;
    - after testing: ``test_report.txt``/``.json`` (seqeval) and ``confusion.png``/``.json`` (tokens).
    """

    @override
    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        crf = getattr(getattr(pl_module, "head", None), "crf", None)
        if crf is None or trainer.sanity_checking or not trainer.is_global_zero:
            return
        if trainer.state.fn != TrainerFn.FITTING:
            return
        trans = crf.transitions.detach().float().cpu()
        labels = list(pl_module.labels)  # type: ignore[attr-defined]
        if _takes_images(trainer):
            import matplotlib.pyplot as plt

            from ner_lightning.runs.plots import heatmap_figure

            fig = heatmap_figure(trans.numpy(), labels, f"CRF transitions, epoch {trainer.current_epoch}")
            _log_figure(trainer, "crf/transitions", fig, trainer.global_step)
            plt.close(fig)
        if trainer.default_root_dir:
            record = {
                "epoch": trainer.current_epoch,
                "step": trainer.global_step,
                "labels": labels,
                "transitions": [[round(v, 4) for v in row] for row in trans.tolist()],
            }
            with (Path(trainer.default_root_dir) / "transitions.jsonl").open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(record) + "\n")

    @override
    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # (callbacks' epoch-end hooks run before the module's, where the report is computed)
        scores = getattr(pl_module, "last_report", None)
        matrix = getattr(pl_module, "last_confusion", None)
        if not trainer.is_global_zero or scores is None:
            return
        out_dir = Path(trainer.default_root_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out_dir / "test_report.txt", scores["report"])
        clean = {k: v for k, v in scores.items() if k != "report"}
        atomic_write_text(out_dir / "test_report.json", json.dumps(clean, indent=2))
        if matrix is None:
            return
        import matplotlib.pyplot as plt

        from ner_lightning.runs.plots import confusion_figure

        labels = list(pl_module.labels)  # type: ignore[attr-defined]
        fig = confusion_figure(matrix, labels, "Test tokens: gold (rows) vs predicted (columns), row-normalised")
        fig.savefig(out_dir / "confusion.png", dpi=110)
        atomic_write_text(out_dir / "confusion.json", json.dumps({"labels": labels, "counts": matrix.tolist()}))
        _log_figure(trainer, "test/confusion", fig, trainer.global_step)
        plt.close(fig)


def finite_metrics(metrics: dict[str, float]) -> tuple[dict[str, float], list[str]]:
    """The finite entries of ``metrics`` and the names of those that are NaN or infinite (never written)."""
    bad = [k for k, v in metrics.items() if isinstance(v, float) and not math.isfinite(v)]
    return {k: v for k, v in metrics.items() if k not in bad}, bad
