"""Entity-level scores with seqeval, in one fixed mode.

Mode: seqeval ``strict`` with the model scheme (IOB2 for BIO, IOBES for BIOES). An entity counts only when its
type and both boundaries match exactly; an ill-formed predicted sequence (e.g. a stray ``I-`` from a softmax head)
is not guessed into an entity. Gold tags are always well formed (stray tags are repaired or rejected on reading).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from seqeval.metrics import classification_report
from seqeval.scheme import IOB2, IOBES, Entities

from ner_lightning.base.labels import normalize_scheme

SEQEVAL_MODE = "strict"
_SCHEMES = {"BIO": IOB2, "BIOES": IOBES}


def entity_scores(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]], scheme: str = "BIO") -> dict[str, Any]:
    """Micro/macro P/R/F1 and per-type scores.

    Args:
        gold: gold tag sequences.
        pred: predicted tag sequences (same lengths).
        scheme: ``BIO`` or ``BIOES``.

    Returns:
        ``{"precision", "recall", "f1", "macro_f1", "per_type": {TYPE: {"precision", "recall", "f1", "support"}},
        "report": str}``; all zeros when there are no entities at all.
    """
    gold_l, pred_l = [list(g) for g in gold], [list(p) for p in pred]
    if not any(t != "O" for seq in gold_l + pred_l for t in seq):
        return {"precision": 0.0, "recall": 0.0, "f1": 0.0, "macro_f1": 0.0, "per_type": {}, "report": "no entities"}
    kwargs = {"mode": SEQEVAL_MODE, "scheme": _SCHEMES[normalize_scheme(scheme)], "zero_division": 0}
    with warnings.catch_warnings():  # seqeval averages empty arrays for types absent from one side
        warnings.simplefilter("ignore", RuntimeWarning)
        raw = classification_report(gold_l, pred_l, output_dict=True, **kwargs)
        text = classification_report(gold_l, pred_l, digits=4, **kwargs)
    micro = raw.get("micro avg", {"precision": 0.0, "recall": 0.0, "f1-score": 0.0})
    per_type = {
        k: {
            "precision": float(v["precision"]),
            "recall": float(v["recall"]),
            "f1": float(v["f1-score"]),
            "support": int(v["support"]),
        }
        for k, v in raw.items()
        if not k.endswith(" avg")
    }
    return {
        "precision": float(micro["precision"]),
        "recall": float(micro["recall"]),
        "f1": float(micro["f1-score"]),
        "macro_f1": float(raw.get("macro avg", {}).get("f1-score", 0.0)),
        "per_type": per_type,
        "report": text,
    }


def gather_rows(rows: list[tuple[int, Any, Any]]) -> list[tuple[Any, Any]]:
    """``(index, pred, gold)`` rows of every process (under ``torch.distributed``), one per sentence index.

    A distributed sampler pads each process's share with repeated sentences so all get the same number of batches;
    keeping one row per index counts each sentence exactly once. Rows come back as ``(gold, pred)`` sorted by index
    (index ``-1``, for batches without indices, is kept as is). Every process gets the same rows.
    """
    return [(gold, pred) for _, gold, pred in gather_indexed(rows)]


def gather_indexed(rows: list[tuple[int, Any, Any]]) -> list[tuple[int, Any, Any]]:
    """:func:`gather_rows` with each row's sentence index: ``(index, gold, pred)``."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        parts: list[Any] = [None] * dist.get_world_size()
        dist.all_gather_object(parts, rows)
        rows = [row for part in parts for row in part]
    unique: dict[int, tuple[int, Any, Any]] = {}
    unindexed = []
    for index, pred, gold in rows:
        if index < 0:
            unindexed.append((index, gold, pred))
        else:
            unique.setdefault(index, (index, gold, pred))
    return [unique[i] for i in sorted(unique)] + unindexed


def _spans(tags: Sequence[Sequence[str]], scheme: str) -> list[list[tuple[str, int, int]]]:
    """Entities of each tag sequence as seqeval's strict mode reads them: ``(type, start, end)``, end exclusive."""
    found: list[list[tuple[str, int, int]]] = [[] for _ in tags]
    for entity in Entities([list(t) for t in tags], _SCHEMES[normalize_scheme(scheme)]).entities:
        for e in entity:
            found[e.sent_id].append((e.tag, e.start, e.end))
    return found


def known_entities(chars: Sequence[Sequence[str]], tags: Sequence[Sequence[str]], scheme: str) -> set[tuple[str, str]]:
    """``(type, text)`` of every entity in these sentences (the training split's: what "seen" means)."""
    return {(t, "".join(c[a:b])) for c, spans in zip(chars, _spans(tags, scheme)) for t, a, b in spans}


def novelty_scores(
    gold: Sequence[Sequence[str]],
    pred: Sequence[Sequence[str]],
    texts: Sequence[Sequence[str]],
    known: set[tuple[str, str]],
    scheme: str = "BIO",
) -> dict[str, dict[str, float]]:
    """Scores on entities the training split has (same type and text: ``seen``) and on the others (``unseen``).

    A gold entity counts towards recall of its group, a predicted one towards precision of its own (by its
    predicted type and text); a hit is an exact match (strict mode, as :func:`entity_scores`).

    Returns:
        ``{"seen" | "unseen": {"precision", "recall", "f1", "support"}}`` (support: gold entities in the group).
    """
    counts = {group: [0, 0, 0] for group in ("seen", "unseen")}  # hits, gold, predicted
    for text, g_spans, p_spans in zip(texts, _spans(gold, scheme), _spans(pred, scheme)):
        predicted = set(p_spans)
        for t, a, b in g_spans:
            group = counts["seen" if (t, "".join(text[a:b])) in known else "unseen"]
            group[0] += (t, a, b) in predicted
            group[1] += 1
        for t, a, b in p_spans:
            counts["seen" if (t, "".join(text[a:b])) in known else "unseen"][2] += 1
    out = {}
    for group, (hit, n_gold, n_pred) in counts.items():
        p, r = hit / n_pred if n_pred else 0.0, hit / n_gold if n_gold else 0.0
        out[group] = {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0, "support": n_gold}
    return out


def token_accuracy(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]]) -> float:
    """Fraction of characters whose predicted tag equals the gold tag."""
    total = sum(len(g) for g in gold)
    right = sum(a == b for g, p in zip(gold, pred) for a, b in zip(g, p))
    return right / total if total else 0.0


def confusion_matrix(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]], labels: Sequence[str]) -> np.ndarray:
    """``(labels, labels)`` counts of characters: row = gold tag, column = predicted tag."""
    ids = {t: i for i, t in enumerate(labels)}
    g = np.fromiter((ids[t] for seq in gold for t in seq), dtype=np.int64)
    p = np.fromiter((ids[t] for seq in pred for t in seq), dtype=np.int64)
    return np.bincount(g * len(labels) + p, minlength=len(labels) ** 2).reshape(len(labels), len(labels))


def novelty_reference(
    sentences: dict[str, Sequence[Any]], split: str, scheme: str
) -> tuple[set[tuple[str, str]], list[list[str]]] | None:
    """What :func:`novelty_scores` needs for ``split`` from a data module's prepared sentences (``.chars``,
    ``.tags``): the training split's entities and the split's texts by index; ``None`` without labelled ones."""
    train, target = sentences.get("train"), sentences.get(split)
    if not train or target is None or any(s.tags is None for s in train):
        return None
    known = known_entities([s.chars for s in train], [s.tags for s in train], scheme)
    return known, [list(s.chars) for s in target]
