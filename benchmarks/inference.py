"""Inference speed and parity: eager PyTorch vs ONNX Runtime fp32 vs INT8, and the server under load.

On the MSRA official test set (4,631 sentences) for each checkpoint given: sentences/s in batches, p50/p95 latency of
one 50-character sentence, size on disk, entity F1, sentences whose tags differ from eager. Then the server, for the
first model's eager and INT8 backends, at concurrency 1, 8 and 32 on localhost (client and server share the
machine; ApacheBench ``ab`` as the client where installed, else Python threads): requests/s, p50/p99 latency,
against the batch-mode sentences/s of the same backend on the same sentence. The reference
(eager PyTorch) is measured in the same run. Last line: JSON.

    python benchmarks/inference.py --ckpt outputs/.../best.ckpt [--ckpt another.ckpt] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def test_split(ckpt: str) -> tuple[list[str], list[list[str]]]:
    """Texts and gold tags of the checkpoint's test split (its own data config, as evaluate reads it)."""
    from ner_lightning.data.stored import datamodule_from_settings
    from ner_lightning.models.checkpoint import load_checkpoint

    dm = datamodule_from_settings(load_checkpoint(ckpt).hparams, {}, ckpt)
    dm.progress = False
    dm.setup()
    sents = dm.sentences["test"]
    return ["".join(s.chars) for s in sents], [s.tags for s in sents]


