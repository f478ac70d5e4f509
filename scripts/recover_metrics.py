"""Rebuild ``metrics.json`` of a time-capped training run that stopped after writing its test report but before
``metrics.json`` (e.g. a crash in the last plotting step), from what the run itself wrote: ``last.ckpt`` (steps),
the best checkpoint (its validated F1), ``test_report.json`` (the best checkpoint scored on test) and ``train.log``.

    python scripts/recover_metrics.py RUN --commit HASH --threads 1 --note "why"

Every value comes from the run's own files; the record says it was recovered, and why (``run.recovered``).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import torch
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from ner_lightning.base.files import atomic_write_text  # noqa: E402
from ner_lightning.runs.records import run_info  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--commit", required=True, help="the commit the run started from")
    parser.add_argument("--threads", type=int, required=True, help="torch threads the run used")
    parser.add_argument("--note", required=True, help="why the run's own metrics.json is missing")
    args = parser.parse_args()
    run = args.run
    if (run / "metrics.json").exists():
        raise SystemExit(f"error: {run / 'metrics.json'} exists; nothing to recover")
    config = yaml.safe_load((run / ".hydra" / "config.yaml").read_text(encoding="utf-8"))
    last = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    best = next(p for p in sorted((run / "checkpoints").glob("epoch_*.ckpt")))
    best_state = torch.load(best, map_location="cpu", weights_only=True)
    val_best = float(best_state["state_dict"]["val_f1_best.max_value"])
    test = json.loads((run / "test_report.json").read_text(encoding="utf-8"))
    log = (run / "train.log").read_text(encoding="utf-8")
    per_epoch = int(re.search(r"([\d,]+) training batches per epoch", log).group(1).replace(",", ""))
    steps = int(last["global_step"])
    trainer = config["trainer"]
    metrics = {
        "val/f1_best": val_best,
        "val_best/f1": val_best,
        **{f"test/{k}": v for k, v in test.items() if isinstance(v, float | int) and k != "per_type"},
        **{f"test/f1_{t}": v["f1"] for t, v in test["per_type"].items()},
        "global_step": steps,
        "epochs": int(last["epoch"]),
        "best_checkpoint": str(best),
        "train_sentences": int(re.search(r"data: train ([\d,]+)", log).group(1).replace(",", "")),
    }
    model = torch.load(best, map_location="cpu", weights_only=True)["state_dict"]
    metrics["params"] = metrics["trainable_params"] = sum(t.numel() for k, t in model.items() if "f1_best" not in k)
    info = run_info()
    info.update(commit=args.commit, dirty=False, started=None)
    info["hardware"]["torch_threads"] = args.threads
    h, m, s = (int(x) for x in str(trainer["max_time"]).split(":")[1:])
    info["budget"] = {
        "max_epochs": trainer["max_epochs"], "max_steps": None, "max_time": trainer["max_time"],
        "epochs_done": steps // per_epoch, "steps_per_epoch": per_epoch, "steps_done": steps,
        "train_sentences": metrics["train_sentences"], "stopped_by": "max_time", "wall_s": float(3600 * h + 60 * m + s),
    }  # fmt: skip
    info["recovered"] = args.note
    atomic_write_text(run / "metrics.json", json.dumps({**metrics, "run": info}, indent=2, sort_keys=True))
    print(f"wrote {run / 'metrics.json'}: val best {100 * val_best:.2f}, test {100 * test['f1']:.2f}, {steps:,} steps")


if __name__ == "__main__":
    main()
