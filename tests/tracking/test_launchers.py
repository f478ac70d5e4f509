"""Hydra launchers for sweeps: a real 2-job multirun through submitit's local launcher, read back by ``compare``;
the SLURM and Ray launcher configs compose with the cluster group's resources."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from ner_lightning.runs.config import config_dir
from tests.helpers import run_entry


def _launcher(*overrides: str) -> dict:
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
            cfg = compose("config", overrides=list(overrides), return_hydra_config=True)
        return OmegaConf.to_container(cfg.hydra.launcher, resolve=True)
    finally:
        GlobalHydra.instance().clear()


def test_submitit_local_sweep_runs_two_jobs_and_compare_reads_them(
    mini_corpus: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher", reason='pip install -e ".[slurm]"')
    args = [
        "-m",
        "hydra/launcher=submitit_local",
        "seed=1,2",
        "data=bio",
        f"data.train_path={mini_corpus['train']}",
        f"data.test_path={mini_corpus['test']}",
        "data.dev_size=20",
        "data.batch_size=16",
        "data.progress=false",
        "~logger",
        "model.encoder.embedding_dim=16",
        "model.encoder.hidden_size=16",
        "trainer.max_epochs=2",
        "trainer.enable_progress_bar=false",
        f"hydra.sweep.dir={tmp_path / 'sweep'}",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "ner_lightning.train", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "sweep" / ".submitit").is_dir()  # the jobs really went through submitit
    for job in ("0", "1"):
        assert (tmp_path / "sweep" / job / "metrics.json").is_file(), job
    code, out, err = run_entry("compare", str(tmp_path / "sweep"), capsys=capsys)
    assert code == 0, err
    with open(tmp_path / "sweep" / "comparison.csv", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert sorted(r["run"] for r in rows) == ["seed=1", "seed=2"], rows
    assert all(int(r["epochs"]) == 2 for r in rows), rows


def test_slurm_launcher_takes_resources_from_the_cluster_group() -> None:
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher", reason='pip install -e ".[slurm]"')
    launcher = _launcher(
        "hydra/launcher=slurm", "cluster.partition=a100", "cluster.gpus_per_node=4", "cluster.timeout_min=600"
    )
    assert launcher["_target_"].endswith("SlurmLauncher")
    assert (launcher["partition"], launcher["gpus_per_node"], launcher["tasks_per_node"]) == ("a100", 4, 4)
    assert launcher["timeout_min"] == 600


def test_ray_launcher_config_composes() -> None:
    """Composition only: starting Ray on the 2-core CI machine does not fit the test budget (README recipe)."""
    pytest.importorskip("hydra_plugins.hydra_ray_launcher", reason='pip install -e ".[ray]"')
    launcher = _launcher("hydra/launcher=ray_cluster", "cluster.gpus_per_node=2", "cluster.ray_address=10.0.0.1:6379")
    assert launcher["_target_"].endswith("RayLauncher")
    assert launcher["ray"]["init"]["address"] == "10.0.0.1:6379"
    assert launcher["ray"]["remote"]["num_gpus"] == 2
