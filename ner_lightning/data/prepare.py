"""From read sentences to model-ready sentences: scheme conversion, stray-tag policy, long-sentence splits."""

from __future__ import annotations

from collections.abc import Iterable

from ner_lightning.data.readers import ReadStats, Sentence
from ner_lightning.data.tags import (
    Policy,
    Span,
    TagError,
    detect_scheme,
    normalize_scheme,
    spans_to_tags,
    tags_to_spans,
)
from ner_lightning.errors import DataError

# Cut points for long sentences, strongest first: sentence ends, then clause marks.
SENTENCE_END = set("。！？；!?;…")
CLAUSE_END = set("，,、：:")


def resolve_scheme(sentences: Iterable[Sentence], scheme: str) -> str:
    """``scheme`` itself, or the scheme detected from the labelled sentences when ``scheme == 'auto'``."""
    if scheme.lower() != "auto":
        return normalize_scheme(scheme)
    return detect_scheme(s.tags for s in sentences if s.tags is not None)


def sentence_spans(sentence: Sentence, scheme: str, policy: Policy, stats: ReadStats) -> list[Span]:
    """Decode a sentence's tags into spans, counting repairs; strict errors name ``path:line``."""
    assert sentence.tags is not None
    try:
        spans, repaired = tags_to_spans(sentence.tags, scheme, policy)
    except TagError as err:
        pos = min(err.position, len(sentence) - 1)
        hint = " (tag_policy=strict)" if err.stray else ""
        raise DataError(f"{sentence.where(pos)}: {err}{hint}") from None
    stats.repaired_tags += repaired
    return spans


def _cut_points(chars: list[str], spans: list[Span], max_len: int) -> list[int]:
    """Positions where to cut so that every piece has at most ``max_len`` chars.

    Prefers the last sentence end within the window, then the last clause mark, then any position outside an
    entity, and only then a hard cut at ``max_len``.
    """
    inside = bytearray(len(chars) + 1)  # inside[i] = 1 when a cut before i would break an entity
    for _, s, e in spans:
        inside[s + 1 : e] = b"\x01" * (e - s - 1)
    cuts: list[int] = []
    start = 0
    while len(chars) - start > max_len:
        window = range(start + max_len, start, -1)  # candidate cut positions, latest first
        cut = next((i for i in window if chars[i - 1] in SENTENCE_END and not inside[i]), None)
        cut = cut or next((i for i in window if chars[i - 1] in CLAUSE_END and not inside[i]), None)
        cut = cut or next((i for i in window if not inside[i]), None)
        cut = cut or start + max_len
        cuts.append(cut)
        start = cut
    return cuts


def split_long(
    chars: list[str], spans: list[Span] | None, max_len: int | None, stats: ReadStats
) -> list[tuple[int, int, list[Span] | None]]:
    """Split a sentence longer than ``max_len`` at punctuation; never drops characters.

    Returns:
        ``(start, end, spans)`` per piece, spans relative to the piece. Entities cut by a hard split become two
        entities and are counted in ``stats.cut_entities``.
    """
    cuts = _cut_points(chars, spans or [], max_len) if max_len else []
    if not cuts:
        return [(0, len(chars), spans)]
    stats.split_sentences += 1
    stats.split_pieces += len(cuts) + 1
    stats.cut_entities += sum(any(s < c < e for c in cuts) for _, s, e in spans or [])
    bounds = [0, *cuts, len(chars)]
    pieces: list[tuple[int, int, list[Span] | None]] = []
    for a, b in zip(bounds[:-1], bounds[1:]):
        piece_spans = None
        if spans is not None:
            piece_spans = []
            for typ, s, e in spans:
                if s < b and e > a:
                    piece_spans.append((typ, max(s, a) - a, min(e, b) - a))
        pieces.append((a, b, piece_spans))
    return pieces


def known_spans(
    sentence: Sentence, spans: list[Span], known: set[str], policy: Policy, stats: ReadStats, unknown_policy: str
) -> list[Span]:
    """``spans`` whose type is among the training labels ``known``.

    Other types (seen only in dev/test) are dropped to ``O`` and counted in ``stats.unknown_type_entities`` under
    ``repair``; under ``strict`` (or ``unknown_policy='error'``, as when scoring a checkpoint) they are an error.
    """
    kept = [s for s in spans if s[0] in known]
    if len(kept) == len(spans):
        return spans
    typ, start, _ = next(s for s in spans if s[0] not in known)
    if policy == "strict" or unknown_policy == "error":
        hint = " (tag_policy=strict)" if unknown_policy != "error" else ""
        raise DataError(f"{sentence.where(start)}: entity type {typ!r} is not among the labels {sorted(known)}{hint}")
    stats.unknown_type_entities += len(spans) - len(kept)
    for t, *_ in spans:
        if t not in known:
            stats.unknown_types[t] += 1
    return kept


def prepare_split(
    sentences: Iterable[Sentence],
    source_scheme: str,
    target_scheme: str = "BIO",
    policy: Policy = "repair",
    max_len: int | None = None,
    stats: ReadStats | None = None,
    known_types: set[str] | None = None,
    unknown_policy: str = "policy",
) -> list[Sentence]:
    """Convert tags to ``target_scheme`` and split long sentences; counts go to ``stats``.

    Entities per type are counted in ``stats.entities``. Empty sentences are rejected (counted). Unlabelled
    sentences pass through (split if long). With ``known_types`` (the training labels), entities of other types
    are handled by :func:`known_spans`.
    """
    stats = stats if stats is not None else ReadStats()
    target_scheme = normalize_scheme(target_scheme)
    out: list[Sentence] = []
    for sent in sentences:
        stats.read += 1
        if len(sent) == 0:
            stats.reject(f"{sent.where()}: empty sentence")
            continue
        spans = sentence_spans(sent, source_scheme, policy, stats) if sent.tags is not None else None
        if spans is not None and known_types is not None:
            spans = known_spans(sent, spans, known_types, policy, stats, unknown_policy)
        for a, b, piece_spans in split_long(sent.chars, spans, max_len, stats):
            tags = None
            if piece_spans is not None:
                tags = spans_to_tags(piece_spans, b - a, target_scheme)
                stats.entities.update(t for t, _, _ in piece_spans)
            out.append(Sentence(sent.chars[a:b], tags, sent.source, sent.line + a))
        stats.used += 1
    return out
