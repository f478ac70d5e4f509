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
CODE_LIMIT = 0x110002  # code points + 1, and one more: the size of a by-character lookup
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


def read_word_list(path: Path, counts: dict[str, int], tags: dict[str, str] | None = None) -> None:
    """Add ``path``'s words to ``counts`` (one word per line, optional integer count second, optional tag third, as
    jieba's ``word count part-of-speech``; further columns ignored) and each word's first tag to ``tags``.

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
        if tags is not None and len(fields) > 2:
            tags.setdefault(fields[0], fields[2])
    if len(counts) == before and not any(line.split() for line in text.splitlines()):
        raise DataError(f"{path}: the lexicon file holds no word")


class HashTable:
    """A set of 64-bit keys with their positions, for vectorised lookups (linear probing, no wrap-around).

    Built in one sort: keys ordered by home slot take the first free slot at or after it, i.e. slot ``i`` of the
    ``i``-th key is ``i + max_{j <= i}(home_j - j)``; slots past the table's end spill into an overflow tail.

    Args:
        keys: ``(n,)`` uint64 keys (a repeated key is found at its first copy).
    """

    def __init__(self, keys: np.ndarray) -> None:
        keys = np.asarray(keys, dtype=np.uint64)
        bits = max(4, int(np.ceil(np.log2(max(2 * len(keys), 1)))))  # at most half full
        self.shift = np.uint64(64 - bits)
        home = self._slots(keys)
        order = np.argsort(home, kind="stable")
        rank = np.arange(len(keys))
        # shape: (n,) the slot of each key in home order
        slot = np.maximum.accumulate(home[order] - rank) + rank if len(keys) else rank
        size = max(1 << bits, int(slot[-1]) + 1 if len(keys) else 0) + 1  # + 1: an empty slot ends every probe
        self.keys = np.zeros(size, dtype=np.uint64)
        self.where = np.full(size, -1, dtype=np.int32)
        self.keys[slot], self.where[slot] = keys[order], order

    def __len__(self) -> int:
        return int((self.where >= 0).sum())

    def _slots(self, keys: np.ndarray) -> np.ndarray:
        """Home slot of each key: the top bits of ``key x`` an odd constant (keys need not be well mixed)."""
        return ((keys * H1) >> self.shift).astype(np.int64)

    def find(self, keys: np.ndarray) -> np.ndarray:
        """``(len(keys),)`` position of each key in the table's keys, -1 where absent."""
        keys = np.asarray(keys, dtype=np.uint64)
        slots = self._slots(keys)
        where = self.where[slots].astype(np.int64)
        hit = self.keys[slots] == keys
        out = np.where(hit, where, -1)
        pending = np.flatnonzero((where >= 0) & ~hit)  # an empty slot ends the search
        while len(pending):
            at = slots[pending] + 1
            slots[pending] = at
            where = self.where[at].astype(np.int64)
            hit = self.keys[at] == keys[pending]
            out[pending[hit]] = where[hit]
            pending = pending[(where >= 0) & ~hit]
        return out


