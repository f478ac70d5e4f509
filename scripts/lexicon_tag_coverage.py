"""How many MSRA test entities unseen in training would ``data.lexicon_tags`` name by type: entity strings that are
lexicon words matched fewer than ``--min-freq`` times in the training split (so, without tags, the one shared
"unknown word" id) and whether the word's lexicon tag is its type's (PER ``nr``/``nrt``/``nrfg``, LOC ``ns``, ORG
``nt``). Prints one JSON object; ``--record`` also writes it.

    python scripts/lexicon_tag_coverage.py [--lexicon jieba] [--record results/lexicon_tag_coverage.json]
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

import numpy as np
from seqeval.metrics.sequence_labeling import get_entities

from ner_lightning.data.corpora import corpus_path, split_official
from ner_lightning.data.lexicon import Lexicon
from ner_lightning.data.readers import read_column

TYPE_TAGS = {"PER": ("nr", "nrt", "nrfg"), "LOC": ("ns",), "ORG": ("nt",)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lexicon", default="jieba", help="data.lexicon (with a tag column)")
    parser.add_argument("--min-freq", type=int, default=2, help="data.lexicon_min_freq")
    parser.add_argument("--record", help="also write the JSON here")
    args = parser.parse_args()
    train, test = split_official("msra", list(read_column(corpus_path("msra"))))
    lexicon = Lexicon.load(args.lexicon, tags=True)
    index = {w: i for i, w in enumerate(lexicon.words)}
    seen_words = np.bincount(lexicon.match_all([s.text for s in train])[2], minlength=len(lexicon))
    seen_entities = {(t, s.text[a : b + 1]) for s in train for t, a, b in get_entities(s.tags)}
    counts: Counter[str] = Counter()
    for sentence in test:
        for kind, a, b in get_entities(sentence.tags):
            text = sentence.text[a : b + 1]
            counts[f"{kind} test entities"] += 1
            if (kind, text) in seen_entities:
                continue
            counts[f"{kind} unseen in training"] += 1
            at = index.get(text)
            if at is None or seen_words[at] >= args.min_freq:
                continue
            counts[f"{kind} unseen, a rare lexicon word"] += 1
            names = [*lexicon.tag_names, ""]
            counts[f"{kind} unseen, a rare lexicon word tagged {'/'.join(TYPE_TAGS[kind])}"] += (
                names[lexicon.tag_of[at]] in TYPE_TAGS[kind]
            )
    out = {"lexicon": args.lexicon, "min_freq": args.min_freq, "test_sentences": len(test)}
    out.update(sorted(counts.items()))
    line = json.dumps(out, ensure_ascii=False)
    print(line)
    if args.record:
        Path(args.record).write_text(json.dumps(out, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
