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
    proc = run_train("-m", "experiment=baseline,optimized", "debug=limit", *sweep_args(mini_corpus, folder), cwd=folder)
    assert proc.returncode == 0, proc.stderr[-3000:]
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
    assert {"train_loss.png", "val_f1.png", "loss_f1_overlay.png", "final_scores.png", "transitions.png"} <= names
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
