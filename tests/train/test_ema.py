"""``callbacks=ema``: an exponential moving average of the weights is what a run validates, saves, tests and ships."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import lightning as L
import pytest
import torch
from omegaconf import DictConfig, open_dict

from ner_lightning.inference import load_tagger
from ner_lightning.runs.callbacks import WeightEMA
from ner_lightning.train import train

Compose = Callable[..., DictConfig]


def _val_loss(trainer: L.Trainer, model: L.LightningModule, dm: L.LightningDataModule) -> float:
    trainer.validate(model, datamodule=dm, verbose=False)
    return float(trainer.callback_metrics["val/loss"])


def test_an_ema_run_scores_and_ships_the_average(make_cfg: Compose, tmp_path: Path) -> None:
    cfg = make_cfg("debug=limit", "callbacks=ema", "callbacks.ema.decay=0.9", "keep_checkpoints=all")
    metrics, objects = train(cfg)
    trainer, model, dm = objects["trainer"], objects["model"], objects["datamodule"]
    assert any(isinstance(c, WeightEMA) for c in trainer.callbacks)
    best = trainer.checkpoint_callback.best_model_path
    saved = torch.load(best, map_location="cpu", weights_only=True)
    average, raw = saved["state_dict"], saved["current_model_state"]
    assert average.keys() == raw.keys()
    assert any(not torch.equal(average[k], raw[k]) for k in average if average[k].is_floating_point())

    # after training, the run's own trainer validates the weights it is given (the stock callback swapped the
    # final average in): raw weights score as raw weights do in a trainer without the callback
    plain = L.Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False, limit_val_batches=2)
    model.load_state_dict(raw)
    assert _val_loss(trainer, model, dm) == pytest.approx(_val_loss(plain, model, dm), rel=1e-6)
    model.load_state_dict(average)
    assert metrics["val_best/loss"] == pytest.approx(_val_loss(plain, model, dm), rel=1e-5)

    # the predictor loads the average
    predictor = load_tagger(best, device="cpu")
    for name, value in predictor.model.state_dict().items():
        assert torch.equal(value.cpu(), average[name].cpu()), name


def test_an_ema_run_resumes_both_weight_sets(make_cfg: Compose, tmp_path: Path) -> None:
    train(make_cfg("debug=limit", "callbacks=ema", "test=false"))
    last = tmp_path / "checkpoints" / "last.ckpt"
    before = torch.load(last, map_location="cpu", weights_only=True)
    cfg = make_cfg("debug=limit", "callbacks=ema", f"ckpt_path={last}", "test=false")
    with open_dict(cfg):
        cfg.trainer.max_epochs = 3
    _, objects = train(cfg)
    assert objects["trainer"].current_epoch == 3
    after = torch.load(last, map_location="cpu", weights_only=True)
    assert set(after) >= {"state_dict", "current_model_state", "averaging_state"}
    assert int(after["averaging_state"]["n_averaged"]) > int(before["averaging_state"]["n_averaged"])
    assert json.loads((tmp_path / "metrics.json").read_text())["run"]["budget"]["epochs_done"] == 3
