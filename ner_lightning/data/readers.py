"""Corpus readers: character-per-line column files and CLUENER2020 JSON.

Readers yield :class:`Sentence` objects with the corpus' own tags (no scheme conversion) and fill a
:class:`ReadStats` so that every sentence read is either used or counted as rejected.
Unparseable input raises :class:`DataError` whose message starts with ``path:line:``.
"""

from __future__ import annotations

import io
import json
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from ner_lightning.data.tags import OUTSIDE, Span, TagError, spans_to_tags, split_tag
from ner_lightning.errors import DataError

OnError = Literal["raise", "reject"]


@dataclass
class Sentence:
    """One labelled (or unlabelled) sentence.

    Attributes:
        chars: one token per character (length ``n``).
        tags: one tag per character (length ``n``), or ``None`` for unlabelled text.
        source: file the sentence came from.
        line: 1-based line of its first character (column files) or record number (CLUENER).
    """

    chars: list[str]
    tags: list[str] | None
    source: str = "<memory>"
    line: int = 0

    def __len__(self) -> int:
        return len(self.chars)

    def where(self, position: int = 0) -> str:
        """``path:line`` of the character at ``position`` (column files hold one character per line)."""
        return f"{self.source}:{self.line + position}"

    @property
    def text(self) -> str:
        """The sentence as one string."""
        return "".join(self.chars)


@dataclass
class ReadStats:
    """Counts from reading (and preparing) one split; every sentence read is used or rejected."""

    read: int = 0
    used: int = 0
    rejected: int = 0
    repaired_tags: int = 0
    split_sentences: int = 0
    split_pieces: int = 0
    cut_entities: int = 0
    overlapping_dropped: int = 0
    unknown_type_entities: int = 0
    stripped_position_digits: int = 0
    replacement_chars: int = 0  # runs of U+FFFD (a broken conversion's bytes) read as one unknown character each
    entities: Counter[str] = field(default_factory=Counter)
    unknown_types: Counter[str] = field(default_factory=Counter)
    messages: list[str] = field(default_factory=list)

    def reject(self, message: str) -> None:
        """Count a rejected sentence and keep its message (first 20 kept)."""
        self.rejected += 1
        if len(self.messages) < 20:
            self.messages.append(message)

    def minus(self, other: ReadStats) -> ReadStats:
        """The counts of this minus ``other`` (an earlier snapshot of the same reading); messages after it."""
        out = ReadStats(**{k: getattr(self, k) - getattr(other, k) for k in self.as_dict()})
        out.entities, out.unknown_types = self.entities - other.entities, self.unknown_types - other.unknown_types
        out.messages = self.messages[len(other.messages) :]
        return out

    def as_dict(self) -> dict[str, int]:
        """The counts as a plain dict (no messages, no entity counts)."""
        return {k: v for k, v in self.__dict__.items() if k not in ("messages", "entities", "unknown_types")}


def _parse_column_line(raw: str, path: str, lineno: int) -> tuple[str, str]:
    """Split ``char<tab or spaces>tag``; a tab separator allows the char to be a space."""
    parts = raw.split("\t") if "\t" in raw else raw.split()
    char, tag = "", ""
    if len(parts) == 2:
        # with a tab separator the character itself may be a space
        char = parts[0] if parts[0].strip() == "" else parts[0].strip()
        tag = parts[1].strip()
    if not char or not tag or len(tag.split()) != 1:
        raise DataError(f"{path}:{lineno}: expected 'char<whitespace>tag', got {raw!r}")
    try:
        split_tag(tag)
    except TagError as err:
        raise DataError(f"{path}:{lineno}: {err}: {raw!r}") from None
    return char, tag


TokenFormat = Literal["char", "char_digit"]
TOKEN_FORMATS = ("char", "char_digit")


