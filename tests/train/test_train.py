"""Training pipeline: every experiment/model under fast_dev_run, checkpoints + report, evaluate, resume, LR groups."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from omegaconf import DictConfig, open_dict

from ner_lightning.evaluate import evaluate
from ner_lightning.train import train

Compose = Callable[..., DictConfig]


CONF = Path(__file__).resolve().parents[2] / "conf"


@pytest.mark.parametrize("experiment", sorted(p.stem for p in (CONF / "experiment").glob("[!_]*.yaml")))
def test_every_experiment_fast_dev_run(make_cfg: Compose, experiment: str) -> None:
    metrics, objects = train(make_cfg(f"experiment={experiment}", "debug=fdr"))
    assert {"train/loss", "val_last/f1", "val/f1_best", "test/f1", "test/precision", "test/recall"} <= set(metrics)
    assert torch.isfinite(torch.tensor(metrics["train/loss"]))


@pytest.mark.parametrize("model", sorted(p.stem for p in (CONF / "model").glob("*.yaml")))
def test_every_model_fast_dev_run(make_cfg: Compose, model: str) -> None:
    metrics, _ = train(make_cfg(f"model={model}", "debug=fdr"))
    assert "test/f1" in metrics


@pytest.mark.parametrize(
    ("optimizer", "scheduler"),
    [("adam", "none"), ("adamw", "onecycle"), ("sgd", "cosine_restarts"), ("adamw", "linear_warmup")],
)
def test_optimizers_and_schedulers(make_cfg: Compose, optimizer: str, scheduler: str) -> None:
    metrics, objects = train(
        make_cfg(
            f"optimizer={optimizer}",
            f"scheduler={scheduler}",
            "debug=limit",
            "callbacks.early_stopping.patience=1",
            "test=false",
        )
    )
    opt = objects["trainer"].optimizers[0]
    assert type(opt).__name__.lower() == optimizer
    assert bool(objects["trainer"].lr_scheduler_configs) == (scheduler != "none")


def test_learning_rate_groups(make_cfg: Compose) -> None:
    cfg = make_cfg("optimizer.lr=0.002", "model.crf_lr_mult=100", "model.lr_mult.embeddings=0.5", "debug=fdr")
    _, objects = train(cfg)
    groups = {g["name"]: g["lr"] for g in objects["trainer"].optimizers[0].param_groups}
    assert groups == pytest.approx({"embeddings": 0.001, "encoder": 0.002, "head": 0.002, "crf": 0.2})
    crf = objects["model"].head.crf
    crf_group = next(g for g in objects["trainer"].optimizers[0].param_groups if g["name"] == "crf")
    assert {id(p) for p in crf_group["params"]} == {id(p) for p in crf.parameters()}
    assert objects["model"].hparams.crf_lr_mult == 100


def test_checkpoint_report_evaluate_and_resume(
    make_cfg: Compose, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    metrics, objects = train(make_cfg("debug=limit", "keep_checkpoints=all"))
    ckpts = sorted(p.name for p in (tmp_path / "checkpoints").glob("*.ckpt"))
    assert "last.ckpt" in ckpts and len(ckpts) == 2 and all("/" not in c for c in ckpts)
    assert (tmp_path / "test_report.txt").read_text().count("micro avg") == 1
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["test/f1"] == pytest.approx(metrics["test/f1"])
    best = objects["trainer"].checkpoint_callback.best_model_path
    # evaluate needs nothing but the checkpoint: labels, vocab and data config travel inside it
    ev_cfg = make_cfg(f"ckpt_path={best}", "trainer.enable_progress_bar=false", config_name="evaluate", small=False)
    capsys.readouterr()
    scores = evaluate(ev_cfg)
    assert scores["test/f1"] == pytest.approx(metrics["test/f1"])
    shown = capsys.readouterr().out  # one line in percent, then the JSON; not Lightning's table of fractions
    line = f"test ({Path(best).name}, {int(scores['test/sentences'])} sentences): F1 {scores['test/f1']:.2%}"
    assert line in shown and "Test metric" not in shown
    assert scores["test/loss"] == pytest.approx(metrics["test/loss"], rel=1e-4)
    # resume from last.ckpt for one more epoch
    cfg = make_cfg("debug=limit", f"ckpt_path={tmp_path / 'checkpoints' / 'last.ckpt'}", "test=false")
    with open_dict(cfg):
        cfg.trainer.max_epochs = 3
    metrics2, objects2 = train(cfg)
    assert objects2["trainer"].current_epoch == 3


def test_evaluate_bad_checkpoint_is_a_user_error(make_cfg: Compose, tmp_path: Path) -> None:
    from ner_lightning.errors import NerError

    with pytest.raises(NerError, match=r"nope.ckpt: no such checkpoint \(ckpt_path\)"):
        evaluate(make_cfg(f"ckpt_path={tmp_path / 'nope.ckpt'}", config_name="evaluate", small=False))


def test_lora_run_saves_its_adapters(make_cfg: Compose, tmp_path: Path) -> None:
    metrics, objects = train(make_cfg("experiment=bert_lora", "debug=limit", "model.encoder.lora.r=2"))
    assert (tmp_path / "lora_adapter" / "adapter_config.json").is_file()
    assert any((tmp_path / "lora_adapter").glob("adapter_model.*"))
    assert metrics["trainable_params"] < metrics["params"]


def test_transformer_sentence_pieces_follow_the_encoders_own_limit(make_cfg: Compose) -> None:
    """One source for the transformer's character limit: the tiny BERT has 64 positions, so its training pieces,
    its windows and its predictor take 62 characters (the data used a fixed 510 before)."""
    from ner_lightning.inference.torch_backend import TorchPredictor
    from ner_lightning.runs.build import build_datamodule, build_model

    cfg = make_cfg("experiment=bert_crf")
    dm = build_datamodule(cfg)
    dm.setup()
    model = build_model(cfg, dm)
    assert dm.max_len == model.encoder.max_chars == TorchPredictor(model).max_chars == 62


def test_budget_cosine_ends_a_time_capped_run_annealed(make_cfg: Compose, tmp_path: Path) -> None:
    """``scheduler=budget_cosine`` anneals over the time cap: a run stopped by ``max_time`` long before its
    ``max_epochs`` ends with the learning rate near 0 (a step-laid schedule would still be near its peak)."""
    cfg = make_cfg(
        "scheduler=budget_cosine",
        "optimizer.lr=0.01",
        "trainer.max_time=00:00:00:06",
        "trainer.max_epochs=100000",
        "trainer.limit_train_batches=2",
        "trainer.limit_val_batches=1",
        "callbacks.early_stopping.patience=100000",
        "test=false",
    )
    _, objects = train(cfg)
    assert json.loads((tmp_path / "metrics.json").read_text())["run"]["budget"]["stopped_by"] == "max_time"
    steps = objects["trainer"].global_step
    assert 0 < steps < 0.05 * 100000 * 2  # under 5 % of the step budget: the time decided
    lrs = [g["lr"] for g in objects["trainer"].optimizers[0].param_groups]
    assert max(lrs) < 0.01 * 0.1, lrs


def test_budget_factor_warms_up_then_anneals_to_its_floor() -> None:
    from ner_lightning.models.schedules import budget_factor

    assert budget_factor(0.05, warmup=0.1) == pytest.approx(0.5)
    assert budget_factor(0.1, warmup=0.1) == pytest.approx(1.0)
    assert budget_factor(0.55, warmup=0.1) == pytest.approx(0.5)
    assert budget_factor(1.0, warmup=0.1, floor=0.2) == pytest.approx(0.2)
    assert budget_factor(7.0) == pytest.approx(0.0)  # clipped: past the budget stays at the floor


def test_a_bf16_run_scores_in_full_precision_like_its_predictor(make_cfg: Compose) -> None:
    """Training under bf16 autocast, validation and test still run in fp32, as the predictor and the exports do:
    the run's test loss is the fp32 model's on the same batches (under autocast it is off by ~1e-3)."""
    metrics, objects = train(make_cfg("debug=limit", "trainer.precision=bf16-mixed", "keep_checkpoints=all"))
    model, dm = objects["model"].eval(), objects["datamodule"]
    total, count = 0.0, 0
    with torch.no_grad():
        for i, batch in enumerate(dm.test_dataloader()):
            if i == 2:  # debug=limit: limit_test_batches=2
                break
            hidden = model.encoder(batch["input_ids"], batch["mask"])
            total += float(model.head.loss(hidden, batch["mask"], batch["labels"])) * batch["mask"].size(0)
            count += batch["mask"].size(0)
    assert metrics["test/loss"] == pytest.approx(total / count, rel=1e-6)


def test_a_time_capped_run_that_early_stopping_ended_says_so(make_cfg: Compose, tmp_path: Path) -> None:
    """``stopped_by`` names early stopping when it ended a run that also had a time cap (it said ``max_time``)."""
    cfg = make_cfg(
        "debug=limit",
        "trainer.max_epochs=50",
        "trainer.max_time=00:01:00:00",
        "callbacks.early_stopping.patience=1",
        "+callbacks.early_stopping.min_delta=10",  # no epoch after the first counts as better
        "test=false",
    )
    train(cfg)
    budget = json.loads((tmp_path / "metrics.json").read_text())["run"]["budget"]
    assert budget["stopped_by"] == "early_stopping" and budget["epochs_done"] == 2


def test_a_budget_schedule_runs_its_budget_whatever_early_stopping_says(make_cfg: Compose, tmp_path: Path) -> None:
    """Under ``scheduler=budget_cosine`` early stopping is off: it ended a 1-layer lexicon run at epoch 14 of ~43
    in the high-LR phase where val F1 plateaus (LR still 80 % of its peak; test F1 87.7 where 2 layers reached 91.6)."""
    cfg = make_cfg(
        "debug=limit",
        "scheduler=budget_cosine",
        "trainer.max_epochs=4",
        "callbacks.early_stopping.patience=1",
        "+callbacks.early_stopping.min_delta=10",  # no epoch after the first counts as better
        "test=false",
    )
    train(cfg)
    budget = json.loads((tmp_path / "metrics.json").read_text())["run"]["budget"]
    assert budget["stopped_by"] != "early_stopping" and budget["epochs_done"] == 4


def test_without_a_dev_split_the_final_state_is_kept_and_tested(make_cfg: Compose, tmp_path: Path) -> None:
    """``data.dev_size=0`` (all 160 training sentences train, not 140): no validation, and the checkpoint kept and
    tested is the final state, a stop mid-epoch included (with the val/f1 monitor the run failed asking for a val
    split)."""
    cfg = make_cfg(
        "data.dev_size=0",
        "trainer.max_epochs=3",
        "trainer.limit_train_batches=3",
        "+trainer.max_steps=7",  # mid-epoch 3
        "keep_checkpoints=all",
    )
    metrics, objects = train(cfg)
    record = json.loads((tmp_path / "metrics.json").read_text())
    assert record["train_sentences"] == 160 and not [k for k in record if k.startswith("val")]
    assert "test/f1" in record and record["run"]["budget"]["stopped_by"] == "max_steps"
    best = torch.load(record["best_checkpoint"], map_location="cpu", weights_only=True)
    assert best["global_step"] == objects["trainer"].global_step == 7
    for name, value in objects["model"].state_dict().items():
        assert torch.equal(best["state_dict"][name], value), name