class Lexicon:
    """Words with counts and a prefix map for matching.

    Args:
        counts: word -> count (positive).
        sources: where the words came from (for messages and checkpoints).
        max_len: longest word matched (longer words are left out; ``None``: no limit).
        tags: word -> tag (jieba's part of speech: ``nr`` person name, ``ns`` place, ``nt`` organisation...);
            ``tag_names`` lists them sorted and ``tag_of`` gives each word's index in it (-1: untagged).
    """

    def __init__(
        self,
        counts: dict[str, int],
        sources: Sequence[str] = (),
        max_len: int | None = None,
        tags: dict[str, str] | None = None,
    ) -> None:
        if max_len is not None:
            counts = {w: c for w, c in counts.items() if len(w) <= max_len}
        self.words = sorted(counts)
        self.counts = np.asarray([counts[w] for w in self.words], dtype=np.int64)
        tags = tags or {}
        self.tag_names = sorted({tags[w] for w in self.words if w in tags})
        index = {t: i for i, t in enumerate(self.tag_names)}
        self.tag_of = np.asarray([index.get(tags.get(w, ""), -1) for w in self.words], dtype=np.int16)
        self.sources = list(sources)
        self.max_len = max((len(w) for w in self.words), default=0)
        self._tables()
        lines = "".join(f"{word}\t{count}\n" for word, count in zip(self.words, self.counts.tolist()))
        self.digest = hashlib.sha256(lines.encode()).hexdigest()  # the same digest as fed line by line

    @classmethod
    def load(cls, spec: str | Sequence[str], max_len: int | None = None, tags: bool = False) -> Lexicon:
        """Read and merge the sources of ``data.lexicon`` (``tags``: also each word's tag, the third column)."""
        sources = lexicon_sources(spec)
        counts: dict[str, int] = {}
        word_tags: dict[str, str] | None = {} if tags else None
        for source in sources:
            read_word_list(source_path(source), counts, word_tags)
        return cls(counts, sources, max_len, word_tags)

    @property
    def tag_digest(self) -> str:
        """Digest of the words' tags (``word<TAB>tag`` lines; ties a model using tags to them)."""
        names = [*self.tag_names, ""]  # index -1: untagged
        lines = "".join(f"{w}\t{names[t]}\n" for w, t in zip(self.words, self.tag_of.tolist()))
        return hashlib.sha256(lines.encode()).hexdigest()

    def __len__(self) -> int:
        return len(self.words)

    def _tables(self) -> None:
        """Lookups for matching: single-character words and the characters that begin longer words, by code point;
        longer words in a hash table of their first window hash (the second hash and the length kept per word to
        confirm a hit) and the proper prefixes of longer words in another (to stop a window that begins no word)."""
        n = len(self.words)
        lengths = np.fromiter(map(len, self.words), dtype=np.int64, count=n)
        # shape: (total chars,) code points (+1) of the words laid end to end
        flat = np.frombuffer("".join(self.words).encode("utf-32-le"), dtype=np.uint32).astype(np.uint64) + 1
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64) if n else lengths
        first = flat[starts].astype(np.int64) if n else lengths
        self.single = np.full(CODE_LIMIT, -1, dtype=np.int32)  # word index of each one-character word
        self.single[first[lengths == 1]] = np.flatnonzero(lengths == 1)
        self.begins = np.zeros(CODE_LIMIT, dtype=bool)  # characters that begin a longer word
        self.begins[first[lengths > 1]] = True
        h1, h2 = np.zeros(n, dtype=np.uint64), np.zeros(n, dtype=np.uint64)
        idx, prefixes = np.arange(n), []
        for k in range(self.max_len):
            idx = idx[lengths[idx] > k]  # words with a k-th character
            c = flat[starts[idx] + k]
            h1[idx], h2[idx] = h1[idx] * H1 + c, h2[idx] * H2 + c
            if k:
                prefixes.append(h1[idx[lengths[idx] > k + 1]])
        self.word_h2, self.word_len = h2, lengths
        longer = np.flatnonzero(lengths > 1)
        self.word_table = HashTable(h1[longer])
        self.word_index = longer
        self.prefix_table = HashTable(np.unique(np.concatenate(prefixes)) if prefixes else h1[:0])

    def matches(self, text: str) -> list[tuple[int, int, int]]:
        """Every lexicon word in ``text`` as ``(start, end, word index)``, ordered by start then end."""
        starts, ends, index, _ = self.match_all([text])
        return list(zip(starts.tolist(), ends.tolist(), index.tolist()))

    def match_all(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Matches of many texts at once: ``(starts, ends, indices)`` in the texts laid end to end, ordered by start
        then end, and the ``(len(texts) + 1,)`` offsets of each text (no match crosses a text's end).

        Vectorised over every position: windows grow one character at a time, each keeps two 64-bit polynomial
        hashes; a window whose hashes equal a word's of that length is that word, and a window that begins no longer
        word stops growing (the walk down a trie, done for all positions at once). Both lookups are hash-table probes.
        """
        texts = list(texts)
        offsets = np.zeros(len(texts) + 1, dtype=np.int64)
        np.cumsum([len(t) for t in texts], out=offsets[1:])
        cp = np.frombuffer("".join(texts).encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
        cp += 1
        # shape: (chars,) characters left in each position's own text, counting itself (capped: only <= max_len matter)
        left = np.minimum(np.repeat(offsets[1:], np.diff(offsets)) - np.arange(len(cp)), 255).astype(np.uint8)
        single = self.single[cp]
        hit = np.flatnonzero(single >= 0)
        found_s, found_l, found_w = [hit], [np.ones(len(hit), dtype=np.int64)], [single[hit].astype(np.int64)]
        del single
        alive = np.flatnonzero(self.begins[cp])  # windows that may grow past one character
        h1 = cp[alive].astype(np.uint64)  # the hashes of one-character windows
        h2 = h1.copy()
        for length in range(2, self.max_len + 1):
            inside = left[alive] >= length
            alive, h1, h2 = alive[inside], h1[inside], h2[inside]
            if not len(alive):
                break
            c = cp[alive + length - 1].astype(np.uint64)
            h1, h2 = h1 * H1 + c, h2 * H2 + c
            at = self.word_table.find(h1)
            at, word = np.flatnonzero(at >= 0), self.word_index[at[at >= 0]]
            hit = (self.word_h2[word] == h2[at]) & (self.word_len[word] == length)
            found_s.append(alive[at[hit]])
            found_l.append(np.full(int(hit.sum()), length, dtype=np.int64))
            found_w.append(word[hit])
            keep = self.prefix_table.find(h1) >= 0
            alive, h1, h2 = alive[keep], h1[keep], h2[keep]
        starts, lengths, index = (np.concatenate(a) for a in (found_s, found_l, found_w))
        order = np.argsort(starts * (self.max_len + 1) + lengths)  # by start, then end (each pair occurs once)
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
