"""Regression tests for the silent-wrong paths of issue 9: each fails on the code before the fix."""

from __future__ import annotations

import json
import pickle
from collections.abc import Callable
from pathlib import Path

import lightning as L
import pytest
import torch
from helpers import run_entry
from omegaconf import DictConfig, open_dict

from ner_lightning.errors import ConfigError, TrainingDiverged
from ner_lightning.evaluate import evaluate
from ner_lightning.runs.build import build_datamodule, build_model
from ner_lightning.train import train

Compose = Callable[..., DictConfig]


class ModeProbe(L.Callback):
    """Records, for each stage, whether every submodule of the tagger was in train mode at each batch."""

    def __init__(self) -> None:
        self.seen: dict[str, set[bool]] = {}

    def _record(self, stage: str, module: torch.nn.Module) -> None:
        modes = {m.training for m in module.modules()}
        self.seen.setdefault(stage, set()).update(modes)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):  # noqa: ANN001, D102
        self._record("train", pl_module)

    def on_validation_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0):  # noqa: ANN001, D102
        if not trainer.sanity_checking:
            self._record("val", pl_module)

    def on_test_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0):  # noqa: ANN001, D102
        self._record("test", pl_module)

    def on_predict_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0):  # noqa: ANN001, D102
        self._record("predict", pl_module)


@pytest.mark.parametrize("model", ["bilstm_crf", "bert_softmax", "bert_lora"])
def test_every_submodule_trains_in_train_mode_and_evaluates_in_eval_mode(make_cfg: Compose, model: str) -> None:
    """from_pretrained returns eval mode; fine-tuning must run with dropout on (every submodule in train mode)."""
    cfg = make_cfg(f"model={model}", "test=false")
    dm = build_datamodule(cfg)
    dm.setup()
    tagger = build_model(cfg, dm)
    probe = ModeProbe()
    trainer = L.Trainer(
        max_steps=2, limit_val_batches=1, limit_test_batches=1, limit_predict_batches=1, num_sanity_val_steps=0,
        callbacks=[probe], logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, val_check_interval=2, accelerator="cpu",
    )  # fmt: skip
    trainer.fit(tagger, datamodule=dm)
    trainer.test(tagger, datamodule=dm, verbose=False)
    predicted = trainer.predict(tagger, dataloaders=dm.loader("test"))
    # Lightning's predict loop gives each sentence's tag names, unpadded (Tagger.predict_step)
    assert predicted and all(set(tags) <= set(tagger.labels) for batch in predicted for tags in batch)
    assert sorted(len(t) for batch in predicted for t in batch)[-1] > 0
    assert probe.seen == {"train": {True}, "val": {False}, "test": {False}, "predict": {False}}


class _Payload:
    """Unpickling this writes a marker file: what a crafted checkpoint could do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # noqa: ANN204
        return (Path.write_text, (self.marker, "pwned"))


def test_a_crafted_checkpoint_runs_no_code(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    marker = tmp_path / "marker.txt"
    ckpt = tmp_path / "evil.ckpt"
    with ckpt.open("wb") as fh:
        torch.save({"state_dict": {}, "payload": _Payload(marker)}, fh, pickle_protocol=pickle.HIGHEST_PROTOCOL)
    code, _, err = run_entry("evaluate", f"ckpt_path={ckpt}", f"hydra.run.dir={tmp_path}", capsys=capsys)
    assert not marker.exists()
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"error: {ckpt}: not a safe ner_lightning checkpoint")


@pytest.mark.parametrize(
    ("overrides", "what"),
    [
        # diverges in epoch 1 (weights poisoned at step 7): epoch 0's checkpoint is the last good one, scored on test
        (("+callbacks.poison._target_=helpers.PoisonAtStep", "+callbacks.poison.step=7"), "loss is nan at step"),
        # the case: lr 1e30 (before: "metric val_last/loss is nan: not writing metrics.json", nothing kept)
        (("optimizer.lr=1e30",), "loss is nan at step"),
    ],
)
def test_a_diverged_run_keeps_what_it_earned(
    make_cfg: Compose, tmp_path: Path, overrides: tuple[str, ...], what: str
) -> None:
    with pytest.raises(TrainingDiverged, match=rf"{what} \d+ .*last good checkpoint: .*stopped_by: diverged"):
        train(make_cfg("debug=limit", *overrides))
    record = json.loads((tmp_path / "metrics.json").read_text())
    assert record["run"]["budget"]["stopped_by"] == "diverged"
    values = [v for v in record.values() if isinstance(v, float)]
    assert values and all(v == v and abs(v) != float("inf") for v in values)
    last = tmp_path / "checkpoints" / "last.ckpt"
    if last.exists():  # last.ckpt keeps the last finite state, never the diverged weights
        state = torch.load(last, weights_only=True, map_location="cpu")["state_dict"]
        assert all(bool(t.isfinite().all()) for t in state.values() if t.is_floating_point())
    if "callbacks.poison.step=7" in overrides:  # the last good checkpoint was scored on test
        assert record["best_checkpoint"].endswith(".ckpt") and "epoch_000" in record["best_checkpoint"]
        assert record["global_step"] == 7 and 0 <= record["test/f1"] <= 1


def test_last_ckpt_is_the_latest_state_after_a_mid_epoch_stop(make_cfg: Compose, tmp_path: Path) -> None:
    """Lightning's save_last writes last.ckpt only with a top-k save: a max_steps/max_time stop left it behind."""
    cfg = make_cfg("debug=limit", "test=false", "trainer.max_epochs=3", "+trainer.max_steps=12")
    _, objects = train(cfg)  # 5 batches per epoch: stops 2 steps into epoch 3
    trainer = objects["trainer"]
    assert trainer.global_step == 12
    last = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True, map_location="cpu")
    assert last["global_step"] == 12


