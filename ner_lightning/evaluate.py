"""``python -m ner_lightning.evaluate ckpt_path=... [split=test]``: score a checkpoint and print the report.

The datamodule is built from the data config stored in the checkpoint (override with ``data.<key>=...``) and uses
the checkpoint's vocabulary and labels, so scores are comparable with training.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import hydra
import lightning as L
from omegaconf import DictConfig, OmegaConf

from ner_lightning.cli import UserError, check_config, run_cli
from ner_lightning.config import config_dir
from ner_lightning.data.datamodule import NerDataModule
from ner_lightning.data.vocab import LabelVocab, vocab_from_dict
from ner_lightning.models.tagger import Tagger


def load_tagger(ckpt_path: str) -> Tagger:
    """Load a tagger from a checkpoint on the CPU, with a one-line error for a missing or foreign file."""
    if not Path(ckpt_path).is_file():
        raise UserError(f"{ckpt_path}: no such checkpoint (ckpt_path)")
    try:
        return Tagger.load_from_checkpoint(ckpt_path, map_location="cpu", weights_only=False)
    except (KeyError, TypeError, RuntimeError) as err:
        raise UserError(f"{ckpt_path}: not a ner_lightning checkpoint ({type(err).__name__}: {err})") from None


def datamodule_for(model: Tagger, overrides: DictConfig | None) -> NerDataModule:
    """The checkpoint's data config (plus ``overrides``) with the checkpoint's vocabulary and labels."""
    stored = (model.hparams.get("config") or {}).get("data")
    if stored is None and not overrides:
        raise UserError("the checkpoint stores no data config; set data=... (e.g. data=msra)")
    data_cfg = OmegaConf.merge(OmegaConf.create(stored or {}), overrides or {})
    dm: NerDataModule = hydra.utils.instantiate(data_cfg)
    dm.vocab = vocab_from_dict(model.hparams.vocab)
    dm.label_vocab = LabelVocab(model.hparams.labels)
    return dm


def evaluate(cfg: DictConfig) -> dict[str, Any]:
    """Score ``cfg.ckpt_path`` on ``cfg.split``; prints and returns the metrics."""
    check_config(cfg)
    model = load_tagger(cfg.ckpt_path)
    dm = datamodule_for(model, cfg.get("data"))
    dm.setup()
    if cfg.split not in dm.datasets:
        raise UserError(f"split={cfg.split}: the data has splits {sorted(dm.datasets)}")
    trainer_cfg = OmegaConf.to_container(cfg.trainer, resolve=True)
    trainer_cfg.pop("matmul_precision", None)
    trainer: L.Trainer = hydra.utils.instantiate(trainer_cfg, logger=False, callbacks=[])
    trainer.test(model, dataloaders=dm.loader(cfg.split))
    metrics = {k.replace("test/", f"{cfg.split}/"): float(v) for k, v in trainer.callback_metrics.items()}
    print(json.dumps(metrics, sort_keys=True))
    return metrics


@hydra.main(version_base="1.3", config_path=config_dir(), config_name="evaluate")
def main(cfg: DictConfig) -> None:
    """Hydra entry point."""
    run_cli(evaluate, cfg)


if __name__ == "__main__":
    main()
