"""``python -m ner_lightning.train [experiment=baseline] [trainer=rtx4090] ...``: train, then test the best checkpoint.

The shape follows lightning-hydra-template: ``train(cfg) -> (metrics, objects)`` and a ``main`` that returns the
metric named by ``optimized_metric`` so that Hydra sweepers can optimise it.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import hydra
import lightning as L
import torch
from hydra.core.hydra_config import HydraConfig
from lightning.pytorch.callbacks import EarlyStopping, LearningRateMonitor, ModelCheckpoint, ProgressBar
from lightning.pytorch.utilities import rank_zero_info
from omegaconf import DictConfig, OmegaConf

from ner_lightning.base.files import atomic_write_text, remove_stale_temps
from ner_lightning.data.datamodule import NerDataModule
from ner_lightning.errors import ConfigError, DeviceError, NerError, TrainingDiverged, number, positive_int
from ner_lightning.models.metrics import novelty_reference
from ner_lightning.models.tagger import Tagger
from ner_lightning.runs.build import build_datamodule, build_model
from ner_lightning.runs.callbacks import (
    AtomicCheckpointIO,
    DivergenceGuard,
    RunFiles,
    finite_metrics,
    weights_finite,
)
from ner_lightning.runs.cli import check_config, hydra_entry, run_cli
from ner_lightning.runs.config import config_dir
from ner_lightning.runs.console import RunReport, close_file_log, log_to_file, progress_bar, quiet, test_line
from ner_lightning.runs.ddp import children_run_this_job, end_job
from ner_lightning.runs.folder import (
    KEEP_CHECKPOINTS,
    check_fresh_folder,
    prune_checkpoints,
    rank,
    resume_command,
    resume_in_own_folder,
    task_overrides,
)
from ner_lightning.runs.records import budget, run_info
from ner_lightning.runs.tracking import configure_wandb, finish_wandb


def check_device(cfg: DictConfig) -> None:
    """Fail early, in one line, when the trainer asks for a GPU this machine does not have."""
    accelerator = str(cfg.trainer.get("accelerator", "cpu"))
    if accelerator in ("gpu", "cuda") and not torch.cuda.is_available():
        choice = HydraConfig.get().runtime.choices.get("trainer", "gpu") if HydraConfig.initialized() else "gpu"
        raise DeviceError(
            f"no CUDA GPU found for trainer={choice} (trainer.accelerator={accelerator}); "
            "use trainer=cpu on this machine"
            + ("; to try DDP on CPUs: trainer=ddp trainer.accelerator=cpu trainer.devices=2" if choice == "ddp" else "")
        )


def check_values(cfg: DictConfig) -> None:
    """Fail before reading any data on values that cannot work (each error names its key)."""
    check_config(cfg)
    if cfg.get("resume_changes", "refuse") not in ("refuse", "allow"):
        raise ConfigError(f"resume_changes={cfg.resume_changes}: use refuse or allow")
    if cfg.get("keep_checkpoints", "all") not in KEEP_CHECKPOINTS:
        raise ConfigError(f"keep_checkpoints={cfg.keep_checkpoints}: use {' or '.join(KEEP_CHECKPOINTS)}")
    positive_int("seed", cfg.get("seed"), minimum=0)
    positive_int("trainer.accumulate_grad_batches", cfg.trainer.get("accumulate_grad_batches", 1))
    number("model.crf_lr_mult", cfg.model.get("crf_lr_mult", 1.0), minimum=0.0)
    if cfg.get("optimizer"):
        number("optimizer.lr", cfg.optimizer.get("lr"), minimum=0.0, strict=True)
        if cfg.optimizer.get("weight_decay") is not None:
            number("optimizer.weight_decay", cfg.optimizer.weight_decay, minimum=0.0)


def instantiate_all(node: DictConfig | None) -> list[Any]:
    """Instantiate every ``_target_`` entry of a group like ``callbacks`` or ``logger``."""
    if not node:
        return []
    return [hydra.utils.instantiate(v) for v in node.values() if isinstance(v, DictConfig) and "_target_" in v]


def train(cfg: DictConfig) -> tuple[dict[str, float], dict[str, Any]]:
    """Train (and test) one configuration; returns ``(metrics, objects)``.

    ``metrics`` names where each number comes from: ``val_last/*`` the last validation, ``val_best/*`` the best
    checkpoint re-validated, ``test/*`` the best checkpoint on the test split, ``val/f1_best`` the best val F1.
    """
    check_values(cfg)
    check_device(cfg)
    quiet()
    info = start_run(cfg)
    file_log = log_to_file(Path(cfg.paths.output_dir) / "train.log") if not rank() else None
    dm = build_datamodule(cfg)
    dm.setup()
    model = build_model(cfg, dm)
    trainer, guard, report = build_trainer(cfg, dm, model)
    fit_time, interrupted = fit(cfg, trainer, model, dm)
    metrics, ckpt = score_best(cfg, trainer, model, dm, guard, interrupted)
    metrics.update(fit_time_s=fit_time, epochs=trainer.current_epoch, global_step=trainer.global_step)
    metrics.update(model.parameter_counts(), train_sentences=len(dm.datasets["train"]))
    metrics, dropped = finite_metrics(metrics)
    if dropped and not guard.message:
        guard.message = f"training diverged: {dropped[0]} is not finite at step {trainer.global_step}"
    fast = bool(cfg.trainer.get("fast_dev_run"))
    if trainer.is_global_zero and getattr(model.encoder, "lora", None) and not fast:
        # the adapters alone, in peft's format (after testing, the model holds the best checkpoint's weights)
        model.encoder.model.save_pretrained(f"{cfg.paths.output_dir}/lora_adapter")
    if trainer.is_global_zero:  # also when Ctrl-C came before any validation: the step, no scores
        stop = "interrupted" if interrupted else "diverged" if guard.message else None
        ckpt = ckpt if stop else prune_checkpoints(cfg, ckpt, trainer.checkpoint_callback)
        write_metrics(cfg, trainer, dm, metrics, ckpt, info, report, fit_time, stop)
    if file_log is not None:
        close_file_log(file_log)
    if interrupted:
        raise SystemExit(130)
    if guard.message:
        raise TrainingDiverged(
            f"{guard.message}; last good checkpoint: {ckpt or 'none'}; results: {cfg.paths.output_dir}/metrics.json "
            "(stopped_by: diverged); lower optimizer.lr or set trainer.gradient_clip_val"
        )
    return metrics, {"cfg": cfg, "datamodule": dm, "model": model, "trainer": trainer}


def start_run(cfg: DictConfig) -> dict[str, Any]:
    """The run folder (a resume continues in its own; a new run needs a fresh one), the seed and matmul precision;
    returns the run record's ``info`` (commit, command, hardware...)."""
    changes = resume_in_own_folder(cfg)
    check_fresh_folder(cfg)
    info = run_info()
    if changes:
        info["resume_changes"] = changes  # resume_changes=allow: what this part trained with differently
    L.seed_everything(cfg.seed, workers=True)
    if cfg.get("matmul_precision"):
        torch.set_float32_matmul_precision(cfg.matmul_precision)
    return info


def build_trainer(cfg: DictConfig, dm: NerDataModule, model: Tagger) -> tuple[L.Trainer, DivergenceGuard, RunReport]:
    """The trainer with the configured loggers and callbacks plus the run's own (divergence guard, run files, the
    console report that also counts the budget's sentences); prints the model and data line."""
    trainer_cfg = OmegaConf.to_container(cfg.trainer, resolve=True)
    configure_wandb(cfg, HydraConfig.get() if HydraConfig.initialized() else None)
    loggers = instantiate_all(cfg.get("logger"))
    callbacks = [] if trainer_cfg.get("fast_dev_run") else instantiate_all(cfg.get("callbacks"))
    if not loggers:  # the LR monitor needs a logger to write to
        callbacks = [c for c in callbacks if not isinstance(c, LearningRateMonitor)]
    runtime = OmegaConf.select(cfg, "scheduler.runtime", default=None) or {}
    if "budget_progress" in runtime.values() and any(isinstance(c, EarlyStopping) for c in callbacks):
        # val F1 plateaus while the LR is high: early stopping would end the run before the schedule anneals it
        callbacks = [c for c in callbacks if not isinstance(c, EarlyStopping)]
        rank_zero_info(
            "early stopping is off under a budget schedule (scheduler.runtime: budget_progress): the learning rate "
            "anneals over the whole budget; the best checkpoint on val/f1 is still the one tested"
        )
    if "val" not in dm.datasets:
        callbacks = without_dev(callbacks, trainer_cfg)
    sizes = {name: len(split) for name, split in dm.datasets.items()}
    guard, report = DivergenceGuard(), RunReport(str(cfg.paths.output_dir), sizes)
    callbacks += [guard, RunFiles(), report]
    if trainer_cfg.get("enable_progress_bar", True) and not any(isinstance(c, ProgressBar) for c in callbacks):
        callbacks.append(progress_bar())
    if HydraConfig.initialized():
        children_run_this_job()  # DDP ranks 1.. rerun this job, not the whole command line (a multirun)
    remove_stale_temps(Path(cfg.paths.output_dir) / "checkpoints")  # what a killed writer left (a resumed run)
    trainer: L.Trainer = hydra.utils.instantiate(
        trainer_cfg, callbacks=callbacks, logger=loggers or False, plugins=[AtomicCheckpointIO()]
    )
    counts = model.parameter_counts()
    rank_zero_info(
        f"model: {counts['params']:,} parameters ({counts['trainable_params']:,} trainable); "
        f"labels {dm.labels}; data {json.dumps({k: v['sentences'] for k, v in dm.summary().items()})}"
    )
    for logger in trainer.loggers:
        logger.log_hyperparams({**OmegaConf.to_container(cfg, resolve=True), **counts})
    return trainer, guard, report


def without_dev(callbacks: list[Any], trainer_cfg: dict[str, Any]) -> list[Any]:
    """No dev split (``data.dev_size=0`` and no ``val_path``): no validation, no early stopping, and the checkpoint
    kept (and tested) is the last epoch's; returns the callbacks."""
    trainer_cfg["limit_val_batches"] = 0
    if any(isinstance(c, EarlyStopping) for c in callbacks):
        rank_zero_info("no dev split (data.dev_size=0): early stopping is off")
    for c in callbacks:
        if isinstance(c, ModelCheckpoint) and c.monitor:
            c.monitor, c.filename = None, "epoch_{epoch:03d}"  # top-k on no metric keeps the latest
    rank_zero_info("no dev split (data.dev_size=0): no validation; the last epoch's checkpoint is the one tested")
    return [c for c in callbacks if not isinstance(c, EarlyStopping)]


def fit(cfg: DictConfig, trainer: L.Trainer, model: Tagger, dm: NerDataModule) -> tuple[float, bool]:
    """``trainer.fit``; returns ``(seconds, interrupted)``. Ctrl-C keeps ``last.ckpt`` and prints the resume
    command; a fit that ran no step, or stopped before its LR schedule ended, says so."""
    start = time.perf_counter()
    interrupted = False
    try:
        trainer.fit(model, datamodule=dm, ckpt_path=cfg.get("ckpt_path"), weights_only=True)
    except SystemExit:  # Lightning exits after Ctrl-C; last.ckpt is saved (RunCheckpoint): keep the rest too
        if not trainer.interrupted:
            raise
        interrupted = True
    fit_time = time.perf_counter() - start
    fast = bool(cfg.trainer.get("fast_dev_run"))
    if interrupted:
        last = (
            getattr(trainer.checkpoint_callback, "last_model_path", "") or "(none: interrupted before the first step)"
        )
        rank_zero_info(
            f"interrupted at step {trainer.global_step:,} (epoch {trainer.current_epoch}); resumable checkpoint: "
            f"{last}; resume with: {resume_command(task_overrides(), last)}"
        )
    if not fast and not interrupted and trainer.global_step == 0:
        raise NerError("training ran no optimizer step (no training batches?); check data.train_path and trainer.*")
    planned = getattr(model, "schedule_steps", None)
    if planned and not fast and trainer.global_step < planned:
        rank_zero_info(
            f"warning: training stopped at step {trainer.global_step:,} of the {planned:,} its LR schedule was laid "
            "out over: the schedule did not finish (the learning rate was never annealed)"
        )
    return fit_time, interrupted


def score_best(
    cfg: DictConfig, trainer: L.Trainer, model: Tagger, dm: NerDataModule, guard: DivergenceGuard, interrupted: bool
) -> tuple[dict[str, float], str]:
    """The last validation's and training's metrics, then the best checkpoint's weights re-validated and tested;
    returns ``(metrics, best checkpoint or "")`` (a diverged run's best is its last finite one)."""
    last = {k: float(v) for k, v in trainer.callback_metrics.items()}
    metrics = {
        k.replace("val/", "val_last/", 1): v for k, v in last.items() if k.startswith("val/") and k != "val/f1_best"
    }
    metrics.update({k: v for k, v in last.items() if k.startswith("train/")})
    if "val/f1_best" in last:
        metrics["val/f1_best"] = last["val/f1_best"]
    ckpt = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
    if ckpt:  # the best weights only (a ckpt_path= here would also roll the callbacks back to that epoch)
        model.load_state_dict(torch.load(ckpt, map_location=model.device, weights_only=True)["state_dict"])
        if guard.message and not weights_finite(model):
            ckpt = ""  # diverged before any finite state was validated
    if guard.message:
        rank_zero_info(f"{guard.message}; last good checkpoint: {ckpt or 'none'}{'; scoring it on test' * bool(ckpt)}")
    if interrupted and not ckpt:
        rank_zero_info("no validated checkpoint yet: nothing to score on test")
    if ckpt and "val" in dm.datasets:
        trainer.validate(model, datamodule=dm, verbose=False)
        metrics.update(
            {k.replace("val/", "val_best/", 1): float(v) for k, v in trainer.callback_metrics.items() if "val/" in k}
        )
        metrics.pop("val_best/f1_best", None)
    if cfg.get("test") and "test" in dm.datasets and (ckpt or not (interrupted or guard.message)):
        model.novelty_reference = novelty_reference(dm.sentences, "test", dm.scheme)  # seen / unseen entity F1
        trainer.test(model, datamodule=dm, verbose=False)  # (Lightning's table: raw fractions, 16 digits)
        metrics.update({k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("test/")})
        rank_zero_info(test_line(metrics, ckpt, total=dm.available.get("test")))
    return metrics, ckpt


def write_metrics(
    cfg: DictConfig,
    trainer: L.Trainer,
    dm: NerDataModule,
    metrics: dict[str, float],
    ckpt: str,
    info: dict[str, Any],
    report: RunReport,
    fit_time: float,
    stop: str | None,
) -> None:
    """``metrics.json`` in the run folder (atomic): the scores, the best checkpoint and the run record with its
    budget (``stopped_by``: ``interrupted``, ``diverged`` or what the trainer says)."""
    out = f"{cfg.paths.output_dir}/metrics.json"
    trainer_cfg = OmegaConf.to_container(cfg.trainer, resolve=True)
    info["budget"] = budget(trainer_cfg, trainer, len(dm.datasets["train"]), fit_time, stop)
    info["budget"].update(sentences_seen=report.sentences, train_batches_s=round(report.seconds, 1))
    info["keep_checkpoints"] = cfg.get("keep_checkpoints", "all")
    record = {**metrics, "best_checkpoint": ckpt or None, "run": info}
    atomic_write_text(out, json.dumps(record, indent=2, sort_keys=True))
    rank_zero_info(f"results: {out}")


@hydra.main(version_base="1.3", config_path=config_dir(), config_name="config")
def _main(cfg: DictConfig) -> float | None:
    """Hydra entry point; returns ``cfg.optimized_metric`` for sweepers."""
    try:
        metrics, _ = run_cli(train, cfg)
    finally:
        finish_wandb()  # every multirun job is its own W&B run
        end_job()  # and its own DDP process group
    return metrics.get(cfg.get("optimized_metric") or "")


def main() -> None:
    """Entry point (``python -m ner_lightning.train``, ``ner-train``): Hydra's own errors are one line too."""
    hydra_entry(_main)


if __name__ == "__main__":
    main()
