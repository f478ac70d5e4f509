"""``python -m ner_lightning.compare <run or multirun folder(s)> [--out DIR]``: turn runs into a comparison.

Reads what each run wrote (``metrics.json``, ``.hydra/``, ``csv/metrics.csv``, ``transitions.jsonl``; no W&B
needed) and writes ``comparison.md``, ``comparison.csv`` and PNG plots: training-loss curves, val-F1 curves, a
loss-and-F1 overlay, a final-score bar chart and CRF transition heatmaps. Runs that differ only by ``seed`` are
also summarised as mean ± std.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ner_lightning.base.files import atomic_open, atomic_write_text
from ner_lightning.errors import NerError
from ner_lightning.runs.cli import fail


@dataclass
class Run:
    """One training run as read from its folder."""

    path: Path
    overrides: list[str]
    choices: dict[str, str]
    metrics: dict[str, float]
    curves: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    transitions: dict[str, Any] | None = None
    label: str = ""
    budget: dict[str, Any] = field(default_factory=dict)
    loss_reduction: str = "sum"
    resume_changes: list[str] = field(default_factory=list)  # recipe keys a resume changed (resume_changes=allow)

    @property
    def experiment(self) -> str:
        return self.choices.get("experiment") or self.choices.get("model") or "-"


def find_runs(paths: list[Path]) -> list[Path]:
    """Run folders (those holding ``metrics.json``) under ``paths``, sorted."""
    found: set[Path] = set()
    for path in paths:
        if not path.exists():
            raise NerError(f"{path}: no such folder")
        found |= {p.parent for p in ([path / "metrics.json"] if (path / "metrics.json").is_file() else [])}
        found |= {p.parent for p in path.rglob("metrics.json")}
    return sorted(found)


def _read_yaml(path: Path, default: Any) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8")) if path.is_file() else default


def _curves(path: Path) -> dict[str, list[tuple[int, float]]]:
    """Per-metric ``(epoch or step, value)`` series from the run's CSV log."""
    files = sorted(path.glob("csv/**/metrics.csv"))
    curves: dict[str, list[tuple[int, float]]] = defaultdict(list)
    if not files:
        return curves
    # a resumed run logs into csv/resumed_<n>/: its rows continue the first file's epochs and steps
    for file in sorted(files, key=lambda f: (f.parent.name != "csv", f.stat().st_mtime)):
        with file.open(encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                for key in ("train/loss_epoch", "val/f1", "val/loss"):
                    if row.get(key):
                        curves[key].append((int(row["epoch"]), float(row[key])))
                if row.get("train/loss_step"):
                    curves["train/loss_step"].append((int(row["step"]), float(row["train/loss_step"])))
    return curves


def load_run(path: Path) -> Run:
    """Read one run folder."""
    hydra = _read_yaml(path / ".hydra" / "hydra.yaml", {}) or {}
    choices = {k: str(v) for k, v in ((hydra.get("hydra") or {}).get("runtime") or {}).get("choices", {}).items()}
    transitions = None
    tpath = path / "transitions.jsonl"
    lines = tpath.read_text(encoding="utf-8").strip().splitlines() if tpath.is_file() else []
    for line in reversed(lines):  # a kill mid-append leaves a torn last line: the last whole one counts
        try:
            transitions = json.loads(line)
            break
        except json.JSONDecodeError:
            continue
    config = _read_yaml(path / ".hydra" / "config.yaml", {}) or {}
    try:
        record = json.loads((path / "metrics.json").read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise NerError(
            f"{path / 'metrics.json'}: not a complete metrics file ({err}); rerun or remove that run"
        ) from None
    if not isinstance(record, dict):
        raise NerError(f"{path / 'metrics.json'}: not a metrics file (expected a JSON object)")
    info = record.get("run") or {}
    head = ((config.get("model") or {}).get("head") or {}) if isinstance(config, dict) else {}
    return Run(
        loss_reduction=str(head.get("reduction", "sum" if head.get("type", "crf") == "crf" else "mean")),
        path=path,
        overrides=[str(o) for o in _read_yaml(path / ".hydra" / "overrides.yaml", []) or []],
        choices=choices,
        metrics={k: v for k, v in record.items() if isinstance(v, (int, float))},
        budget=info.get("budget") or {},
        resume_changes=[str(c) for c in info.get("resume_changes") or []],
        curves=_curves(path),
        transitions=transitions,
    )


IGNORED_OVERRIDE_PREFIXES = ("hydra.", "trainer.enable_progress_bar", "data.progress", "debug=")


def label_runs(runs: list[Run]) -> None:
    """Label each run by the overrides that differ between runs (or its folder name)."""
    keep = [[o for o in r.overrides if not o.startswith(IGNORED_OVERRIDE_PREFIXES)] for r in runs]
    common = set.intersection(*map(set, keep)) if keep else set()
    for run, overrides in zip(runs, keep):
        differing = [o for o in overrides if o not in common]
        run.label = " ".join(differing) or run.path.name


def limited_note(run: Run) -> str:
    """``full`` or what limited the run (debug presets, sample caps, batch limits, a time cap that stopped it)."""
    notes = [o for o in run.overrides if o.startswith(("debug=", "data.max_", "trainer.limit_", "trainer.max_steps"))]
    if run.budget.get("stopped_by") in ("max_time", "interrupted"):
        notes.append(f"stopped by {run.budget['stopped_by']}")
    note = "LIMITED: " + ", ".join(notes) if notes else "full"
    if run.resume_changes:  # the run's saved config (.hydra/) holds only the first part's settings
        note += "; CHANGED ON RESUME: " + ", ".join(c.split(":", 1)[0] for c in run.resume_changes)
    return note


def table_rows(runs: list[Run]) -> list[dict[str, Any]]:
    """One row per run with the comparison columns."""
    types = sorted({k.split("test/f1_", 1)[1] for r in runs for k in r.metrics if k.startswith("test/f1_")})
    rows = []
    for r in runs:
        m, b = r.metrics, r.budget
        epochs = max(int(m.get("epochs", 0)), 1)
        fit = m.get("fit_time_s", 0.0)
        if b.get("train_batches_s"):  # sentences actually trained on, seconds in training batches only
            seen, train_s = b["sentences_seen"], b["train_batches_s"]
            sents_per_s = round(seen / train_s, 1)
            sec_per_epoch = round(train_s * m.get("train_sentences", seen) / seen, 1) if seen else None
        else:  # runs recorded before the budget was saved: whole epochs of the full set over the fit time
            sents_per_s = round(m.get("train_sentences", 0) * epochs / fit, 1) if fit else None
            sec_per_epoch = round(fit / epochs, 1)
        row: dict[str, Any] = {
            "run": r.label,
            "experiment": r.experiment,
            "val_f1": m.get("val/f1_best"),
            "test_f1": m.get("test/f1"),
            **{f"test_f1_{t}": m.get(f"test/f1_{t}") for t in types},
            "params": int(m.get("params", 0)),
            "trainable_params": int(m.get("trainable_params", 0)),
            "epochs": int(m.get("epochs", 0)),
            "sec_per_epoch": sec_per_epoch,
            "train_sents_per_s": sents_per_s,
            "budget": limited_note(r),
            "folder": str(r.path),
        }
        rows.append(row)
    return rows


def seed_groups(runs: list[Run], rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean ± std of val/test F1 over runs that differ only in ``seed``."""
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for run, row in zip(runs, rows):
        key = " ".join(o for o in run.label.split() if not o.startswith("seed=")) or run.experiment
        if any(o.startswith("seed=") for o in run.label.split()):
            groups[key].append(row)
    out = []
    for key, members in groups.items():
        if len(members) < 2:
            continue
        summary: dict[str, Any] = {"group": key, "runs": len(members)}
        for metric in ("val_f1", "test_f1"):
            values = [m[metric] for m in members if m[metric] is not None]
            if values:
                summary[metric] = f"{100 * statistics.mean(values):.2f} ± {100 * statistics.pstdev(values):.2f}"
        out.append(summary)
    return out


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{100 * value:.2f}" if value <= 1.0 else f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return "" if value is None else str(value)


def markdown(rows: list[dict[str, Any]], seeds: list[dict[str, Any]], images: list[str]) -> str:
    """The comparison as Markdown (scores in %)."""
    cols = [c for c in rows[0] if c != "folder"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(_fmt(r[c]) for c in cols) + " |" for r in rows]
    legend = (
        "F1 in %, entity level (seqeval strict). One row per run. `train_sents_per_s`: sentences trained on per "
        "second of training batches (validation excluded); `sec_per_epoch`: what one pass over the whole training "
        "split takes at that speed (for LIMITED runs an extrapolation, not a measured epoch)."
    )
    text = "# Comparison\n\n" + legend + "\n\n" + "\n".join(lines) + "\n"
    if seeds:
        text += "\n## Over seeds (mean ± std)\n\n| group | runs | val F1 | test F1 |\n|---|---|---|---|\n"
        text += (
            "\n".join(f"| {s['group']} | {s['runs']} | {s.get('val_f1', '')} | {s.get('test_f1', '')} |" for s in seeds)
            + "\n"
        )
    text += "\n" + "\n".join(f"![{Path(i).stem}]({i})" for i in images) + "\n"
    return text


def compare(paths: list[Path], out: Path | None = None) -> dict[str, Any]:
    """Build the comparison of the runs under ``paths``; returns rows, seed groups and written files."""
    from ner_lightning.runs.plots import write_plots

    folders = find_runs(paths)
    if not folders:
        raise NerError(f"{', '.join(map(str, paths))}: no runs found (no metrics.json from ner_lightning.train)")
    runs = [load_run(f) for f in folders]
    label_runs(runs)
    rows = table_rows(runs)
    seeds = seed_groups(runs, rows)
    out = out or (paths[0] if len(paths) == 1 and paths[0].is_dir() else Path("outputs") / "comparison")
    out.mkdir(parents=True, exist_ok=True)
    images = write_plots(runs, out)
    atomic_write_text(out / "comparison.md", markdown(rows, seeds, [Path(i).name for i in images]))
    with atomic_open(out / "comparison.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return {"rows": rows, "seeds": seeds, "out": out, "images": images}


def main(argv: list[str] | None = None) -> None:
    """Console entry point."""
    parser = argparse.ArgumentParser(prog="python -m ner_lightning.compare", description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", type=Path, help="run or multirun folders")
    parser.add_argument("--out", type=Path, default=None, help="where to write (default: the single folder given)")
    parser.add_argument("--record", type=Path, default=None, help="also write one JSON record per run into this folder")
    parser.add_argument("--name", default=None, help="record name (one run only; default: the run folder's name)")
    parser.add_argument("--note", default=None, help="free text kept in the record")
    args = parser.parse_args(argv)
    if args.record is not None:
        from ner_lightning.runs.records import record

        try:
            runs = find_runs(args.folders)
            if args.name and len(runs) != 1:
                raise NerError(f"--name needs exactly one run, found {len(runs)}")
            for run in runs:
                print(f"recorded {record(run, args.record, args.name, args.note)}", file=sys.stderr)
        except (NerError, OSError, ValueError) as err:
            fail(str(err))
    try:
        result = compare(args.folders, args.out)
    except NerError as err:
        fail(str(err))
    print(markdown(result["rows"], result["seeds"], []).split("\n\n", 2)[2].strip())
    print(
        f"\nwrote {result['out'] / 'comparison.md'}, comparison.csv and {len(result['images'])} plots", file=sys.stderr
    )


if __name__ == "__main__":
    main()
