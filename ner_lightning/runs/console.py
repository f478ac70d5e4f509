"""What a training run shows: the run folder, data sizes, steps and an ETA; one line per epoch; no library tips or
dependency warnings; and the same lines (without progress bars) in the run folder's ``train.log``."""

from __future__ import annotations

import logging
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.utilities import rank_zero_info
from typing_extensions import override

from ner_lightning.base.lightning_state import time_capped
from ner_lightning.runs.callbacks import TrainThroughput

# messages from dependencies that say nothing about this run
_QUIET = [
    r".*isinstance\(treespec, LeafSpec\).*",  # torch/lightning internals
    r".*does not have many workers.*",  # the data is in memory: workers would only add start-up time
    r".*Checkpoint directory .* exists and is not empty.*",  # resuming in a run's own folder
    r".*sync_dist=True.*",
    r".*`isinstance\(treespec.*",
    r".*The number of training batches .* is smaller than the logging interval.*",
    r".*Using `DistributedSampler` with the dataloaders.*",  # scores are gathered and de-duplicated (metrics.py)
    r".*ended before the epoch ended and your dataloader is not resumable.*",  # the batch sampler skips done batches
]


# Lightning's lines that say nothing a run's own lines do not (tests/train/test_console.py holds the list)
_DROPPED_LINES = (
    "GPU available:", "TPU available:", "HPU available:", "💡", "Tip:", "LitLogger", "litlogger",
    "`Trainer.fit` stopped", "Loading `train_dataloader`", "Loading `val_dataloader`",
)  # fmt: skip


