"""Tag schemes (BIO/IOB2, IOB1, BIOES, BMES), scheme detection and span <-> tag conversion.

A span is ``(type, start, end)`` with ``end`` exclusive, in character positions.

Stray tags (an ``I-X`` with no open ``X`` entity, an ``E-X`` closing nothing, a ``B-X`` that a BIOES
sequence never closes) are handled by a policy: ``repair`` (default: the stray tag opens or closes an
entity as the obvious reading suggests, and the repair is counted) or ``strict`` (raise ``TagError``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal

from ner_lightning.base.labels import SCHEMES, Scheme, normalize_scheme

__all__ = ["SCHEMES", "Scheme", "normalize_scheme"]  # re-exported: the data layer's names for them

Policy = Literal["repair", "strict"]
Span = tuple[str, int, int]

OUTSIDE = "O"
_PREFIXES = {"B", "I", "M", "E", "S"}


class TagError(ValueError):
    """A tag that is malformed or breaks the scheme; ``position`` is its index in the sentence.

    ``stray`` is True for tags that the ``repair`` policy would have fixed.
    """

    def __init__(self, message: str, position: int, stray: bool = False) -> None:
        super().__init__(message)
        self.position = position
        self.stray = stray


_SPLIT_CACHE: dict[str, tuple[str, str | None]] = {OUTSIDE: (OUTSIDE, None)}


def split_tag(tag: str, position: int = 0) -> tuple[str, str | None]:
    """Split ``'B-PER'`` into ``('B', 'PER')``; ``'O'`` gives ``('O', None)``.

    ``B_PER`` is accepted as well as ``B-PER``. Valid tags are cached (corpora use a handful of tag strings).

    Raises:
        TagError: if the tag is neither ``O`` nor ``<prefix>-<TYPE>`` with a known prefix.
    """
    hit = _SPLIT_CACHE.get(tag)
    if hit is not None:
        return hit
    if len(tag) > 2 and tag[1] in "-_" and tag[0] in _PREFIXES:
        _SPLIT_CACHE[tag] = (tag[0], tag[2:])
        return tag[0], tag[2:]
    raise TagError(f"malformed tag {tag!r} (expected 'O' or one of B-/I-/M-/E-/S- followed by a type)", position)


def detect_scheme(tag_seqs: Iterable[Sequence[str]]) -> Scheme:
    """Guess the scheme of a corpus from its tag sequences.

    ``M-`` means BMES, ``E-``/``S-`` without ``M-`` means BIOES. Among B/I-only corpora, IOB1 is chosen when
    ``B-`` appears only right after a same-type tag (or never) while ``I-`` tags exist; otherwise BIO.
    """
    seqs = list(tag_seqs)
    seen = {split_tag(t)[0] for t in set().union(*map(set, seqs))} if seqs else set()
    if "M" in seen:
        return "BMES"
    if seen & {"E", "S"}:
        return "BIOES"
    if "I" not in seen:
        return "BIO"
    for tags in seqs:  # IOB1 unless some B-X follows O or another type (stops at the first one)
        prev_type: str | None = None
        for tag in tags:
            prefix, typ = split_tag(tag)
            if prefix == "B" and prev_type != typ:
                return "BIO"
            prev_type = typ
    return "IOB1"


def tags_to_spans(tags: Sequence[str], scheme: str = "BIO", policy: Policy = "repair") -> tuple[list[Span], int]:
    """Decode a tag sequence into entity spans.

    Args:
        tags: one tag per character.
        scheme: the scheme ``tags`` are written in.
        policy: ``repair`` counts and fixes stray tags, ``strict`` raises on the first one.

    Returns:
        ``(spans, n_repaired)``: spans sorted by start, and how many stray tags were repaired.

    Raises:
        TagError: on a malformed tag, or on a stray tag under ``strict``.
    """
    scheme = normalize_scheme(scheme)
    spans: list[Span] = []
    repaired = 0
    if all(t == OUTSIDE for t in tags):
        return spans, 0
    open_type: str | None = None
    start = 0

    def stray(msg: str, i: int) -> None:
        nonlocal repaired
        if policy == "strict":
            raise TagError(msg, i, stray=True)
        repaired += 1

    def close(end: int) -> None:
        nonlocal open_type
        if open_type is not None:
            spans.append((open_type, start, end))
        open_type = None

    closing = scheme in ("BIOES", "BMES")  # entities must be closed by E- (or be S-)
    for i, tag in enumerate(tags):
        prefix, typ = split_tag(tag, i)
        if prefix == OUTSIDE:
            if closing and open_type is not None:
                stray(f"entity {open_type} opened at {start} is not closed by an E- tag before position {i}", i)
            close(i)
            continue
        if not closing and prefix not in ("B", "I"):
            raise TagError(f"tag {tag!r} does not belong to scheme {scheme}", i)
        if prefix == "M":
            prefix = "I"  # M- (BMES) and I- (BIOES) both mean "inside"
        if prefix == "B":
            if closing and open_type is not None:
                stray(f"entity {open_type} opened at {start} is not closed before B-{typ} at {i}", i)
            close(i)
            open_type, start = typ, i
        elif prefix == "I":
            if open_type != typ:
                if scheme != "IOB1":
                    stray(f"stray I-{typ} at position {i} continues no {typ} entity", i)
                close(i)
                open_type, start = typ, i
        elif prefix == "E":
            if open_type != typ:
                stray(f"stray E-{typ} at position {i} closes no {typ} entity", i)
                close(i)
                open_type, start = typ, i
            close(i + 1)
        elif prefix == "S":
            if open_type is not None:
                stray(f"entity {open_type} opened at {start} is not closed before S-{typ} at {i}", i)
            close(i)
            spans.append((typ, i, i + 1))
    if closing and open_type is not None:
        stray(f"entity {open_type} opened at {start} is not closed at the end of the sentence", len(tags))
    close(len(tags))
    return spans, repaired


def spans_to_tags(spans: Iterable[Span], length: int, scheme: str = "BIO") -> list[str]:
    """Encode spans as tags of ``scheme``.

    Raises:
        ValueError: if spans overlap or fall outside ``[0, length)``.
    """
    scheme = normalize_scheme(scheme)
    tags = [OUTSIDE] * length
    prev_end, prev_type = -1, None
    for typ, start, end in sorted(spans, key=lambda s: (s[1], s[2])):
        if not 0 <= start < end <= length:
            raise ValueError(f"span ({typ}, {start}, {end}) is outside a sentence of length {length}")
        if start < prev_end:
            raise ValueError(f"span ({typ}, {start}, {end}) overlaps the previous span ending at {prev_end}")
        if scheme in ("BIO", "IOB1"):
            inside = [f"I-{typ}"] * (end - start)
            if scheme == "BIO" or (start == prev_end and prev_type == typ):
                inside[0] = f"B-{typ}"
            tags[start:end] = inside
        else:
            mid = "M" if scheme == "BMES" else "I"
            if end - start == 1:
                tags[start] = f"S-{typ}"
            else:
                tags[start:end] = [f"B-{typ}"] + [f"{mid}-{typ}"] * (end - start - 2) + [f"E-{typ}"]
        prev_end, prev_type = end, typ
    return tags


def labels_for(types: Iterable[str], scheme: str = "BIO") -> list[str]:
    """The label vocabulary in a fixed order: ``O`` then, per sorted type, the scheme's prefixes.

    >>> labels_for(["PER", "LOC"])
    ['O', 'B-LOC', 'I-LOC', 'B-PER', 'I-PER']
    """
    scheme = normalize_scheme(scheme)
    prefixes = {"BIO": "BI", "IOB1": "BI", "BIOES": "BIES", "BMES": "BMES"}[scheme]
    return [OUTSIDE] + [f"{p}-{t}" for t in sorted(set(types)) for p in prefixes]