def test_metrics_name_the_checkpoint_they_come_from(make_cfg: Compose, tmp_path: Path) -> None:
    metrics, objects = train(make_cfg("debug=limit", "trainer.max_epochs=3", "keep_checkpoints=all"))
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert not any(k.startswith("val/") and k != "val/f1_best" for k in saved)  # no unlabelled val numbers
    best = objects["trainer"].checkpoint_callback
    assert saved["val_best/f1"] == pytest.approx(float(best.best_model_score), abs=1e-6)
    assert saved["val/f1_best"] == pytest.approx(saved["val_best/f1"], abs=1e-6)
    assert saved["best_checkpoint"] == best.best_model_path
    assert "val_last/f1" in saved and "test/f1" in saved


def test_resume_keeps_the_best_of_the_interrupted_run(make_cfg: Compose, tmp_path: Path) -> None:
    """A resumed run reports the interrupted run's best when the resumed epochs do not beat it."""
    _, objects = train(make_cfg("debug=limit", "test=false", "keep_checkpoints=all"))
    ckpt_dir = tmp_path / "checkpoints"
    best_path = objects["trainer"].checkpoint_callback.best_model_path
    state = torch.load(ckpt_dir / "last.ckpt", weights_only=True, map_location="cpu")
    # pretend an earlier epoch reached 0.99 (no real epoch of this tiny run comes close)
    state["state_dict"]["val_f1_best.max_value"] = torch.tensor(0.99)
    for key, cb_state in state["callbacks"].items():
        if key.startswith("RunCheckpoint"):
            cb_state["best_model_score"] = torch.tensor(0.99)
            cb_state["dirpath"] = "/elsewhere/checkpoints"  # resuming into a new run folder
    torch.save(state, tmp_path / "resume.ckpt")
    cfg = make_cfg("debug=limit", "test=false", f"ckpt_path={tmp_path / 'resume.ckpt'}")
    with open_dict(cfg):
        cfg.trainer.max_epochs = 3
        cfg.paths.output_dir = str(tmp_path / "resumed")
        cfg.callbacks.model_checkpoint.dirpath = str(tmp_path / "resumed" / "checkpoints")
        cfg.trainer.default_root_dir = str(tmp_path / "resumed")
    (tmp_path / "resumed").mkdir()
    metrics, objects2 = train(cfg)
    assert metrics["val/f1_best"] == pytest.approx(0.99)
    assert float(objects2["trainer"].checkpoint_callback.best_model_score) == pytest.approx(0.99)
    assert objects2["trainer"].checkpoint_callback.best_model_path == best_path


def test_evaluate_uses_the_checkpoint_scheme(make_cfg: Compose, tmp_path: Path) -> None:
    metrics, objects = train(make_cfg("debug=limit", "data.scheme=BIOES", "keep_checkpoints=all"))
    best = objects["trainer"].checkpoint_callback.best_model_path
    scores = evaluate(make_cfg(f"ckpt_path={best}", config_name="evaluate", small=False))
    assert scores["test/f1"] == pytest.approx(metrics["test/f1"])
    with pytest.raises(ConfigError, match=r"data.scheme=BIO: the checkpoint's model tags BIOES"):
        evaluate(make_cfg(f"ckpt_path={best}", "data.scheme=BIO", config_name="evaluate", small=False))
    # the documented data.<key>=... override form works (no '+')
    scores = evaluate(make_cfg(f"ckpt_path={best}", "data.eval_batch_size=3", config_name="evaluate", small=False))
    assert scores["test/f1"] == pytest.approx(metrics["test/f1"])
