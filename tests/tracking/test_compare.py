"""compare: a tiny multirun (two experiments) becomes a two-row table, a CSV and PNG plots; errors are one line."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import run_train, sweep_args

from ner_lightning.compare import compare


@pytest.fixture(scope="module")
def sweep(mini_corpus: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("sweep")
    args = ["-m", "experiment=baseline,optimized", "debug=limit", "data.batch_size=8"]  # 18 batches, 5 trained
    proc = run_train(*args, *sweep_args(mini_corpus, folder), cwd=folder)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"sweep {folder}: " in proc.stdout and "MB checkpoints)" in proc.stdout  # the sweep's disk use, at the end
    return folder


def test_compare_writes_table_csv_and_plots(sweep: Path) -> None:
    result = compare([sweep])
    rows = result["rows"]
    assert [r["run"] for r in rows] == ["experiment=baseline", "experiment=optimized"]
    assert all(r["test_f1"] is not None and r["params"] > 0 and r["epochs"] == 2 for r in rows)
    assert rows[0]["params"] != rows[1]["params"]  # optimized is a bigger model
    text = (sweep / "comparison.md").read_text(encoding="utf-8")
    assert text.count("| experiment=") == 2 and "test_f1_PER" in text
    with (sweep / "comparison.csv").open(encoding="utf-8") as fh:
        assert len(list(csv.DictReader(fh))) == 2
    names = {p.name for p in result["images"]}
    # baseline sums its CRF loss, optimized averages it: never on one axis
    assert {"train_loss_sum.png", "train_loss_mean.png", "val_f1.png", "loss_f1_overlay.png"} <= names
    assert {"final_scores.png", "transitions.png"} <= names and "train_loss.png" not in names
    for name in names:
        assert (sweep / name).stat().st_size > 5_000


def test_compare_cli_prints_table_and_rejects_empty_folder(sweep: Path, tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "ner_lightning.compare", str(sweep), "--out", str(tmp_path / "c")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "experiment=optimized" in proc.stdout and (tmp_path / "c" / "comparison.md").is_file()
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = subprocess.run(
        [sys.executable, "-m", "ner_lightning.compare", str(empty)], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"error: {empty}: no runs found (no metrics.json from ner_lightning.train)"


def test_limited_runs_show_the_sentences_they_trained_on(sweep: Path) -> None:
    """debug=limit trains 2 epochs of a few batches: the speed is sentences seen over training-batch seconds, not
    the whole training set over the fit time, and the row says the run was limited."""
    import json

    rows = compare([sweep])["rows"]
    for row in rows:
        metrics = json.loads((Path(row["folder"]) / "metrics.json").read_text())
        budget = metrics["run"]["budget"]
        assert 0 < budget["sentences_seen"] < metrics["epochs"] * metrics["train_sentences"]
        assert row["train_sents_per_s"] == round(budget["sentences_seen"] / budget["train_batches_s"], 1)
        assert row["budget"].startswith("LIMITED") and "debug=limit" in row["budget"]
        # a whole pass over the training split at that speed, which a limited run never made: said in the legend
        full = budget["train_batches_s"] * metrics["train_sentences"] / budget["sentences_seen"]
        assert row["sec_per_epoch"] == round(full, 1)
    assert "for LIMITED runs an extrapolation" in (sweep / "comparison.md").read_text()


def test_record_names_commit_hardware_budget_and_scores(sweep: Path, tmp_path: Path) -> None:
    import json
    import re

    from ner_lightning.compare import main

    job = sorted(p.parent for p in sweep.rglob("metrics.json"))[0]
    main([str(job), "--record", str(tmp_path / "results"), "--name", "tiny_baseline", "--out", str(tmp_path / "c")])
    rec = json.loads((tmp_path / "results" / "tiny_baseline.json").read_text())
    assert re.fullmatch(r"[0-9a-f]{40}", rec["commit"] or ""), rec["commit"]
    assert rec["hardware"]["cpu"] and rec["hardware"]["torch_threads"] >= 1
    assert rec["budget"]["max_epochs"] == 2 and rec["budget"]["stopped_by"] == "max_epochs"
    assert rec["budget"]["train_sentences"] == 140 and rec["config"]["model"]["encoder"]["type"] == "bilstm"
    assert "experiment=baseline" in rec["command"] and 0 <= rec["metrics"]["test/f1"] <= 1
    table = subprocess.run(
        [sys.executable, "scripts/results_table.py", "--dir", str(tmp_path / "results")],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
        timeout=60,
    )
    assert table.returncode == 0, table.stderr
    text = (tmp_path / "results" / "README.md").read_text()
    assert "| tiny_baseline |" in text and "2 of 2 epochs" in text and "140 train sentences" in text


def test_transition_heatmap_scales_to_learned_values_and_masks_illegal_cells() -> None:
    import matplotlib.pyplot as plt
    import numpy as np

    from ner_lightning.runs.plots import heatmap

    matrix = np.array([[0.5, -10000.0], [-2.0, 1.5]])
    fig, ax = plt.subplots()
    heatmap(matrix, ["O", "I-PER"], "t", ax)
    image = ax.get_images()[0]
    assert image.get_clim() == (-2.0, 2.0)  # not (-10000, 10000): the learned values keep their colours
    assert bool(image.get_array().mask[0, 1]) and not bool(image.get_array().mask[1, 0])
    plt.close(fig)


def test_budget_counts_whole_epochs_and_the_part_a_cap_stopped(tmp_path: Path) -> None:
    """A 55-min cap stopped in the 6th epoch: Lightning's current_epoch says 6, the row says 5 + the batches done."""
    from ner_lightning.runs.records import _steps_from_log, budget_text

    b = {"max_epochs": 25, "steps_per_epoch": 761, "steps_done": 3988, "train_sentences": 48658, "wall_s": 3300}
    b.update(max_time="00:00:55:00", stopped_by="max_time")
    assert budget_text(b).startswith("5 of 25 epochs + 183 of 761 batches (3,988 steps)")
    log = tmp_path / "train.log"
    log.write_text("data: train 48,658 sentences; 761 training batches per epoch x 25 epochs = 19,025 batches\n")
    assert _steps_from_log(log, {"steps_done": 3988, "epochs_done": 6}) == {"steps_per_epoch": 761, "epochs_done": 5}
