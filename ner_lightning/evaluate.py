"""``python -m ner_lightning.evaluate ckpt_path=... [split=test]``: score a checkpoint and print the report.

The datamodule is built from the data config stored in the checkpoint (override any key with ``data.<key>=...``)
and uses the checkpoint's vocabulary, labels and tag scheme, so scores are comparable with training.
"""

from __future__ import annotations

import json
from typing import Any

import hydra
import lightning as L
from omegaconf import DictConfig, OmegaConf

from ner_lightning.data.datamodule import NerDataModule
from ner_lightning.data.stored import datamodule_from_settings
from ner_lightning.errors import ConfigError
from ner_lightning.models.checkpoint import load_checkpoint
from ner_lightning.models.metrics import novelty_reference
from ner_lightning.models.tagger import Tagger
from ner_lightning.runs.callbacks import RunFiles
from ner_lightning.runs.cli import check_config, hydra_entry, run_cli
from ner_lightning.runs.config import config_dir
from ner_lightning.runs.console import test_line


def data_overrides(overrides: DictConfig | None) -> dict[str, Any]:
    """The ``data.*`` keys the user set (``null`` means: as stored in the checkpoint)."""
    if not overrides:
        return {}
    return {k: v for k, v in OmegaConf.to_container(overrides, resolve=True).items() if v is not None}


def datamodule_for(model: Tagger, overrides: DictConfig | None, where: str = "the checkpoint") -> NerDataModule:
    """The checkpoint's data settings (plain values, checked; never instantiated) plus ``overrides``, with the
    checkpoint's vocabulary, labels and scheme (see :func:`ner_lightning.data.stored.datamodule_from_settings`)."""
    return datamodule_from_settings(model.hparams, data_overrides(overrides), where)


def evaluate(cfg: DictConfig) -> dict[str, Any]:
    """Score ``cfg.ckpt_path`` on ``cfg.split``; prints and returns the metrics."""
    check_config(cfg)
    model = load_checkpoint(cfg.ckpt_path)
    dm = datamodule_for(model, cfg.get("data"), str(cfg.ckpt_path))
    dm.setup()
    if cfg.split not in dm.datasets:
        raise ConfigError(f"split={cfg.split}: the data has splits {sorted(dm.datasets)}")
    trainer_cfg = OmegaConf.to_container(cfg.trainer, resolve=True)
    trainer: L.Trainer = hydra.utils.instantiate(trainer_cfg, logger=False, callbacks=[RunFiles()])
    model.novelty_reference = novelty_reference(dm.sentences, cfg.split, dm.scheme)  # seen / unseen entity F1
    trainer.test(model, dataloaders=dm.loader(cfg.split), verbose=False)
    scores = {k: float(v) for k, v in trainer.callback_metrics.items()}
    print(test_line(scores, cfg.ckpt_path, cfg.split, dm.available.get(cfg.split)))  # percent, as in training
    metrics = {k.replace("test/", f"{cfg.split}/"): v for k, v in scores.items()}
    print(json.dumps(metrics, sort_keys=True))
    return metrics


@hydra.main(version_base="1.3", config_path=config_dir(), config_name="evaluate")
def _main(cfg: DictConfig) -> None:
    """Hydra entry point."""
    run_cli(evaluate, cfg)


def main() -> None:
    """Entry point (``python -m ner_lightning.evaluate``, ``ner-evaluate``): Hydra's own errors are one line too."""
    hydra_entry(_main)


if __name__ == "__main__":
    main()
