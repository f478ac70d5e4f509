"""How much of a character's SoftLexicon vector the unknown-word ids hold on MSRA's official test set: for the
characters of test entities seen and unseen in training, the mean share of the pooling weight (``4/Z``, ``Z`` over
all four sets) held by lexicon words rare in the training split (the ids ``data.lexicon_tags`` gives a tag), under
each ``data.lexicon_weights`` (``train``, ``train_uncovered``) and ``data.lexicon_unknown_weight``. Empty sets'
``NONE`` ids are left out of ``Z`` here. Prints one JSON object; ``--record`` also writes it.

    python scripts/lexicon_unknown_share.py [--lexicon jieba] [--record results/lexicon_unknown_share.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from seqeval.metrics.sequence_labeling import get_entities

from ner_lightning.data.corpora import corpus_path, split_official
from ner_lightning.data.features import covered
from ner_lightning.data.lexicon import Lexicon
from ner_lightning.data.readers import read_column


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lexicon", default="jieba", help="data.lexicon")
    parser.add_argument("--min-freq", type=int, default=2, help="data.lexicon_min_freq")
    parser.add_argument("--unknown-weights", type=float, nargs="+", default=[1, 10, 30, 100])
    parser.add_argument("--record", help="also write the JSON here")
    args = parser.parse_args()
    train, test = split_official("msra", list(read_column(corpus_path("msra"))))
    lexicon = Lexicon.load(args.lexicon)
    starts, ends, words, _ = lexicon.match_all([s.text for s in train])
    seen = np.bincount(words, minlength=len(lexicon))
    counts = {"train": seen, "train_uncovered": np.bincount(words[~covered(starts, ends)], minlength=len(lexicon))}
    known = seen >= args.min_freq
    seen_entities = {(t, s.text[a : b + 1]) for s in train for t, a, b in get_entities(s.tags)}
    t_starts, t_ends, t_words, offsets = lexicon.match_all([s.text for s in test])
    positions, in_seen = [], []  # every character of a test entity, in the test texts laid end to end
    for i, sentence in enumerate(test):
        for kind, a, b in get_entities(sentence.tags):
            positions += range(offsets[i] + a, offsets[i] + b + 1)
            in_seen += [(kind, sentence.text[a : b + 1]) in seen_entities] * (b + 1 - a)
    at, is_seen = np.asarray(positions), np.asarray(in_seen)
    # shape: (memberships,) each match once per character it covers
    length = t_ends - t_starts
    char = np.repeat(t_starts, length) + np.arange(length.sum()) - np.repeat(np.cumsum(length) - length, length)
    word = np.repeat(t_words, length)
    out: dict[str, object] = {"lexicon": args.lexicon, "min_freq": args.min_freq, "test_sentences": len(test)}
    rare_any = np.bincount(char, weights=~known[word], minlength=offsets[-1])[at] > 0
    out["unseen-entity characters"], out["seen-entity characters"] = int((~is_seen).sum()), int(is_seen.sum())
    out["unseen-entity characters in a rare word"] = round(float(rare_any[~is_seen].mean()), 4)
    for name, count in counts.items():
        for unknown in args.unknown_weights:
            weight = np.where(known, count + 1, unknown).astype(np.float64)
            total = np.bincount(char, weights=weight[word], minlength=offsets[-1])[at]
            rare = np.bincount(char, weights=np.where(known[word], 0.0, weight[word]), minlength=offsets[-1])[at]
            share = np.divide(rare, total, out=np.zeros_like(total), where=total > 0)
            for key, pick in (("unseen", ~is_seen), ("seen", is_seen)):
                out[f"{name} unknown_weight={unknown:g}: rare share, {key}-entity characters"] = round(
                    float(share[pick].mean()), 4
                )
    print(json.dumps(out, ensure_ascii=False))
    if args.record:
        Path(args.record).write_text(json.dumps(out, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
