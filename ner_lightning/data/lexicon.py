"""Lexicons (word lists with counts) and SoftLexicon matching (Ma et al. 2020, "Simplify the Usage of Lexicon in
Chinese NER"): for every character, the lexicon words in which it is the Begin, a Middle, the End, or a Single.

A lexicon is configuration (``data.lexicon``): ``jieba`` (the dictionary file shipped in the ``jieba`` wheel, found
without importing the package), a path to a word list (one word per line, an optional count after whitespace), or a
list of these merged (counts add up). Its content digest ties a trained model to the lexicon it was trained with.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from ner_lightning.data.corpora import package_file
from ner_lightning.errors import ConfigError, DataError

BEGIN, MIDDLE, END, SINGLE = 0, 1, 2, 3  # SoftLexicon sets, in this order in every feature tensor
NAMED = {"jieba": ("jieba", "jieba", "jieba/dict.txt", "pip install jieba")}


def lexicon_sources(spec: str | Sequence[str]) -> list[str]:
    """``data.lexicon`` as a list of sources (a comma-separated string or a list)."""
    items = [spec] if isinstance(spec, str) else list(spec)
    out = [s.strip() for item in items for s in str(item).split(",") if s.strip()]
    if not out:
        raise ConfigError(f"data.lexicon={spec!r}: name a lexicon (jieba) or a word-list file")
    return out


def source_path(source: str) -> Path:
    """The file of a lexicon source: a named lexicon's packaged file or the given path."""
    if source in NAMED:
        dist, package, relpath, install = NAMED[source]
        try:
            return package_file(dist, package, relpath)
        except FileNotFoundError as err:
            raise DataError(f"lexicon {source!r}: {err}; install it with `{install}`") from None
    path = Path(source)
    if not path.exists():
        raise DataError(f"{source}: no such lexicon file (data.lexicon; or a named lexicon: {', '.join(NAMED)})")
    if not path.is_file():
        raise DataError(f"{source}: is a directory or special file, not a lexicon file (data.lexicon)")
    return path


