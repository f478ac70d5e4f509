"""Interleaved timing for benchmarks on a shared machine: ours and the reference alternate (ABAB...), each figure is
a median over repeats, and the spread of the per-round ratios is reported with it."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence


def interleaved(fns: dict[str, Callable[[], object]], repeats: int, warmup: int = 2) -> dict[str, list[float]]:
    """Seconds per call of each function, the functions alternating within every repeat.

    Args:
        fns: name -> a call to time (same work for every name).
        repeats: rounds; in each round every function runs once, in turn (the order flips every round).
        warmup: untimed rounds first.

    Returns:
        name -> ``repeats`` wall times in seconds.
    """
    names = list(fns)
    for _ in range(warmup):
        for name in names:
            fns[name]()
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(repeats):
        for name in names if r % 2 == 0 else names[::-1]:
            t0 = time.perf_counter()
            fns[name]()
            times[name].append(time.perf_counter() - t0)
    return times


def ratio(reference: Sequence[float], ours: Sequence[float]) -> dict[str, float]:
    """Speed-up ``reference / ours`` as the median of per-round ratios, with the min and max round."""
    rounds = [r / o for r, o in zip(reference, ours)]
    return {
        "median": round(statistics.median(rounds), 2),
        "min": round(min(rounds), 2),
        "max": round(max(rounds), 2),
    }


def median_ms(times: Sequence[float]) -> float:
    """Median of seconds, in milliseconds."""
    return round(statistics.median(times) * 1000, 3)


def write_record(path: str | None, benchmark: str, argv: list[str], result: dict) -> None:
    """Save a benchmark's result with its commit, hardware and command (for ``scripts/results_table.py``)."""
    if not path:
        return
    import json
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from ner_lightning.runs.records import run_info

    info = run_info()
    record = {
        "benchmark": benchmark,
        "command": "python " + " ".join(argv),
        "commit": info["commit"],
        "dirty": info["dirty"],
        "hardware": info["hardware"],
        "versions": info["versions"],
        "started": info["started"],
        "result": result,
    }
    Path(path).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    print(f"recorded {path}", file=sys.stderr)
