"""Data at scale: time and peak memory of ``NerDataModule.setup()`` and of one pass over the training batches at
1x, 4x and 16x MSRA (the official training file concatenated k times, written to a temp dir).

Each scale runs in a fresh process (peak RSS is per process); the interpreter's baseline RSS (after imports, before
reading) is subtracted. "Epoch" is one pass of the training DataLoader (bucketing, collation), the data side of an
epoch: the model's time is the same per sentence at every scale. The last line is one JSON object.

    python benchmarks/data_scale.py [--scales 1 4 16]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import write_record  # noqa: E402

CHILD = r"""
import json, resource, sys, time
from ner_lightning.data.modules import BioDataModule
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
dm = BioDataModule(train_path=sys.argv[1], test_path=None, dev_size=0, progress=False)
t0 = time.perf_counter(); dm.setup(); setup_s = time.perf_counter() - t0
setup_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter(); n = sum(int(b["mask"].size(0)) for b in dm.train_dataloader())
epoch_s = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"sentences": n, "chars": int(dm.datasets["train"].offsets[-1]), "setup_s": setup_s,
                  "epoch_s": epoch_s, "base_mb": base / 1024, "setup_peak_mb": (setup_peak - base) / 1024,
                  "peak_mb": (peak - base) / 1024, "store_mb": dm.datasets["train"].nbytes() / 2**20}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--record", default=None, help="also write the result with commit and hardware here")
    args = parser.parse_args()
    from itertools import islice

    from ner_lightning.data.corpora import CORPORA, corpus_path
    from ner_lightning.data.readers import read_column

    rows: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        official = islice(read_column(corpus_path("msra")), CORPORA["msra"].train_sentences)
        text = "".join("\n".join(f"{c}\t{t}" for c, t in zip(s.chars, s.tags)) + "\n\n" for s in official)
        for k in args.scales:
            path = Path(tmp) / f"train_{k}x.txt"
            path.write_text(text * k, encoding="utf-8")
            out = subprocess.run([sys.executable, "-c", CHILD, str(path)], capture_output=True, text=True, check=True)
            rows[f"{k}x"] = r = json.loads(out.stdout.strip().splitlines()[-1])
            print(
                f"{k:>3}x MSRA: {r['sentences']:,} sentences, {r['chars']:,} chars; setup {r['setup_s']:.1f} s, "
                f"peak +{r['setup_peak_mb']:.0f} MB over the interpreter ({r['base_mb']:.0f} MB); one pass over "
                f"the training batches {r['epoch_s']:.1f} s, peak +{r['peak_mb']:.0f} MB; encoded store "
                f"{r['store_mb']:.1f} MB",
                flush=True,
            )
    first = rows[f"{args.scales[0]}x"]
    result: dict[str, object] = {"scales": rows}
    for k in args.scales[1:]:
        r, f = rows[f"{k}x"], k / args.scales[0]
        result[f"setup_time_ratio_{k}x"] = round(r["setup_s"] / first["setup_s"] / f, 3)  # 1.0 = linear
        result[f"memory_ratio_{k}x"] = round(r["setup_peak_mb"] / first["setup_peak_mb"] / f, 3)
        result[f"epoch_time_ratio_{k}x"] = round(r["epoch_s"] / first["epoch_s"] / f, 3)
    result["peak_1x_mb"] = round(first["setup_peak_mb"], 1)
    result["peak_max_mb"] = round(rows[f"{args.scales[-1]}x"]["peak_mb"] + rows[f"{args.scales[-1]}x"]["base_mb"], 1)
    write_record(args.record, "data_scale", sys.argv, result)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
