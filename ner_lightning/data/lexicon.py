"""Lexicons (word lists with counts) and SoftLexicon matching (Ma et al. 2020, "Simplify the Usage of Lexicon in
Chinese NER"): for every character, the lexicon words in which it is the Begin, a Middle, the End, or a Single.

A lexicon is configuration (``data.lexicon``): ``jieba`` (the dictionary file shipped in the ``jieba`` wheel, found
without importing the package), a path to a word list (one word per line, an optional count after whitespace), or a
list of these merged (counts add up). Its content digest ties a trained model to the lexicon it was trained with.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ner_lightning.base.packages import package_file
from ner_lightning.errors import ConfigError, DataError

BEGIN, MIDDLE, END, SINGLE = 0, 1, 2, 3  # SoftLexicon sets, in this order in every feature tensor
H1, H2 = np.uint64(0x9E3779B97F4A7C15), np.uint64(0xC2B2AE3D27D4EB4F)  # bases of the two window hashes (mod 2^64)
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
                raise DataError(
                    f"{path}:{number}: count {fields[1]!r} is not an integer (word [count] per line)"
                ) from None
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
        self._tables()
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

    def _tables(self) -> None:
        """Per word length: the words' two hashes (sorted by the first) and indices; per prefix length: the sorted
        first hashes of the prefixes of longer words (to stop extending a window that starts no word)."""
        n, longest = len(self.words), self.max_len
        lengths = np.fromiter(map(len, self.words), dtype=np.int64, count=n)
        # shape: (n, longest) code points (+1), 0 past a word's end
        flat = np.frombuffer("".join(self.words).encode("utf-32-le"), dtype=np.uint32).astype(np.uint64) + 1
        codes = np.zeros((n, max(longest, 1)), dtype=np.uint64)
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]) if n else np.zeros(0, dtype=np.int64)
        for k in range(longest):
            has = lengths > k
            codes[has, k] = flat[starts[has] + k]
        h1, h2 = np.zeros(n, dtype=np.uint64), np.zeros(n, dtype=np.uint64)
        self.by_length: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = [(h1[:0], h2[:0], lengths[:0])]
        self.prefixes: list[np.ndarray] = [h1[:0]]
        for k in range(longest):
            h1, h2 = h1 * H1 + codes[:, k], h2 * H2 + codes[:, k]
            ends = np.flatnonzero(lengths == k + 1)
            order = np.argsort(h1[ends], kind="stable")
            self.by_length.append((h1[ends][order], h2[ends][order], ends[order]))
            self.prefixes.append(np.unique(h1[lengths > k + 1]))

    def matches(self, text: str) -> list[tuple[int, int, int]]:
        """Every lexicon word in ``text`` as ``(start, end, word index)``, ordered by start then end."""
        starts, ends, index, _ = self.match_all([text])
        return list(zip(starts.tolist(), ends.tolist(), index.tolist()))

    def match_all(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Matches of many texts at once: ``(starts, ends, indices)`` in the texts laid end to end, ordered by start
        then end, and the ``(len(texts) + 1,)`` offsets of each text (no match crosses a text's end).

        Vectorised over every position: windows grow one character at a time, each keeps two 64-bit polynomial
        hashes; a window whose hashes equal a word's of that length is that word, and a window that begins no longer
        word stops growing (the walk down a trie, done for all positions at once).
        """
        texts = list(texts)
        offsets = np.zeros(len(texts) + 1, dtype=np.int64)
        np.cumsum([len(t) for t in texts], out=offsets[1:])
        cp = np.frombuffer("".join(texts).encode("utf-32-le"), dtype=np.uint32).astype(np.uint64) + 1
        # shape: (chars,) where each position's own text ends
        limit = np.repeat(offsets[1:], np.diff(offsets))
        alive = np.arange(len(cp), dtype=np.int64)
        h1, h2 = np.zeros(len(cp), dtype=np.uint64), np.zeros(len(cp), dtype=np.uint64)
        found_s, found_l, found_w = [], [], []
        for length in range(1, self.max_len + 1):
            inside = alive + length <= limit[alive]
            alive, h1, h2 = alive[inside], h1[inside], h2[inside]
            if not len(alive):
                break
            c = cp[alive + length - 1]
            h1, h2 = h1 * H1 + c, h2 * H2 + c
            w1, w2, index = self.by_length[length]
            if len(w1):
                at = np.minimum(np.searchsorted(w1, h1), len(w1) - 1)
                hit = (w1[at] == h1) & (w2[at] == h2)
                found_s.append(alive[hit])
                found_l.append(np.full(int(hit.sum()), length, dtype=np.int64))
                found_w.append(index[at[hit]])
            prefixes = self.prefixes[length]
            if not len(prefixes):
                break
            at = np.minimum(np.searchsorted(prefixes, h1), len(prefixes) - 1)
            keep = prefixes[at] == h1
            alive, h1, h2 = alive[keep], h1[keep], h2[keep]
        if not found_s:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty, empty, offsets
        starts, lengths, index = (np.concatenate(a) for a in (found_s, found_l, found_w))
        order = np.lexsort((lengths, starts))
        return starts[order], starts[order] + lengths[order], index[order], offsets


def soft_lexicon_entries(starts: np.ndarray, ends: np.ndarray, words: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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