def read_word_list(path: Path, counts: dict[str, int]) -> None:
    """Add ``path``'s words to ``counts`` (one word per line, optional integer count second; other columns ignored).

    Raises:
        DataError: naming ``path:line`` for a file that is not UTF-8 or a count that is not a positive integer, or
            naming the file when it holds no word.
    """
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        line = path.read_bytes()[: err.start].count(b"\n") + 1
        raise DataError(f"{path}:{line}: not UTF-8 text (a lexicon is one word per line, UTF-8)") from None
    before = len(counts)
    for number, line in enumerate(text.splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        count = 1
        if len(fields) > 1:
            try:
                count = int(fields[1])
            except ValueError:
                raise DataError(f"{path}:{number}: count {fields[1]!r} is not an integer (word [count] per line)") from None
            if count < 1:
                raise DataError(f"{path}:{number}: count {count} must be positive")
        counts[fields[0]] = counts.get(fields[0], 0) + count
    if len(counts) == before and not any(line.split() for line in text.splitlines()):
        raise DataError(f"{path}: the lexicon file holds no word")


class Lexicon:
    """Words with counts and a prefix map for matching.

    Args:
        counts: word -> count (positive).
        sources: where the words came from (for messages and checkpoints).
        max_len: longest word matched (longer words are left out; ``None``: no limit).
    """

    def __init__(self, counts: dict[str, int], sources: Sequence[str] = (), max_len: int | None = None) -> None:
        if max_len is not None:
            counts = {w: c for w, c in counts.items() if len(w) <= max_len}
        self.words = sorted(counts)
        self.counts = np.asarray([counts[w] for w in self.words], dtype=np.int64)
        self.sources = list(sources)
        self.max_len = max((len(w) for w in self.words), default=0)
        # every prefix of a word -> the word's index when the prefix is itself a word, else -1
        self.trie: dict[str, int] = {}
        for i, word in enumerate(self.words):
            for k in range(1, len(word)):
                self.trie.setdefault(word[:k], -1)
            self.trie[word] = i
        digest = hashlib.sha256()
        for word, count in zip(self.words, self.counts.tolist()):
            digest.update(f"{word}\t{count}\n".encode())
        self.digest = digest.hexdigest()

    @classmethod
    def load(cls, spec: str | Sequence[str], max_len: int | None = None) -> Lexicon:
        """Read and merge the sources of ``data.lexicon``."""
        sources = lexicon_sources(spec)
        counts: dict[str, int] = {}
        for source in sources:
            read_word_list(source_path(source), counts)
        return cls(counts, sources, max_len)

    def __len__(self) -> int:
        return len(self.words)

    def matches(self, text: str) -> list[tuple[int, int, int]]:
        """Every lexicon word in ``text`` as ``(start, end, word index)``, ordered by start then end."""
        trie, out, n, longest = self.trie, [], len(text), self.max_len
        get, append = trie.get, out.append
        for i in range(n):
            for j in range(i + 1, min(n, i + longest) + 1):
                hit = get(text[i:j])
                if hit is None:
                    break
                if hit >= 0:
                    append((i, j, hit))
        return out

    def match_all(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Matches of many texts at once: ``(starts, ends, indices)`` in the texts laid end to end, and the
        ``(len(texts) + 1,)`` offsets of each text (no match crosses a text's end)."""
        offsets = np.zeros(len(texts) + 1, dtype=np.int64)
        np.cumsum([len(t) for t in texts], out=offsets[1:])
        found: list[tuple[int, int, int]] = []
        for base, text in zip(offsets.tolist(), texts):
            found.extend((base + s, base + e, w) for s, e, w in self.matches(text))
        table = np.asarray(found, dtype=np.int64).reshape(-1, 3)
        return table[:, 0], table[:, 1], table[:, 2], offsets


def soft_lexicon_entries(
    starts: np.ndarray, ends: np.ndarray, words: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """SoftLexicon set memberships of matched words, sorted by character then set (vectorised).

    Args:
        starts / ends: ``(n,)`` character span of each matched word (end exclusive; positions in one text, or in
            several texts laid end to end).
        words: ``(n,)`` model word id of each match.

    Returns:
        ``(codes, word_ids)``: ``code = position * 4 + set`` (``BEGIN``, ``MIDDLE``, ``END``, ``SINGLE``) and the
        word of each membership, sorted (stably) by code.
    """
    starts, ends, words = (np.asarray(a, dtype=np.int64) for a in (starts, ends, words))
    length = ends - starts
    single, multi = length == 1, length > 1
    inner = np.maximum(length - 2, 0)  # middle characters of each word
    # positions start+1 .. end-2 of every word, laid out word after word
    middle_pos = np.repeat(starts + 1 - np.cumsum(inner) + inner, inner) + np.arange(int(inner.sum()))
    codes = np.concatenate([
        starts[single] * 4 + SINGLE, starts[multi] * 4 + BEGIN, (ends[multi] - 1) * 4 + END, middle_pos * 4 + MIDDLE,
    ])  # fmt: skip
    ids = np.concatenate([words[single], words[multi], words[multi], np.repeat(words, inner)])
    order = np.argsort(codes, kind="stable")
    return codes[order], ids[order]


def dense_sets(length: int, codes: np.ndarray, words: np.ndarray, none_id: int) -> np.ndarray:
    """``(length, 4, K)`` word ids of each character's four sets (0-padded; an empty set holds ``none_id``).

    Args:
        length: characters in the sentence.
        codes: ``(n,)`` ``position * 4 + set`` of each membership, sorted (stable) by code.
        words: ``(n,)`` word id of each membership.
        none_id: the id standing for "no word" in an empty set.
    """
    counts = np.bincount(codes, minlength=length * 4) if len(codes) else np.zeros(length * 4, dtype=np.int64)
    width = max(1, int(counts.max()) if len(counts) else 1)
    # shape: (length * 4, K)
    out = np.zeros((length * 4, width), dtype=np.int64)
    out[counts == 0, 0] = none_id
    if len(codes):
        first = np.searchsorted(codes, codes, side="left")
        out[codes, np.arange(len(codes)) - first] = words
    return out.reshape(length, 4, width)
