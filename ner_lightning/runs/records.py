"""Run records: what a run was bought with (commit, hardware, budget, wall time), saved in its ``metrics.json`` at
train time, and ``python -m ner_lightning.compare RUN --record results/`` to turn a finished run into a small JSON
record that ``scripts/results_table.py`` renders (nobody types a figure)."""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import time
from pathlib import Path
from typing import Any

import yaml

from ner_lightning.base.files import atomic_write_text

_REPO = Path(__file__).resolve().parents[2]


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=_REPO, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def run_info() -> dict[str, Any]:
    """Commit (and whether the checkout had uncommitted changes), hardware and library versions, at start."""
    import lightning
    import torch

    gpus = (
        [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else []
    )
    status = _git("status", "--porcelain", "--untracked-files=no")
    return {
        "commit": _git("rev-parse", "HEAD"),
        "dirty": bool(status) if status is not None else None,
        "hardware": {
            "cpu": _cpu_name(),
            "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "gpus": gpus,
        },
        "versions": {
            "torch": torch.__version__,
            "lightning": lightning.__version__,
            "python": platform.python_version(),
        },
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def _early_stopped(trainer: Any) -> bool:
    """Whether an ``EarlyStopping`` callback stopped the fit (Lightning sets its ``stopped_epoch`` then)."""
    from lightning.pytorch.callbacks import EarlyStopping

    return any(isinstance(cb, EarlyStopping) and cb.stopped_epoch > 0 for cb in getattr(trainer, "callbacks", []))


def budget(
    trainer_cfg: dict[str, Any], trainer: Any, train_sentences: int, wall_s: float, stopped: str | None = None
) -> dict[str, Any]:
    """The budget a run was given and what it used; ``stopped_by`` says which limit ended it (``stopped``:
    ``interrupted`` or ``diverged`` when that ended it instead)."""
    max_epochs, max_steps = trainer_cfg.get("max_epochs"), trainer_cfg.get("max_steps") or -1
    batches = trainer.num_training_batches
    per_epoch = math.ceil(batches / trainer.accumulate_grad_batches) if math.isfinite(batches) and batches else None
    # whole epochs trained (Lightning's current_epoch also counts an epoch a time cap cut short)
    epochs_done = trainer.global_step // per_epoch if per_epoch else int(trainer.current_epoch)
    if stopped:
        pass
    elif max_steps > 0 and trainer.global_step >= max_steps:
        stopped = "max_steps"
    elif max_epochs is not None and epochs_done >= max_epochs:
        stopped = "max_epochs"
    elif _early_stopped(trainer) or not trainer_cfg.get("max_time"):
        stopped = "early_stopping"  # before the time cap: a capped run that early stopping ended says so
    else:
        stopped = "max_time"
    limited = {k: trainer_cfg[k] for k in ("limit_train_batches", "limit_val_batches") if trainer_cfg.get(k)}
    return {
        "max_epochs": max_epochs,
        "max_steps": max_steps if max_steps > 0 else None,
        "max_time": trainer_cfg.get("max_time"),
        "epochs_done": epochs_done,
        "steps_per_epoch": per_epoch,
        "steps_done": int(trainer.global_step),
        "train_sentences": train_sentences,
        "stopped_by": stopped,
        "wall_s": round(wall_s, 1),
        **({"limits": limited} if limited else {}),
    }


def budget_text(b: dict[str, Any]) -> str:
    """One line for a table: ``2 of 25 epochs (1,522 steps), 48,658 train sentences, 55 min cap (stopped by ...)``."""
    planned = f" of {b['max_epochs']}" if b.get("max_epochs") else ""
    per_epoch, steps = b.get("steps_per_epoch"), b.get("steps_done", 0)
    if per_epoch:  # whole epochs, and the part of the next one a cap stopped
        epochs = f"{steps // per_epoch}{planned} epochs"
        if steps % per_epoch:
            epochs += f" + {steps % per_epoch:,} of {per_epoch:,} batches"
    else:  # records made before steps_per_epoch was saved: whole epochs only if the epoch limit ended the run
        whole = b.get("stopped_by") == "max_epochs"
        epochs = f"{b.get('epochs_done')}{planned} epochs" + ("" if whole else " begun")
    text = f"{epochs} ({b.get('steps_done', 0):,} steps), {b.get('train_sentences', 0):,} train sentences"
    if b.get("max_time"):
        text += f", time cap {b['max_time']}"
    text += f", fit {b.get('wall_s', 0) / 60:.0f} min, stopped by {b.get('stopped_by')}"
    if b.get("limits"):
        text += f", LIMITED {b['limits']}"
    return text


def _steps_from_log(log: Path, b: dict[str, Any]) -> dict[str, Any]:
    """``steps_per_epoch`` (and whole ``epochs_done``) of a run saved before they were recorded, from the
    ``N training batches per epoch`` line its ``train.log`` printed at the start; nothing if there is none."""
    import re

    text = log.read_text(encoding="utf-8", errors="replace") if log.is_file() else ""
    found = re.search(r"([\d,]+) training batches per epoch", text)
    if not found:
        return {}
    per_epoch = int(found.group(1).replace(",", ""))
    return {"steps_per_epoch": per_epoch, "epochs_done": int(b.get("steps_done", 0)) // per_epoch}


def record(run: Path, out_dir: Path, name: str | None = None, note: str | None = None) -> Path:
    """Write ``out_dir/<name>.json`` for the finished run in ``run`` (its metrics.json and composed config)."""
    metrics = json.loads((run / "metrics.json").read_text(encoding="utf-8"))
    info = metrics.pop("run", {}) or {}
    config = (
        yaml.safe_load((run / ".hydra" / "config.yaml").read_text(encoding="utf-8"))
        if (run / ".hydra" / "config.yaml").is_file()
        else None
    )
    overrides = (
        yaml.safe_load((run / ".hydra" / "overrides.yaml").read_text(encoding="utf-8"))
        if (run / ".hydra" / "overrides.yaml").is_file()
        else []
    )
    kept = {
        k: v
        for k, v in metrics.items()
        if k.startswith(("val_best/", "test/")) or k in ("val/f1_best", "params", "trainable_params", "epochs")
    }
    budget_info = info.get("budget")
    if isinstance(budget_info, dict) and not budget_info.get("steps_per_epoch"):
        budget_info.update(_steps_from_log(run / "train.log", budget_info))
    rec = {
        "name": name or run.name,
        "run_folder": str(run),
        "commit": info.get("commit"),
        "dirty": info.get("dirty"),
        "hardware": info.get("hardware"),
        "versions": info.get("versions"),
        "started": info.get("started"),
        "budget": budget_info,
        "command": "python -m ner_lightning.train " + " ".join(overrides),
        "overrides": overrides,
        "config": config,
        "metrics": kept,
        **({"note": note} if note else {}),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{rec['name']}.json"
    atomic_write_text(path, json.dumps(rec, indent=2, sort_keys=True) + "\n")
    return path