class _Drop(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not any(t in record.getMessage() for t in _DROPPED_LINES)


class _CurrentStderr:
    """``sys.stderr`` as it is now: a progress bar that redirects it while drawing (rich) then prints a log line
    above itself instead of after its last cell."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def quiet() -> None:
    """Silence known dependency warnings, Lightning's tips (GPU/TPU availability, LitLogger, "`Trainer.fit`
    stopped") and the Hugging Face download/loading bars; Lightning's console lines follow ``sys.stderr``."""
    for pattern in _QUIET:
        warnings.filterwarnings("ignore", message=pattern)
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # transformers' "Loading weights" bars too
    for name in ("lightning.pytorch", "lightning.fabric"):
        for handler in logging.getLogger(name).handlers:
            if type(handler) is logging.StreamHandler and handler.stream is sys.__stderr__:
                handler.setStream(_CurrentStderr())  # type: ignore[arg-type]
    for name in (
        "lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero",
        "lightning.pytorch.trainer.connectors.signal_connector", "lightning.pytorch.trainer.trainer",
        "lightning.pytorch.loops.fit_loop",
    ):  # fmt: skip
        logger = logging.getLogger(name)
        if not any(isinstance(f, _Drop) for f in logger.filters):
            logger.addFilter(_Drop())


def log_to_file(path: Path) -> logging.Handler:
    """Write Lightning's and our console lines to ``path`` (``train.log``) as well; returns the handler."""
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%Y-%m-%d %H:%M:%S"))
    for name in ("lightning.pytorch", "lightning.fabric", "ner_lightning"):
        logging.getLogger(name).addHandler(handler)
    return handler


def close_file_log(handler: logging.Handler) -> None:
    for name in ("lightning.pytorch", "lightning.fabric", "ner_lightning"):
        logging.getLogger(name).removeHandler(handler)
    handler.close()


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 90 else f"{seconds:.0f} s"


class RunReport(TrainThroughput):
    """Start: run folder, data sizes, steps per epoch and in total. After ``eta_after`` batches: the measured speed and
    the estimated time per epoch and for the whole run. Each epoch: one line with the metrics that matter.

    The sentences and seconds it counts are :class:`TrainThroughput`'s (one count per run: the speed line and the
    run record's budget read the same figures)."""

    def __init__(self, out_dir: str, sizes: dict[str, int], eta_after: int = 20) -> None:
        super().__init__()
        self.out_dir, self.sizes, self.eta_after = out_dir, sizes, eta_after
        self._batches = 0  # of this fit (a resumed run's counts start from its checkpoint's)
        self._at_second: tuple[int, float] | None = None  # (sentences, seconds) after the first (warm-up) batch
        self._epoch_t0 = 0.0

    @property
    @override
    def state_key(self) -> str:
        return "TrainThroughput"  # the key its counts had in checkpoints before the two callbacks were one

    @override
    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._epoch_t0 = time.perf_counter()  # (a resumed mid-epoch run starts without on_train_epoch_start)
        steps = trainer.num_training_batches
        epochs = trainer.max_epochs
        planned = steps * (epochs if epochs and epochs > 0 else 1)
        self.eta_after = max(2, min(self.eta_after, int(planned) // 4))  # short runs get their ETA early too
        sizes = ", ".join(f"{k} {v:,}" for k, v in self.sizes.items())
        total = f"{epochs} epochs = {steps * epochs:,} batches" if epochs and epochs > 0 else "no epoch limit"
        cap = trainer.max_steps if trainer.max_steps and trainer.max_steps > 0 else None
        rank_zero_info(
            f"run folder: {self.out_dir}\ndata: {sizes} sentences; {steps:,} training batches per epoch x {total}"
            + (f" (max_steps {cap:,})" if cap else "")
        )

    @override
    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._epoch_t0 = time.perf_counter()

    @override
    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
        self._batches += 1
        if self._batches == 1:  # skip the first batch (warm-up)
            self._at_second = (self.sentences, self.seconds)
        elif self._at_second is not None and self._batches == self.eta_after + 1:
            spent = self.seconds - self._at_second[1]
            per_batch = spent / self.eta_after
            sents = (self.sentences - self._at_second[0]) / spent
            epoch = per_batch * trainer.num_training_batches
            left_epochs = (trainer.max_epochs or 1) - trainer.current_epoch
            total = epoch * left_epochs
            rank_zero_info(
                f"speed: {sents:.0f} sentences/s; ETA: ~{_minutes(epoch)} per epoch (training only), "
                f"~{_minutes(total)} for the {left_epochs} epoch(s) left"
                + (" (a time cap may stop it sooner)" if time_capped(trainer) else "")
            )

    @override
    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # (after this epoch's validation and its train/loss_epoch: both are this epoch's)
        m = trainer.callback_metrics
        parts = [f"epoch {trainer.current_epoch}", f"step {trainer.global_step:,}"]
        for key, fmt in (("train/loss_epoch", "{:.4g}"), ("val/loss", "{:.4g}"), ("val/f1", "{:.2%}")):
            if key in m:
                parts.append(f"{key} " + fmt.format(float(m[key])))
        if "val/f1_best" in m:
            parts.append(f"best {float(m['val/f1_best']):.2%}")
        parts.append(f"{_minutes(time.perf_counter() - self._epoch_t0)}")
        rank_zero_info(" | ".join(parts))


def test_line(metrics: dict[str, float], checkpoint: str, split: str = "test", total: int | None = None) -> str:
    """One line of the test scores (``test/*`` keys) in percent (the epoch lines' unit), per entity type too, and
    what they are over: ``test (epoch_003-...ckpt, 4,631 sentences): F1 91.20% | P ... | LOC ... | token
    accuracy ...``; ``split`` names the scored split, ``total`` its size (``100 of 4,631 sentences`` when fewer
    were scored)."""
    name = Path(checkpoint).name if checkpoint else "last weights"
    scored = metrics.get("test/sentences")
    if scored is not None:
        of = f" of {total:,}" if total is not None and total > scored else ""
        name += f", {int(scored):,}{of} sentences"
    parts = [f"{split} ({name}): F1 {metrics['test/f1']:.2%}"]
    parts += [
        f"{label} {metrics[k]:.2%}" for label, k in (("P", "test/precision"), ("R", "test/recall")) if k in metrics
    ]
    types = sorted(k for k in metrics if k.startswith("test/f1_"))
    if types:
        parts.append(" ".join(f"{k[len('test/f1_') :]} {metrics[k]:.2%}" for k in types))
    if "test/token_acc" in metrics:
        parts.append(f"token accuracy {metrics['test/token_acc']:.2%}")
    return " | ".join(parts)


def progress_bar() -> Callback:
    """Lightning's progress bar (rich when installed) showing F1 in percent, the unit of the epoch lines (its
    default shows ``val/f1: 0.025`` beside ``2.52%`` printed for the same epoch)."""
    from lightning.pytorch.callbacks import RichProgressBar, TQDMProgressBar
    from lightning.pytorch.utilities.imports import _RICH_AVAILABLE

    base = RichProgressBar if _RICH_AVAILABLE else TQDMProgressBar

    class _PercentBar(base):  # type: ignore[valid-type, misc]
        def get_metrics(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, Any]:
            items = super().get_metrics(trainer, pl_module)
            items.pop("v_num", None)  # the logger's version ("ed_1"): the run folder names the run
            return {k: f"{v:.2%}" if "f1" in k and isinstance(v, float) else v for k, v in items.items()}

    return _PercentBar()