def _check_token(token: str, fmt: TokenFormat, path: str, lineno: int, stats: ReadStats | None) -> str:
    """The character of a column line's token.

    ``char``: the token must be exactly one character. ``char_digit``: a character followed by its word-position
    number, as some social-media corpora (Weibo NER) ship it (``中0``, ``p10``: positions pass 9 in long words); the
    number is stripped and counted. A run of U+FFFD before the number (an older conversion's broken bytes, ``��0``)
    is one unknown character, counted in ``replacement_chars``.
    """
    if fmt == "char_digit":
        body = token.rstrip("0123456789")
        if body and len(body) < len(token) and (len(body) == 1 or set(body) == {"\ufffd"}):
            if stats is not None:
                stats.stripped_position_digits += 1
                stats.replacement_chars += body[0] == "\ufffd"
            return body[0]
        raise DataError(
            f"{path}:{lineno}: token {token!r} is not a character followed by its position number "
            "(data.token_format=char_digit)"
        )
    hint = (
        "; for Weibo-style 'character + position digit' tokens set data.token_format=char_digit"
        if len(token) == 2 and token[1].isdigit()
        else ""
    )
    raise DataError(
        f"{path}:{lineno}: token {token!r} has {len(token)} characters; a column corpus holds one character per "
        f"line{hint}"
    )


