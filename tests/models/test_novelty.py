"""Scores on test entities seen in the training split (same type and text) and on unseen ones."""

from __future__ import annotations

import random

import pytest

from ner_lightning.models.metrics import entity_scores, known_entities, novelty_scores

TYPES = ("PER", "LOC")


def _random_sentence(rng: random.Random, n: int) -> tuple[list[str], list[str]]:
    chars = [rng.choice("abcd") for _ in range(n)]
    tags, i = [], 0
    while i < n:
        if rng.random() < 0.3:
            t, k = rng.choice(TYPES), min(rng.randint(1, 3), n - i)
            tags += [f"B-{t}"] + [f"I-{t}"] * (k - 1)
            i += k
        else:
            tags.append("O")
            i += 1
    return chars, tags


def _brute(gold, pred, texts, known) -> dict[str, tuple[int, int, int]]:  # type: ignore[no-untyped-def]
    def spans(tags: list[str]) -> set[tuple[str, int, int]]:
        out, start = set(), None
        for i, t in enumerate([*tags, "O"]):
            if start is not None and not t.startswith("I-"):
                out.add((tags[start][2:], start, i))
                start = None
            if t.startswith("B-"):
                start = i
        return out

    counts = {"seen": [0, 0, 0], "unseen": [0, 0, 0]}
    for g, p, text in zip(gold, pred, texts):
        gs, ps = spans(g), spans(p)
        for t, a, b in gs:
            group = "seen" if (t, "".join(text[a:b])) in known else "unseen"
            counts[group][1] += 1
            counts[group][0] += (t, a, b) in ps
        for t, a, b in ps:
            counts["seen" if (t, "".join(text[a:b])) in known else "unseen"][2] += 1
    return {k: tuple(v) for k, v in counts.items()}  # type: ignore[misc]


@pytest.mark.parametrize("seed", range(5))
def test_novelty_scores_equal_brute_force_and_add_up_to_the_whole(seed: int) -> None:
    rng = random.Random(seed)
    train = [_random_sentence(rng, rng.randint(1, 12)) for _ in range(30)]
    known = known_entities([c for c, _ in train], [t for _, t in train], "BIO")
    test = [_random_sentence(rng, rng.randint(1, 12)) for _ in range(40)]
    texts, gold = [c for c, _ in test], [t for _, t in test]
    pred = [_random_sentence(rng, len(c))[1] if rng.random() < 0.5 else list(t) for c, t in test]
    got = novelty_scores(gold, pred, texts, known, "BIO")
    want = _brute(gold, pred, texts, known)
    assert {k: v["support"] for k, v in got.items()} == {k: v[1] for k, v in want.items()}
    for group, (hit, n_gold, n_pred) in want.items():
        assert got[group]["recall"] == pytest.approx(hit / n_gold if n_gold else 0.0)
        assert got[group]["precision"] == pytest.approx(hit / n_pred if n_pred else 0.0)
    whole = entity_scores(gold, pred, "BIO")
    hits = sum(v[0] for v in want.values())
    assert whole["recall"] == pytest.approx(hits / sum(v[1] for v in want.values()))
    assert 0 < got["seen"]["support"] and 0 < got["unseen"]["support"]  # both groups are exercised


def test_seen_means_same_type_and_text() -> None:
    known = known_entities([list("北京人")], [["B-LOC", "I-LOC", "O"]], "BIO")
    assert known == {("LOC", "北京")}
    texts = [list("北京"), list("北京"), list("上海")]
    gold = [["B-LOC", "I-LOC"], ["B-ORG", "I-ORG"], ["B-LOC", "I-LOC"]]
    pred = [["B-LOC", "I-LOC"], ["O", "O"], ["B-LOC", "O"]]
    got = novelty_scores(gold, pred, texts, known, "BIO")
    assert got["seen"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 1}
    # unseen: the ORG 北京 (missed) and 上海 (predicted as 上 LOC: a wrong span, unseen too)
    assert got["unseen"]["support"] == 2 and got["unseen"]["recall"] == 0.0 and got["unseen"]["precision"] == 0.0
