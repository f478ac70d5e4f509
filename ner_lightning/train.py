"""``python -m ner_lightning.train [experiment=baseline] [trainer=rtx4090] ...``: train, then test the best checkpoint.

The shape follows lightning-hydra-template: ``train(cfg) -> (metrics, objects)`` and a ``main`` that returns the
metric named by ``optimized_metric`` so that Hydra sweepers can optimise it.
"""

from __future__ import annotations

import json
import time
from typing import Any

import hydra
import lightning as L
import torch
from hydra.core.hydra_config import HydraConfig
from lightning.pytorch.callbacks import LearningRateMonitor
from lightning.pytorch.utilities import rank_zero_info
from omegaconf import DictConfig, OmegaConf

from ner_lightning.cli import UserError, check_config, run_cli
from ner_lightning.config import config_dir
from ner_lightning.data.datamodule import NerDataModule
from ner_lightning.models.tagger import Tagger
from ner_lightning.tracking import configure_wandb, finish_wandb

TRANSFORMER_MAX_CHARS = 510  # 512 positions minus [CLS] and [SEP]


def check_device(cfg: DictConfig) -> None:
    """Fail early, in one line, when the trainer asks for a GPU this machine does not have."""
    accelerator = str(cfg.trainer.get("accelerator", "cpu"))
    if accelerator in ("gpu", "cuda") and not torch.cuda.is_available():
        choice = HydraConfig.get().runtime.choices.get("trainer", "gpu") if HydraConfig.initialized() else "gpu"
        raise UserError(
            f"no CUDA GPU found for trainer={choice} (trainer.accelerator={accelerator}); "
            "use trainer=cpu on this machine"
        )


def build_datamodule(cfg: DictConfig) -> NerDataModule:
    """``cfg.data``; transformer encoders get their tokenizer (one token per character) and windows of at most
    510 characters unless the data config sets them."""
    extra: dict[str, Any] = {}
    if cfg.model.encoder.get("type") == "transformer":
        extra["tokenizer"] = cfg.data.get("tokenizer") or cfg.model.encoder.pretrained
        extra["max_len"] = cfg.data.get("max_len") or TRANSFORMER_MAX_CHARS
    return hydra.utils.instantiate(cfg.data, **extra)


def build_model(cfg: DictConfig, dm: NerDataModule) -> Tagger:
    """The tagger of ``cfg.model`` sized for ``dm``'s labels and vocabulary."""
    model_cfg = OmegaConf.to_container(cfg.model, resolve=True)
    target = hydra.utils.get_class(model_cfg.pop("_target_"))
    return target(
        labels=dm.labels,
        vocab=dm.vocab.to_dict(),
        scheme=dm.scheme,
        optimizer=OmegaConf.to_container(cfg.optimizer, resolve=True),
        scheduler=OmegaConf.to_container(cfg.scheduler, resolve=True),
        config=OmegaConf.to_container(cfg, resolve=True),
        **model_cfg,
    )


def instantiate_all(node: DictConfig | None) -> list[Any]:
    """Instantiate every ``_target_`` entry of a group like ``callbacks`` or ``logger``."""
    if not node:
        return []
    return [hydra.utils.instantiate(v) for v in node.values() if isinstance(v, DictConfig) and "_target_" in v]


def train(cfg: DictConfig) -> tuple[dict[str, float], dict[str, Any]]:
    """Train (and test) one configuration; returns ``(metrics, objects)``."""
    check_config(cfg)
    check_device(cfg)
    L.seed_everything(cfg.seed, workers=True)
    trainer_cfg = OmegaConf.to_container(cfg.trainer, resolve=True)
    if trainer_cfg.pop("matmul_precision", None):
        torch.set_float32_matmul_precision(cfg.trainer.matmul_precision)
    dm = build_datamodule(cfg)
    dm.setup()
    model = build_model(cfg, dm)
    fast = bool(trainer_cfg.get("fast_dev_run"))
    configure_wandb(cfg, HydraConfig.get() if HydraConfig.initialized() else None)
    loggers = instantiate_all(cfg.get("logger"))
    callbacks = [] if fast else instantiate_all(cfg.get("callbacks"))
    if not loggers:  # the LR monitor needs a logger to write to
        callbacks = [c for c in callbacks if not isinstance(c, LearningRateMonitor)]
    trainer: L.Trainer = hydra.utils.instantiate(trainer_cfg, callbacks=callbacks, logger=loggers or False)
    counts = model.parameter_counts()
    rank_zero_info(
        f"model: {counts['params']:,} parameters ({counts['trainable_params']:,} trainable); "
        f"labels {dm.labels}; data {json.dumps({k: v['sentences'] for k, v in dm.summary().items()})}"
    )
    for logger in trainer.loggers:
        logger.log_hyperparams({**OmegaConf.to_container(cfg, resolve=True), **counts})

    start = time.perf_counter()
    trainer.fit(model, datamodule=dm, ckpt_path=cfg.get("ckpt_path"))
    fit_time = time.perf_counter() - start
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
    if cfg.get("test") and "test" in dm.datasets:
        ckpt = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
        trainer.test(model, datamodule=dm, ckpt_path=ckpt or None, weights_only=False)
        metrics.update({k: float(v) for k, v in trainer.callback_metrics.items()})
    metrics.update(
        {
            "fit_time_s": fit_time,
            **counts,
            "epochs": trainer.current_epoch,
            "train_sentences": len(dm.datasets["train"]),
        }
    )
    if trainer.is_global_zero and getattr(model.encoder, "lora", None) and not fast:
        # the adapters alone, in peft's format (after testing, the model holds the best checkpoint's weights)
        model.encoder.model.save_pretrained(f"{cfg.paths.output_dir}/lora_adapter")
    if trainer.is_global_zero:
        out = f"{cfg.paths.output_dir}/metrics.json"
        with open(out, "w", encoding="utf-8") as fh:
            json.dump(metrics, fh, indent=2, sort_keys=True)
    return metrics, {"cfg": cfg, "datamodule": dm, "model": model, "trainer": trainer}


@hydra.main(version_base="1.3", config_path=config_dir(), config_name="config")
def main(cfg: DictConfig) -> float | None:
    """Hydra entry point; returns ``cfg.optimized_metric`` for sweepers."""
    try:
        metrics, _ = run_cli(train, cfg)
    finally:
        finish_wandb()  # every multirun job is its own W&B run
    return metrics.get(cfg.get("optimized_metric") or "")


if __name__ == "__main__":
    main()
