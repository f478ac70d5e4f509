"""SoftLexicon word ids, as the data layer writes them and the model reads them.

Layout: 0 padding, 1 ``NONE`` (an empty set), 2 the shared unknown word, 3.. the known words (most matched first),
then, with lexicon tags, one unknown id per tag (a rare ``nr`` word reads as "some person name").
"""

from __future__ import annotations

from typing import Any

PAD_WORD_ID, NONE_WORD_ID, UNK_WORD_ID, FIRST_WORD_ID = 0, 1, 2, 3


def tag_unknown_ids(words: int, tags: int) -> list[int]:
    """The unknown id of each of ``tags`` lexicon tags, after ``words`` known words."""
    first = FIRST_WORD_ID + words
    return list(range(first, first + tags))


def word_weights(lexicon: dict[str, Any]) -> list[float]:
    """The SoftLexicon pooling weight of every word id of a vocabulary's ``lexicon`` description: 0 for padding,
    1 for ``NONE``, the stored count for a known word and ``unknown_weight`` (1 when absent) for the unknown ids."""
    unknown = float(lexicon.get("unknown_weight", 1.0))
    return [0.0, 1.0, unknown, *map(float, lexicon["counts"]), *[unknown] * len(lexicon.get("tags", []))]


def unknown_word_ids(lexicon: dict[str, Any]) -> list[int]:
    """The id each word id becomes when treated as unknown (``unk_dropout``) under lexicon tags: the word's tag's
    unknown id (``UNK_WORD_ID`` when untagged); ids below ``FIRST_WORD_ID`` and the tag ids map to themselves."""
    tags = tag_unknown_ids(len(lexicon["words"]), len(lexicon["tags"]))
    own = [tags[t] if t >= 0 else UNK_WORD_ID for t in lexicon["word_tags"]]
    return [PAD_WORD_ID, NONE_WORD_ID, UNK_WORD_ID, *own, *tags]
