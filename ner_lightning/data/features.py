"""Character features beyond the character itself: bigrams and SoftLexicon word sets.

:class:`FeatureVocab` wraps a :class:`CharVocab` and adds a bigram vocabulary (``c_i c_{i+1}``, from the training
split) and a word vocabulary with counts for the SoftLexicon sets. Its ``to_dict()`` goes into the checkpoint; the
lexicon itself is re-read from its source at prediction and must have the same digest.

A batch of such features is one integer tensor ``(batch, seq, F)``: column 0 the character id, then the bigram id
(when bigrams are on), then ``4 * K`` word ids (set-major: ``B`` x K, ``M`` x K, ``E`` x K, ``S`` x K; 0 pads a set, an
empty set holds ``NONE``). The graph, the predictor and the training loop all take this one tensor.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from ner_lightning.base.word_ids import FIRST_WORD_ID, UNK_WORD_ID, tag_unknown_ids
from ner_lightning.base.word_ids import NONE_WORD_ID as NONE_ID
from ner_lightning.data.lexicon import HashTable, Lexicon, dense_sets, soft_lexicon_entries
from ner_lightning.data.readers import Sentence
from ner_lightning.data.store import EncodedSplit
from ner_lightning.data.vocab import PAD, UNK, CharVocab, LabelVocab
from ner_lightning.errors import CheckpointError, ConfigError

END = "</s>"  # the character after the last one, for the last bigram
NONE_WORD = "<none>"
WEIGHTS = ("train", "train_uncovered", "lexicon", "uniform")


def covered(starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Which matches lie inside another match: ``(n,)`` bool for ``(n,)`` spans ``[start, end)`` in the texts laid end
    to end, ordered by start then end (as :meth:`Lexicon.match_all` gives them; no span repeats)."""
    if not len(starts):
        return np.zeros(0, dtype=bool)
    # shape: (n,) the farthest end of any match that starts before this one's start
    reach = np.maximum.accumulate(ends)
    first = np.searchsorted(starts, starts, side="left")  # the first match with the same start
    before = np.where(first > 0, reach[np.maximum(first - 1, 0)], -1)
    longer_here = np.r_[starts[1:] == starts[:-1], False]  # a longer match starts here too (sorted by end)
    return (before >= ends) | longer_here


END_CODE = 0x1FFFFF  # beyond Unicode: the code of "</s>" in a bigram code (first << 21 | second)