def measure_all(
    taggers: dict[str, Any], texts: list[str], gold: list[list[str]], one: str, reps: int, rounds: int = 3
) -> dict[str, dict[str, Any]]:
    """Per backend: throughput in batches of 64 (median of ``rounds`` full passes), latency of one sentence at
    batch 1 (``reps`` calls), F1 against gold. Backends alternate pass by pass and call by call (ABAB...), so load
    on a shared machine hits them alike; each throughput also reports its spread (min-max over passes)."""
    from ner_lightning.models.metrics import entity_scores

    names = list(taggers)
    for t in taggers.values():  # warm-up
        t.predict_tags(texts[:64])
        for _ in range(10):
            t.predict_tags([one])
    passes: dict[str, list[float]] = {n: [] for n in names}
    tags: dict[str, Any] = {}
    for r in range(rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            start = time.perf_counter()
            tags[name] = taggers[name].predict_tags(texts, batch_size=64)
            passes[name].append(time.perf_counter() - start)
    lat: dict[str, list[float]] = {n: [] for n in names}
    for i in range(reps):
        for name in names if i % 2 == 0 else names[::-1]:
            t0 = time.perf_counter()
            taggers[name].predict_tags([one])
            lat[name].append(1000 * (time.perf_counter() - t0))
    rows = {}
    for name, tagger in taggers.items():
        f1 = entity_scores(gold, [[tagger.labels[i] for i in t] for t in tags[name]], tagger.scheme)["f1"]
        rows[name] = {
            "sentences_per_s": len(texts) / statistics.median(passes[name]),
            "sentences_per_s_spread": [
                round(len(texts) / max(passes[name]), 1),
                round(len(texts) / min(passes[name]), 1),
            ],
            "p50_ms": statistics.median(lat[name]),
            "p95_ms": percentile(lat[name], 95),
            "f1": 100 * f1,
            "_tags": tags[name],
        }
    return rows


def bench_model(ckpt: str, threads: int, out_dir: Path, reps: int, index: int = 0) -> dict[str, Any]:
    """Eager, ONNX fp32 and ONNX INT8 rows for one checkpoint."""
    import torch

    from ner_lightning.inference.onnx_backend import OnnxPredictor
    from ner_lightning.inference.onnx_export import export_onnx, quantize_int8, write_sidecar
    from ner_lightning.inference.torch_backend import TorchPredictor
    from ner_lightning.models.checkpoint import load_checkpoint

    torch.set_num_threads(threads)
    texts, gold = test_split(ckpt)
    one = next(t for t in texts if len(t) >= 50)[:50]
    stem = out_dir / f"{index}_{Path(ckpt).stem}"  # checkpoints of several runs may share a file name
    fp32, int8 = stem.with_suffix(".onnx"), Path(f"{stem}.int8.onnx")
    model = load_checkpoint(ckpt)
    export_onnx(model, fp32)
    write_sidecar(model, fp32, ckpt, {})
    quantize_int8(fp32, int8)
    write_sidecar(model, int8, ckpt, {})
    taggers: dict[str, Any] = {"eager": TorchPredictor(load_checkpoint(ckpt), device="cpu")}
    sizes = {"eager": Path(ckpt).stat().st_size}
    for name, path in (("onnx_fp32", fp32), ("onnx_int8", int8)):
        taggers[name] = OnnxPredictor(path, threads=threads)
        sizes[name] = path.stat().st_size
    rows: dict[str, Any] = {
        n: {**row, "bytes": sizes[n]} for n, row in measure_all(taggers, texts, gold, one, reps).items()
    }
    ref = rows["eager"]["_tags"]
    for row in rows.values():
        row["mismatched_sentences"] = sum(a != b for a, b in zip(ref, row.pop("_tags")))
        row["throughput_x"] = row["sentences_per_s"] / rows["eager"]["sentences_per_s"]
        row["latency_x"] = rows["eager"]["p50_ms"] / row["p50_ms"]
        row["f1_drop"] = rows["eager"]["f1"] - row["f1"]
    encoder = (model.hparams.encoder or {}).get("type", "bilstm")
    return {
        "checkpoint": ckpt, "encoder": encoder, "head": (model.hparams.head or {}).get("type"),
        "params": sum(p.numel() for p in model.parameters()), "sentences": len(texts), "rows": rows,
        "onnx_int8": str(int8), "texts": texts, "taggers": taggers,
    }  # fmt: skip


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _python_load(url: str, text: str, conc: int, requests: int) -> dict[str, float]:
    """Fallback load generator (threads + httpx); costs far more CPU per request than ``ab``."""
    import httpx

    with httpx.Client(timeout=120, limits=httpx.Limits(max_connections=64)) as client:

        def call(_: int) -> float:
            t0 = time.perf_counter()
            client.post(f"{url}/predict", json={"texts": [text]}).raise_for_status()
            return 1000 * (time.perf_counter() - t0)

        start = time.perf_counter()
        with ThreadPoolExecutor(conc) as pool:
            lat = list(pool.map(call, range(requests)))
        elapsed = time.perf_counter() - start
    return {"requests_per_s": requests / elapsed, "p50_ms": statistics.median(lat), "p99_ms": percentile(lat, 99)}


def _ab_load(url: str, text: str, conc: int, requests: int) -> dict[str, float]:
    """ApacheBench (``ab``, Debian's apache2-utils): a C client, ``requests`` POSTs, ``conc`` in flight."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False, encoding="utf-8") as fh:
        json.dump({"texts": [text]}, fh, ensure_ascii=False)
    out = subprocess.run(
        ["ab", "-q", "-n", str(requests), "-c", str(conc), "-p", fh.name, "-T", "application/json", f"{url}/predict"],
        capture_output=True, text=True, check=True, timeout=600,
    ).stdout  # fmt: skip
    os.unlink(fh.name)
    failed = int(re.search(r"Failed requests:\s+(\d+)", out).group(1))
    non2xx = re.search(r"Non-2xx responses:\s+(\d+)", out)
    if failed or non2xx:
        raise RuntimeError(f"ab: {failed} failed, {non2xx.group(1) if non2xx else 0} non-2xx requests")
    pct = {int(m.group(1)): float(m.group(2)) for m in re.finditer(r"^\s+(\d+)%\s+(\d+)", out, re.M)}
    rate = float(re.search(r"Requests per second:\s+([\d.]+)", out).group(1))
    return {"requests_per_s": rate, "p50_ms": pct[50], "p99_ms": pct[99]}


def bench_server(model_path: str, text: str, threads: int, requests: int) -> dict[str, Any]:
    """Requests/s and latency at concurrency 1, 8, 32: ``requests`` POSTs of one sentence each per level."""
    import httpx

    port = free_port()
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    args = [sys.executable, "-m", "ner_lightning.serve", f"ckpt_path={model_path}", f"port={port}", "max_batch_size=32"]
    if model_path.endswith(".onnx"):
        args.append(f"threads={threads}")
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    load = _ab_load if shutil.which("ab") else _python_load
    out: dict[str, Any] = {"client": "ab (apache2-utils)" if load is _ab_load else "python threads + httpx"}
    try:
        for _ in range(600):
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        for conc in (1, 8, 32):
            out[f"c{conc}"] = load(url, text, conc, requests)
    finally:  # the server and anything it started (its own process group)
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ckpt", action="append", required=True, help="a checkpoint (repeat for several)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--reps", type=int, default=200, help="timed single-sentence calls")
    parser.add_argument("--requests", type=int, default=400, help="requests per concurrency level")
    parser.add_argument("--out-dir", default="outputs/bench_inference")
    parser.add_argument("--record", default=None, help="also write the result as JSON here (e.g. results/...)")
    opts = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", str(opts.threads))
    out_dir = Path(opts.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    models = [bench_model(c, opts.threads, out_dir, opts.reps, i) for i, c in enumerate(opts.ckpt)]
    print(f"{'model':<34} {'backend':<10} {'sent/s':>8} {'x':>5} {'p50 ms':>7} {'x':>5} {'p95 ms':>7} "
          f"{'MB':>6} {'F1':>6} {'drop':>5} {'mism':>5}")  # fmt: skip
    for m in models:
        for name, r in m["rows"].items():
            print(
                f"{Path(m['checkpoint']).name[:34]:<34} {name:<10} {r['sentences_per_s']:>8.1f} "
                f"{r['throughput_x']:>5.2f} {r['p50_ms']:>7.2f} {r['latency_x']:>5.2f} {r['p95_ms']:>7.2f} "
                f"{r['bytes'] / 1e6:>6.1f} {r['f1']:>6.2f} {r['f1_drop']:>5.2f} {r['mismatched_sentences']:>5}"
            )
    first = models[0]
    servers: dict[str, Any] = {}
    # requests and the batch-mode reference tag the same sentence (a typical MSRA test sentence)
    text = sorted(first["texts"], key=len)[len(first["texts"]) // 2]
    for backend, path in (("eager", first["checkpoint"]), ("onnx_int8", first["onnx_int8"])):
        tagger = first["taggers"][backend]
        tagger.predict_tags([text] * 64)
        start = time.perf_counter()
        tagger.predict_tags([text] * 2000, batch_size=64)
        batch_rate = 2000 / (time.perf_counter() - start)
        levels = bench_server(path, text, opts.threads, opts.requests)
        for level in ("c1", "c8", "c32"):
            r = levels[level]
            r["vs_batch_mode"] = r["requests_per_s"] / batch_rate
            print(
                f"server {backend:<9} {level:<4} (1 sentence/request): {r['requests_per_s']:7.1f} req/s, p50 "
                f"{r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms, {100 * r['vs_batch_mode']:.0f}% of batch mode"
            )
        servers[backend] = {
            "model": path,
            "sentence_chars": len(text),
            "batch_mode_sentences_per_s": batch_rate,
            **levels,
        }
    result = {
        "hardware": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, threads={opts.threads}",
        "models": [{k: v for k, v in m.items() if k not in ("texts", "taggers")} for m in models],
        "server": servers,
    }
    if opts.record:
        Path(opts.record).write_text(json.dumps(result, indent=1), encoding="utf-8")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
