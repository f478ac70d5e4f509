"""The train entry point as a user runs it: one-line GPU error, multirun sweeps over experiments."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from helpers import run_entry, run_train, sweep_args

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_gpu_trainer_without_gpu_is_one_clear_line(tmp_path: Path) -> None:
    proc = run_train("model=bilstm_crf", "trainer=rtx4090", cwd=tmp_path)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == (
        "error: no CUDA GPU found for trainer=rtx4090 (trainer.accelerator=gpu); use trainer=cpu on this machine"
    )


EXPERIMENTS = sorted(p.stem for p in (ROOT / "conf" / "experiment").glob("[!_]*.yaml"))
BILSTM = [e for e in EXPERIMENTS if not e.startswith("bert")]
TRANSFORMER = [e for e in EXPERIMENTS if e.startswith("bert")]


@pytest.mark.parametrize("group", [BILSTM, TRANSFORMER], ids=["bilstm", "transformer"])
def test_multirun_over_every_experiment(
    group: list[str], mini_corpus: dict[str, Path], tiny_bert: Path, tmp_path: Path
) -> None:
    """`-m experiment=a,b,...` under fast_dev_run: one job folder per experiment (both groups cover them all)."""
    sweep = tmp_path / "sweep"
    tiny = tiny_bert if group is TRANSFORMER else None
    proc = run_train(
        "-m", f"experiment={','.join(group)}", "debug=fdr", *sweep_args(mini_corpus, sweep, tiny), cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    jobs = sorted(p for p in sweep.iterdir() if p.is_dir())
    assert len(jobs) == len(group)
    for job, name in zip(jobs, group):
        assert f"experiment={name}" in (job / ".hydra" / "overrides.yaml").read_text()
        assert (job / ".hydra" / "config.yaml").is_file() and (job / "metrics.json").is_file()


def test_experiment_groups_cover_all() -> None:
    assert sorted(BILSTM + TRANSFORMER) == EXPERIMENTS and {
        "baseline",
        "optimized",
        "bert",
        "bert_crf",
        "bert_lora",
    } <= set(EXPERIMENTS)


@pytest.mark.parametrize(
    ("preset", "key", "values"),
    [
        ("recipes", "experiment", ["baseline", "optimized"]),
        ("seeds", "seed", ["1", "2", "3"]),
        ("crf_lr", "model.crf_lr_mult", ["1", "10", "100", "1000"]),
        ("lora_rank", "model.encoder.lora.r", ["4", "8", "16"]),
    ],
)
def test_sweep_presets(
    preset: str, key: str, values: list[str], mini_corpus: dict[str, Path], tiny_bert: Path, tmp_path: Path
) -> None:
    sweep = tmp_path / "sweep"
    tiny = tiny_bert if preset in ("crf_lr", "lora_rank") else None
    proc = run_train("-m", f"sweep={preset}", "debug=fdr", *sweep_args(mini_corpus, sweep, tiny), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    jobs = sorted(p for p in sweep.iterdir() if p.is_dir())
    got = [
        next(
            line.split("=", 1)[1]
            for line in (job / ".hydra" / "overrides.yaml").read_text().split("\n")
            if line.startswith(f"- {key}=")
        )
        for job in jobs
    ]
    assert got == values


def test_missing_sweeper_plugin_names_the_extra(capsys: pytest.CaptureFixture) -> None:
    import importlib.util

    if importlib.util.find_spec("hydra_plugins.hydra_optuna_sweeper") is not None:
        pytest.skip("the optuna extra is installed here")
    code, out, err = run_entry("train", "-m", "hparams_search=bilstm_optuna", capsys=capsys)
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and 'pip install -e ".[optuna]"' in lines[0], err