def bigram_codes(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """``(codes, offsets)``: one int64 code per character of the texts laid end to end, ``ord(c_i) << 21 | ord(c_i+1)``
    (``END_CODE`` after a text's last character), and each text's offset."""
    offsets = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum([len(t) for t in texts], out=offsets[1:])
    cp = np.frombuffer("".join(texts).encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
    nxt = np.empty_like(cp)
    nxt[:-1] = cp[1:]
    ends = offsets[1:][np.diff(offsets) > 0] - 1
    nxt[ends] = END_CODE
    return (cp << 21) | nxt, offsets


def bigram_text(code: int) -> str:
    """The bigram token of a code (``'北京'``, ``'京</s>'``)."""
    second = code & END_CODE
    return chr(code >> 21) + (END if second == END_CODE else chr(second))


def bigrams_of(chars: Sequence[str]) -> list[str]:
    """``c_i c_{i+1}`` for every character (the last one pairs with ``</s>``)."""
    return [a + b for a, b in zip(chars, [*chars[1:], END])]


class FeatureVocab(CharVocab):
    """A character vocabulary plus bigram and SoftLexicon word vocabularies.

    Args:
        char: the character vocabulary.
        bigrams: bigram tokens after ``[PAD]``, ``[UNK]`` in id order, or ``None`` (no bigram feature).
        lexicon: ``{"sources", "digest", "max_len", "weights", "words", "counts"}``: the lexicon's description,
            the model's word vocabulary (ids from 3 on; 0 pad, 1 ``NONE``, 2 words of the lexicon not in it) and
            each id's weight count; or ``None`` (no lexicon feature).
        matcher: the loaded lexicon (read from ``lexicon["sources"]`` when first needed).
    """

    def __init__(
        self,
        char: CharVocab,
        bigrams: Sequence[str] | None = None,
        lexicon: dict[str, Any] | None = None,
        matcher: Lexicon | None = None,
    ) -> None:
        super().__init__(char.itos[2:], char.normalize)
        self.bigram_itos = None if bigrams is None else [PAD, UNK, *bigrams]
        self.bigram_stoi = None if bigrams is None else {t: i for i, t in enumerate(self.bigram_itos)}
        if bigrams is not None:  # bigram codes, sorted, with their ids: a vectorised lookup
            codes = np.asarray([_code_of(t) for t in bigrams], dtype=np.int64)
            self._bigram_table = HashTable(codes.astype(np.uint64))  # bigram id = position + 2
        self.lexicon = lexicon
        self._matcher = matcher
        self._word_of: np.ndarray | None = None
        self._matched: tuple[list[str], tuple[np.ndarray, ...]] | None = None

    @classmethod
    def build(
        cls,
        train: Sequence[Sequence[str]],
        char: CharVocab,
        bigrams: bool,
        bigram_min_freq: int,
        lexicon: Lexicon | None,
        weights: str,
        progress: Any = None,
        word_min_freq: int = 2,
        tags: bool = False,
        unknown_weight: float = 1.0,
    ) -> FeatureVocab:
        """Vocabularies from the training split: bigrams seen ``bigram_min_freq`` times; the lexicon words matched
        ``word_min_freq`` times in it (other lexicon words share one id, trained on the rare ones), weighted by
        ``weights`` (``train``: matches in the training split + 1; ``train_uncovered``: those not inside a longer
        match + 1, as Ma et al. 2020 count; ``lexicon``: the lexicon's counts; ``uniform``).
        ``tags``: the other lexicon words share one id per lexicon tag instead (an unseen person name still reads
        as a person name: jieba's ``nr``), after the known words' ids. ``unknown_weight``: the pooling weight of
        the unknown ids (a known word's is its count)."""
        if weights not in WEIGHTS:
            raise ConfigError(f"data.lexicon_weights={weights!r}: expected one of {', '.join(WEIGHTS)}")
        bigram_tokens = None
        if bigrams:
            codes, counts = np.unique(bigram_codes(["".join(c) for c in train])[0], return_counts=True)
            kept = counts >= bigram_min_freq
            codes, counts = codes[kept], counts[kept]
            bigram_tokens = [
                bigram_text(c) for c in codes[np.lexsort((codes, -counts))].tolist()
            ]  # most frequent first
        described, cache = None, None
        if lexicon is not None:
            texts = ["".join(chars) for chars in train]
            cache = (texts, lexicon.match_all(texts if progress is None else progress(texts, "matching the lexicon")))
            seen = np.bincount(cache[1][2], minlength=len(lexicon))
            order = np.flatnonzero(seen >= word_min_freq)
            order = order[np.lexsort((order, -seen[order]))]  # most matched first
            if weights in ("train", "train_uncovered"):
                counted = seen
                if weights == "train_uncovered":  # Ma et al. 2020: a match inside a longer match does not count
                    starts, ends, words = cache[1][:3]
                    counted = np.bincount(words[~covered(starts, ends)], minlength=len(lexicon))
                word_counts = (counted[order] + 1).tolist()
            elif weights == "lexicon":
                word_counts = lexicon.counts[order].tolist()
            else:
                word_counts = [1] * len(order)
            described = {
                "sources": lexicon.sources,
                "digest": lexicon.digest,
                "max_len": lexicon.max_len,
                "weights": weights,
                "words": [lexicon.words[i] for i in order.tolist()],
                "counts": word_counts,
                "unknown_weight": float(unknown_weight),
            }
            if tags:
                if not lexicon.tag_names:
                    raise ConfigError(
                        f"data.lexicon_tags=true: lexicon {','.join(lexicon.sources)} has no tag column "
                        "(word count tag per line, as jieba's dictionary)"
                    )
                described.update(
                    tags=lexicon.tag_names, word_tags=lexicon.tag_of[order].tolist(), tag_digest=lexicon.tag_digest
                )
        vocab = cls(char, bigram_tokens, described, lexicon)
        vocab._matched = cache  # the training split's matches, reused when it is encoded
        return vocab

    # ---- the lexicon at prediction time ---------------------------------------------------------------------
    @property
    def matcher(self) -> Lexicon:
        """The lexicon (loaded from its sources on first use; its digest must match the trained one)."""
        assert self.lexicon is not None
        if self._matcher is None:
            lexicon = Lexicon.load(self.lexicon["sources"], self.lexicon["max_len"], tags="tags" in self.lexicon)
            for key in ("digest", "tag_digest") if "tags" in self.lexicon else ("digest",):
                if getattr(lexicon, key) != self.lexicon[key]:
                    what = "tags differ" if key == "tag_digest" else "content differs"
                    raise CheckpointError(
                        f"lexicon {','.join(self.lexicon['sources'])}: its {what} from the lexicon the model was "
                        f"trained with ({key} {getattr(lexicon, key)[:12]} vs "
                        f"{self.lexicon[key][:12]}); use that lexicon"
                    )
            self._matcher = lexicon
        return self._matcher

    @property
    def word_of(self) -> np.ndarray:
        """Model word id of each lexicon index; a word outside the word vocabulary gets ``UNK_WORD_ID``, or with tags
        its tag's unknown id (ids after the known words', one per tag)."""
        if self._word_of is None:
            assert self.lexicon is not None
            stoi = {w: i for i, w in enumerate(self.lexicon["words"], FIRST_WORD_ID)}
            unknown = np.full(len(self.matcher), UNK_WORD_ID, dtype=np.int64)
            if "tags" in self.lexicon:  # matcher tag index -> this model's tag unknown id (untagged: UNK_WORD_ID)
                tags = self.lexicon["tags"]
                ids = dict(zip(tags, tag_unknown_ids(len(self.lexicon["words"]), len(tags))))
                by_index = np.asarray([ids.get(t, UNK_WORD_ID) for t in self.matcher.tag_names] + [UNK_WORD_ID])
                unknown = by_index[self.matcher.tag_of]  # -1 (untagged) takes the last entry
            self._word_of = np.asarray(
                [stoi.get(w, u) for w, u in zip(self.matcher.words, unknown.tolist())], dtype=np.int64
            )
        return self._word_of

    # ---- encoding ---------------------------------------------------------------------------------------------
    def split_matches(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """SoftLexicon memberships of many texts, flat: ``(offsets, codes, words)`` (see :class:`EncodedSplit`)."""
        if self._matched is not None and self._matched[0] == texts:
            starts, ends, index, offsets = self._matched[1]
        else:
            starts, ends, index, offsets = self.matcher.match_all(texts)
        codes, words = soft_lexicon_entries(starts, ends, self.word_of[index])
        # codes are positions in the texts laid end to end: each text's own, and where each text's run begins
        bounds = np.searchsorted(codes, offsets * 4, side="left")
        text_of = np.repeat(np.arange(len(texts)), np.diff(bounds))
        return bounds, codes - offsets[text_of] * 4, words

    def encode_item(self, chars: Sequence[str]) -> dict[str, Any]:
        """One item as a batch wants it: ``input_ids``, ``bigram_ids``, ``lex_ids`` ``(len, 4, K)``."""
        return self.encode_batch([chars])[0]

    def bigram_ids(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """``(ids, offsets)``: the bigram id of every character of the texts laid end to end (1 = unknown)."""
        codes, offsets = bigram_codes(texts)
        at = self._bigram_table.find(codes.astype(np.uint64))
        return np.where(at >= 0, at + 2, 1), offsets

    def encode_batch(self, texts: Sequence[Sequence[str]]) -> list[dict[str, Any]]:
        """:meth:`encode_item` of many texts, their bigrams and lexicon matches computed for all at once."""
        joined = ["".join(t) for t in texts]
        if self.bigram_stoi is not None:
            bigram_flat, bigram_offsets = self.bigram_ids(joined)
        if self.lexicon is not None:
            bounds, codes, words = self.split_matches(joined)
        items = []
        for k, chars in enumerate(texts):
            item: dict[str, Any] = {"input_ids": CharVocab.encode(self, chars)}
            if self.bigram_stoi is not None:
                item["bigram_ids"] = bigram_flat[bigram_offsets[k] : bigram_offsets[k + 1]]
            if self.lexicon is not None:
                a, b = bounds[k], bounds[k + 1]
                item["lex_ids"] = dense_sets(len(chars), codes[a:b], words[a:b], NONE_ID)
            items.append(item)
        return items

    def to_dict(self) -> dict[str, Any]:
        return {
            **super().to_dict(),
            "features": {
                "bigrams": None if self.bigram_itos is None else self.bigram_itos[2:],
                "lexicon": self.lexicon,
            },
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureVocab:
        features = data.get("features") or {}
        return cls(CharVocab.from_dict(data), features.get("bigrams"), features.get("lexicon"))


def _code_of(token: str) -> int:
    """Inverse of :func:`bigram_text`."""
    return (ord(token[0]) << 21) | (END_CODE if token[1:] == END else ord(token[1]))


def pack_items(items: Sequence[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
    """One padded id array and mask for a batch of items.

    Returns:
        ``ids`` ``(batch, seq)`` int64 for plain items, or ``(batch, seq, F)`` with the feature columns described
        in the module docstring (``K`` = the batch's widest set); ``mask`` ``(batch, seq)`` bool.
    """
    lengths = [len(it["input_ids"]) for it in items]
    batch, seq = len(items), max(lengths, default=0)
    mask = np.arange(seq)[None, :] < np.asarray(lengths, dtype=np.int64)[:, None]
    has_bigrams = bool(items) and "bigram_ids" in items[0]
    has_lex = bool(items) and "lex_ids" in items[0]
    if not (has_bigrams or has_lex):
        ids = np.zeros((batch, seq), dtype=np.int64)
        for row, it in enumerate(items):
            ids[row, : lengths[row]] = it["input_ids"]
        return ids, mask
    width = max((it["lex_ids"].shape[2] for it in items), default=1) if has_lex else 0
    # shape: (batch, seq, 1 + bigram + 4 * K)
    ids = np.zeros((batch, seq, 1 + has_bigrams + 4 * width), dtype=np.int64)
    for row, it in enumerate(items):
        n = lengths[row]
        ids[row, :n, 0] = it["input_ids"]
        if has_bigrams:
            ids[row, :n, 1] = it["bigram_ids"]
        if has_lex:
            lex = it["lex_ids"]
            # shape: (n, 4, width)
            padded = np.zeros((n, 4, width), dtype=np.int64)
            padded[:, :, : lex.shape[2]] = lex
            ids[row, :n, 1 + has_bigrams :] = padded.reshape(n, 4 * width)
    return ids, mask


def encode_split(vocab: FeatureVocab, labels: LabelVocab, sentences: Iterable[Sentence]) -> EncodedSplit:
    """A split's characters, features and labels, stored flat (no per-sentence Python objects kept)."""
    sentences = list(sentences)
    ids = [CharVocab.encode(vocab, s.chars) for s in sentences]
    tags = [None if s.tags is None else labels.encode(s.tags, s.where()) for s in sentences]
    texts = ["".join(s.chars) for s in sentences]
    bigrams = None
    if vocab.bigram_stoi is not None:
        flat, offsets = vocab.bigram_ids(texts)
        bigrams = (flat[a:b] for a, b in zip(offsets[:-1].tolist(), offsets[1:].tolist()))
    lex = None if vocab.lexicon is None else vocab.split_matches(texts)
    return EncodedSplit(ids, None if any(t is None for t in tags) else tags, bigrams, lex, NONE_ID)


def encode_items(vocab: Any, texts: Iterable[Sequence[str]]) -> list[dict[str, Any]]:
    """Items of ``texts`` for :func:`pack_items` with any vocabulary."""
    if isinstance(vocab, FeatureVocab):
        return vocab.encode_batch([list(t) for t in texts])
    return [{"input_ids": vocab.encode(t)} for t in texts]
