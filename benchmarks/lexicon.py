"""Costs of the lexicon features: loading the default lexicon (time, memory), data setup of MSRA with and without
bigram + SoftLexicon features, the share of each split's bigrams and word memberships unknown to the vocabulary, and
the share of predict time spent matching (at batch 64, given a lexicon checkpoint).

Each measurement runs in a fresh process (time and peak RSS over the interpreter's baseline after imports); the setups
with and without features alternate ``--rounds`` times and their medians are compared (the same load on both). The
last line is one JSON object; ``--record`` also writes it to a file.

    python benchmarks/lexicon.py [--ckpt outputs/.../checkpoints/epoch_...ckpt] [--record results/bench_lexicon.json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from statistics import median

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import write_record  # noqa: E402

LOAD = r"""
import json, resource, time
from ner_lightning.data.lexicon import Lexicon
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter(); lexicon = Lexicon.load("jieba"); took = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"words": len(lexicon), "longest": lexicon.max_len, "prefixes": len(lexicon.prefix_table),
                  "load_s": took, "load_mb": (peak - base) / 1024}))
"""

SETUP = r"""
import json, resource, sys, time
from ner_lightning.data.modules import BioDataModule
features = sys.argv[1] == "features"
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
dm = BioDataModule(corpus="msra", progress=False, bigrams=features, lexicon="jieba" if features else None)
t0 = time.perf_counter(); dm.setup(); took = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
out = {"setup_s": took, "peak_mb": (peak - base) / 1024,
       "store_mb": sum(d.nbytes() for d in dm.datasets.values()) / 2**20}
if features:  # what the vocabulary (built from the training split) does not know, per split
    out["unknown"] = {split: {"bigrams": float((d.bigrams == 1).mean()),
                              "word_memberships": float((d.lex_words == 2).sum() / (d.lex_words > 1).sum())}
                      for split, d in dm.datasets.items()}
print(json.dumps(out))
"""

PREDICT = r"""
import json, sys, time
import torch
from ner_lightning.data.corpora import corpus_path, split_official
from ner_lightning.data.features import encode_items
from ner_lightning.data.readers import read_column
from ner_lightning.inference.torch_backend import TorchPredictor
torch.set_num_threads(1)
tagger = TorchPredictor.load(sys.argv[1], device="cpu")
_, test = split_official("msra", list(read_column(corpus_path("msra"))))
texts = ["".join(s.chars) for s in test]
tagger.predict(texts[:64], batch_size=64)  # warm up (and load the lexicon)
t0 = time.perf_counter(); tagger.predict(texts, batch_size=64); total = time.perf_counter() - t0
t0 = time.perf_counter()
for i in range(0, len(texts), 64):  # as the predictor does: a batch of 64 at a time
    encode_items(tagger.vocab, [list(t) for t in texts[i : i + 64]])
features = time.perf_counter() - t0
print(json.dumps({"sentences": len(texts), "predict_s": total, "features_s": features,
                  "features_share": features / total}))
"""


def child(code: str, *args: str) -> dict:
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ckpt", help="a checkpoint trained with lexicon features (for the predict share)")
    parser.add_argument("--record", help="also write the JSON here")
    parser.add_argument("--rounds", type=int, default=3, help="setups of each kind, interleaved (medians compared)")
    args = parser.parse_args()
    result: dict = {"load": child(LOAD)}
    print(
        f"jieba lexicon: {result['load']['words']:,} words loaded and matcher built in "
        f"{result['load']['load_s']:.2f} s, {result['load']['load_mb']:.0f} MB (targets: <= 5 s, <= 200 MB)"
    )
    rounds = [(child(SETUP, "plain"), child(SETUP, "features")) for _ in range(max(1, args.rounds))]
    plain = min(rounds, key=lambda r: r[0]["setup_s"])[0] | {"setup_s": median(r[0]["setup_s"] for r in rounds)}
    features = min(rounds, key=lambda r: r[1]["setup_s"])[1] | {"setup_s": median(r[1]["setup_s"] for r in rounds)}
    result["setup"] = {
        "plain": plain,
        "features": features,
        "ratio": features["setup_s"] / plain["setup_s"],
        "rounds": [[p["setup_s"], f["setup_s"]] for p, f in rounds],
    }
    print(
        f"MSRA setup (median of {len(rounds)}, interleaved): {plain['setup_s']:.2f} s plain, "
        f"{features['setup_s']:.2f} s with bigrams + SoftLexicon ({result['setup']['ratio']:.2f}x; target <= 2x; "
        f"rounds {', '.join(f'{f / p:.2f}x' for p, f in result['setup']['rounds'])}); stored features "
        f"{features['store_mb']:.1f} MB"
    )
    for split, unknown in features["unknown"].items():
        print(
            f"{split}: {100 * unknown['bigrams']:.1f} % of bigrams and {100 * unknown['word_memberships']:.1f} % of "
            "SoftLexicon word memberships unknown to the vocabulary (built from the training split)"
        )
    if args.ckpt:
        result["predict"] = child(PREDICT, args.ckpt)
        p = result["predict"]
        print(
            f"predict {p['sentences']:,} MSRA test sentences at batch 64, 1 thread: {p['predict_s']:.2f} s, of which "
            f"feature encoding (matching) {p['features_s']:.2f} s = {100 * p['features_share']:.1f} % (target <= 20 %)"
        )
    write_record(args.record, "lexicon", sys.argv, result)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
