"""Lightning DDP on 2 CPU processes (gloo): entity scores over the whole split, each sentence once; rank 0 writes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ner_lightning.models.metrics import gather_rows
from tests.helpers import record_args, run_entry, trained_sentences


def test_gather_rows_counts_each_sentence_once() -> None:
    # a distributed sampler pads shares with repeats: sentence 0 appears twice
    rows = [(2, ["O"], ["B-PER"]), (0, ["B-LOC"], ["B-LOC"]), (1, ["O"], ["O"]), (0, ["B-LOC"], ["B-LOC"])]
    assert gather_rows(rows) == [(["B-LOC"], ["B-LOC"]), (["O"], ["O"]), (["B-PER"], ["O"])]


@pytest.fixture(scope="module")
def ddp_run(msra_slice: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two CPU processes (batch 16 each) train 5 epochs on 1,600 real MSRA sentences (dev 101 and test 400
    sentences: the dev split does not divide evenly between the ranks)."""
    cwd = tmp_path_factory.mktemp("ddp")
    args = [
        "trainer=ddp",
        "trainer.accelerator=cpu",
        "trainer.devices=2",
        "trainer.max_epochs=5",
        "trainer.enable_progress_bar=false",
        "trainer.enable_model_summary=false",
        "data=bio",
        f"data.train_path={msra_slice['train']}",
        f"data.test_path={msra_slice['test']}",
        "data.dev_size=101",
        "data.batch_size=16",
        "data.eval_batch_size=16",
        "data.progress=false",
        "~logger",
        "model.encoder.embedding_dim=64",
        "model.encoder.hidden_size=64",
        "optimizer.lr=0.01",
        "seed=3",
        *record_args(cwd / "batches"),  # what each rank trained on
        "callbacks.model_checkpoint.last_every_minutes=1e-6",  # mid-epoch saves: collective, rank 0 decides
    ]
    paths = [str(Path(__file__).resolve().parents[i]) for i in (1, 2)]  # helpers (callback), the checkout
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(paths)}
    proc = subprocess.run(
        [sys.executable, "-m", "ner_lightning.train", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return cwd


def test_ddp_scores_equal_a_single_process_evaluation(ddp_run: Path, capsys: pytest.CaptureFixture) -> None:
    runs = sorted(p.parent for p in ddp_run.rglob(".hydra"))
    assert len(runs) == 1, f"expected one Hydra run folder, got {runs}"
    metrics_files = list(ddp_run.rglob("metrics.json"))
    assert metrics_files == [runs[0] / "metrics.json"]
    metrics = json.loads(metrics_files[0].read_text())
    assert metrics["test/f1"] > 0.05, "the run must learn something for the comparison to mean anything"
    best = metrics["best_checkpoint"]
    for split, key in (("test", "test/f1"), ("val", "val_best/f1")):
        code, out, err = run_entry("evaluate", f"ckpt_path={best}", f"split={split}", capsys=capsys)
        assert code == 0, err
        single = json.loads(out.strip().splitlines()[-1])
        assert single[f"{split}/f1"] == metrics[key], (split, single[f"{split}/f1"], metrics[key])
        assert single[f"{split}/token_acc"] == metrics[key.replace("f1", "token_acc")]
    report = json.loads((runs[0] / "test_report.json").read_text())
    assert report["sentences"] == 400  # every test sentence once (each rank scored 200 of them)


def test_ddp_ranks_train_on_disjoint_shares_of_every_epoch(ddp_run: Path) -> None:
    """Each epoch's training sentences are split between the two processes: together they cover the training split,
    each rank takes the same number of steps, and only the padding of an odd batch count is repeated."""
    metrics = json.loads(next(ddp_run.rglob("metrics.json")).read_text())
    n = metrics["train_sentences"]
    steps = [len((ddp_run / f"batches.{rank}").read_text().splitlines()) for rank in (0, 1)]
    assert steps[0] == steps[1] == metrics["global_step"]
    for epoch in range(5):
        seen = trained_sentences(ddp_run / "batches", epoch)
        assert set(seen) == set(range(n)), f"epoch {epoch}: {n - len(set(seen))} training sentences never seen"
        assert len(seen) - n <= 16, f"epoch {epoch}: {len(seen) - n} repeats (at most one padding batch)"


def test_ddp_in_a_multirun_runs_each_job_once_with_its_own_processes(
    mini_corpus: dict[str, Path], tmp_path: Path
) -> None:
    """``-m seed=1,2`` with ``trainer=ddp``: Lightning starts rank 1 with the parent's command line, which is the
    whole sweep; each rank-1 process must instead run its own job (same seed, same folder) and nothing else."""
    sweep = tmp_path / "sweep"
    args = [
        "-m", "trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2", "trainer.max_epochs=2",
        "trainer.enable_progress_bar=false", "data=bio", f"data.train_path={mini_corpus['train']}",
        f"data.test_path={mini_corpus['test']}", "data.dev_size=20", "data.batch_size=8", "data.progress=false",
        "~logger", "model.encoder.embedding_dim=8", "model.encoder.hidden_size=8", "seed=1,2",
        f"hydra.sweep.dir={sweep}", *record_args(Path("${hydra:runtime.output_dir}") / "batches"),
    ]  # fmt: skip
    paths = [str(Path(__file__).resolve().parents[i]) for i in (1, 2)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(paths)}
    proc = subprocess.run(
        [sys.executable, "-m", "ner_lightning.train", *args], cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=600,
    )  # fmt: skip
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert out.count("Launching 2 jobs") == 1, "a rank-1 process launched the sweep again"
    for job in ("0", "1"):
        folder = sweep / job
        assert (folder / "metrics.json").is_file() and (folder / "train_ddp_process_1.log").is_file()
        seen = trained_sentences(folder / "batches", 1)  # the ranks' shares of one epoch (same seed: complementary)
        assert set(seen) == set(range(140)) and len(seen) - 140 <= 8, job
    assert sorted(p.name for p in sweep.iterdir() if p.is_dir()) == ["0", "1"]


def test_ddp_without_gpus_is_one_line(capsys: pytest.CaptureFixture) -> None:
    code, out, err = run_entry("train", "trainer=ddp", capsys=capsys)
    assert code == 2
    lines = [line for line in err.strip().splitlines() if line]
    assert len(lines) == 1 and "trainer=ddp" in lines[0] and "GPU" in lines[0], err
