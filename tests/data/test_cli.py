"""`python -m ner_lightning.data`: summary with a JSON last line; one-line errors; packaged config."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ner_lightning.data", *args], capture_output=True, text=True, cwd=cwd, timeout=300
    )


def test_summary_last_line_is_json(fixtures: Path, tmp_path: Path) -> None:
    proc = run(
        "data=bio",
        f"data.train_path={fixtures / 'bio.txt'}",
        f"data.test_path={fixtures / 'stray.txt'}",
        "data.dev_size=1",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert {k: v["sentences"] for k, v in summary.items()} == {"train": 1, "val": 1, "test": 1}
    assert summary["test"]["repaired_tags"] == 1
    # labels come from the training split alone: the held-out train sentence has no LOC, so the test LOC is
    # counted as an unknown type (and tagged O), not silently added to the label set
    assert summary["test"]["entities"] == {} and summary["test"]["unknown_type_entities"] == 1
    assert not list(tmp_path.iterdir())  # the summary writes no output folder


def test_bad_file_is_one_line_error(fixtures: Path) -> None:
    proc = run("data=bio", f"data.train_path={fixtures / 'bad_tag.txt'}")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == (
        f"error: {fixtures / 'bad_tag.txt'}:4: malformed tag 'X-LOC' (expected 'O' or one of B-/I-/M-/E-/S- "
        "followed by a type): '在\\tX-LOC'"
    )


def test_strict_policy_error_names_line(fixtures: Path) -> None:
    proc = run(
        "data=bio",
        f"data.train_path={fixtures / 'stray.txt'}",
        "data.tag_policy=strict",
        "data.dev_size=0",
        "data.source_scheme=BIO",
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().endswith(
        "stray.txt:3: stray I-LOC at position 2 continues no LOC entity (tag_policy=strict)"
    )


def test_missing_required_key() -> None:
    proc = run("data=bio")
    assert proc.returncode == 2
    assert (
        proc.stderr.strip().splitlines()[-1]
        == "error: config key data.train_path is required; set it on the command line (data.train_path=...)"
    )


def test_wheel_carries_the_config(tmp_path: Path) -> None:
    """A regular (non-editable) install finds conf/ inside the package."""
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp_path), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    (wheel,) = tmp_path.glob("ner_lightning-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        assert {"ner_lightning/conf/config.yaml", "ner_lightning/conf/data/msra.yaml"} <= names
        zf.extractall(tmp_path / "site")
    code = "from ner_lightning.runs.config import config_dir; print(config_dir())"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PYTHONPATH": str(tmp_path / "site"), "PATH": ""},
        timeout=60,
    )
    assert out.stdout.strip() == str(tmp_path / "site" / "ner_lightning" / "conf"), out.stderr