def check_file(path: str | Path, key: str) -> Path:
    """``path`` as a readable regular file, or one error line saying what it is instead (naming the config key)."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file ({key})")
    if path.is_dir():
        raise DataError(f"{path}: is a directory, not a file ({key})")
    if not path.is_file():
        raise DataError(f"{path}: is not a regular file (a pipe, socket or device) ({key})")
    return path


def read_column(
    path: str | Path, encoding: str = "utf-8", token_format: TokenFormat = "char", stats: ReadStats | None = None
) -> Iterator[Sentence]:
    """Read a column corpus: one ``char<whitespace>tag`` per line, a blank line between sentences.

    Tab or space separated; CRLF line ends and a UTF-8 BOM are handled; ``-DOCSTART-`` lines end a sentence.
    Every token is one character (``token_format='char'``) or a character plus a position digit (``'char_digit'``,
    the digit stripped and counted in ``stats.stripped_position_digits``).

    Raises:
        DataError: ``path:line: ...`` for a line that does not parse, a token that is not one character, or a file
            that is not valid text.
    """
    path = str(path)
    chars: list[str] = []
    tags: list[str] = []
    start = 0
    enc = "utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding
    try:
        with open(path, encoding=enc, newline="") as fh:
            text = fh.read()
    except UnicodeDecodeError as err:
        line = err.object[: err.start].count(b"\n") + 1
        raise DataError(f"{path}:{line}: not valid {encoding} text ({err.reason})") from None
    except LookupError:
        raise DataError(f"data.encoding={encoding!r}: unknown text encoding (reading {path})") from None
    valid_tags: set[str] = set()
    # line by line from the text (a list of every line would double the peak memory of a large corpus); universal
    # newlines: LF, CRLF and CR-only files read alike
    for lineno, raw in enumerate(io.StringIO(text, newline=None), 1):
        raw = raw[:-1] if raw.endswith("\n") else raw
        raw = raw[:-1] if raw.endswith("\r") else raw
        parts = raw.split("\t")
        if len(parts) == 2 and len(parts[0]) == 1 and not parts[0].isspace() and parts[1] in valid_tags:
            char, tag = parts  # fast path: clean 'char<TAB>known-tag'
        elif not raw.strip() or raw.startswith("-DOCSTART-"):
            if chars:
                yield Sentence(chars, tags, path, start)
                chars, tags = [], []
            continue
        else:
            char, tag = _parse_column_line(raw, path, lineno)
            if len(char) != 1 or token_format != "char":
                char = _check_token(char, token_format, path, lineno, stats)
            else:
                valid_tags.add(tag)  # the fast path is for one-character tokens only
        if not chars:
            start = lineno
        chars.append(sys.intern(char))  # one str object per distinct character (and tag): 2-3x less memory
        tags.append(sys.intern(tag))
    if chars:
        yield Sentence(chars, tags, path, start)


def _iter_json_objects(path: str) -> Iterator[tuple[int, dict]]:
    """Yield ``(line, object)`` from JSONL or from concatenated (pretty-printed) JSON objects."""
    text = Path(path).read_text(encoding="utf-8-sig")
    decoder = json.JSONDecoder()
    pos, n = 0, len(text)
    line, counted = 1, 0  # newlines are counted once, from where the previous count stopped (linear time)
    while True:
        while pos < n and text[pos] in " \t\r\n,":
            pos += 1
        if pos >= n:
            return
        line += text.count("\n", counted, pos)
        counted = pos
        if text[pos] == "[" and pos == 0:  # a JSON array of records
            try:
                records = json.loads(text)
            except json.JSONDecodeError as err:
                raise DataError(f"{path}:{err.lineno}: invalid JSON ({err.msg})") from None
            yield from enumerate(records, 1)
            return
        try:
            obj, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as err:
            raise DataError(f"{path}:{err.lineno}: invalid JSON ({err.msg}): {text[pos : pos + 60]!r}") from None
        yield line, obj
        pos = end


def _resolve_overlaps(spans: list[Span], stats: ReadStats) -> list[Span]:
    """Keep the longest of overlapping spans (earliest on ties); count the dropped ones."""
    kept: list[Span] = []
    taken = set[int]()
    for span in sorted(spans, key=lambda s: (-(s[2] - s[1]), s[1])):
        cells = set(range(span[1], span[2]))
        if cells & taken:
            stats.overlapping_dropped += 1
            continue
        taken |= cells
        kept.append(span)
    return sorted(kept, key=lambda s: s[1])


def read_cluener(path: str | Path, stats: ReadStats | None = None, scheme: str = "BIO") -> Iterator[Sentence]:
    """Read CLUENER2020 records ``{"text": ..., "label": {type: {entity: [[start, end_incl], ...]}}}``.

    Accepts one record per line or pretty-printed concatenated objects. Records without ``label`` give
    unlabelled sentences (``tags=None``). Overlapping spans keep the longest; the rest are counted in
    ``stats.overlapping_dropped``. Tags are produced in ``scheme``.

    Raises:
        DataError: ``path:line: record N: ...`` on malformed records or spans that do not match the text.
    """
    path = str(path)
    stats = stats if stats is not None else ReadStats()
    for number, (line, rec) in enumerate(_iter_json_objects(path), 1):
        where = f"{path}:{line}: record {number}"
        if not isinstance(rec, dict) or not isinstance(rec.get("text"), str):
            raise DataError(f"{where}: expected an object with a string 'text'")
        text = rec["text"]
        if "label" not in rec or rec["label"] is None:
            yield Sentence(list(text), None, path, line)
            continue
        spans: list[Span] = []
        if not isinstance(rec["label"], dict):
            raise DataError(f"{where}: 'label' must be an object of type -> {{entity: [[start, end], ...]}}")
        for typ, entities in rec["label"].items():
            if entities is None:
                continue
            if not isinstance(entities, dict):
                raise DataError(
                    f"{where}: label {typ!r} must be an object {{entity: [[start, end], ...]}}, "
                    f"got {type(entities).__name__} {entities!r}"
                )
            if not typ or not isinstance(typ, str) or not typ.strip():
                raise DataError(f"{where}: empty entity type in 'label'")
            for entity, positions in entities.items():
                if entity == "":
                    raise DataError(f"{where}: {typ}: empty entity text ''")
                if not isinstance(positions, list):
                    raise DataError(f"{where}: {typ} {entity!r}: positions must be a list of [start, end]")
                for pos in positions:
                    if not (isinstance(pos, list) and len(pos) == 2 and all(type(p) is int for p in pos)):
                        raise DataError(f"{where}: {typ} {entity!r}: position {pos!r} is not [start, end]")
                    start, end = pos
                    if end >= len(text):  # checked first: slicing would clamp, and a huge end would hang later
                        raise DataError(
                            f"{where}: {typ} {entity!r} at [{start}, {end}] ends past the text ({len(text)} characters)"
                        )
                    if start < 0 or end < start or text[start : end + 1] != entity:
                        raise DataError(
                            f"{where}: {typ} {entity!r} at [{start}, {end}] does not match the text "
                            f"({text[max(start, 0) : end + 1]!r})"
                        )
                    spans.append((typ, start, end + 1))
        spans = _resolve_overlaps(spans, stats)
        yield Sentence(list(text), spans_to_tags(spans, len(text), scheme), path, line)


def is_unlabelled(sentences: list[Sentence]) -> bool:
    """True when no sentence carries tags (e.g. the CLUENER test file)."""
    return all(s.tags is None for s in sentences)


__all__ = ["OUTSIDE", "DataError", "ReadStats", "Sentence", "read_cluener", "read_column", "is_unlabelled"]
