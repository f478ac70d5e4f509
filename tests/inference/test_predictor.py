"""load_tagger(...).predict: offsets into the original text, windows that keep every character once, batches."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ner_lightning import load_tagger
from ner_lightning.inference import Predictor, merge_windows, windows

MIXED = "Apple公司在2024年收购了ＡＢＣ 北京😀分部，李鹏说：“好！”\t end"


@given(n=st.integers(1, 3000), width=st.integers(1, 600), data=st.data())
@settings(max_examples=200, deadline=None)
def test_windows_cover_every_character_and_merge_tags_it_once(n: int, width: int, data: st.DataObject) -> None:
    stride = data.draw(st.integers(1, width))
    spans = windows(n, width, stride)
    assert spans[0][0] == 0 and spans[-1][1] == n and all(b - a <= width for a, b in spans)
    covered = np.zeros(n, dtype=int)
    for a, b in spans:
        covered[a:b] += 1
    assert covered.min() >= 1
    # each window tags a character with its own window number: the merge picks exactly one per character
    merged = merge_windows(n, [(a, b, [k] * (b - a)) for k, (a, b) in enumerate(spans)])
    assert len(merged) == n and all(spans[k][0] <= i < spans[k][1] for i, k in enumerate(merged))


class Echo(Predictor):
    """Tags each character with its vocabulary id mod the label count: a backend-free check of the plumbing."""

    calls: list[tuple[int, int]]

    def tag_ids(self, input_ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        self.calls.append(input_ids.shape)
        return np.where(mask, 1 + (input_ids % 2), 0)


def test_long_text_keeps_every_character_in_sorted_batches() -> None:
    labels = ["O", "B-X", "I-X"]
    vocab = {"itos": ["[PAD]", "[UNK]", *"abcdefghij"], "normalize": False}
    echo = Echo(labels, vocab, "BIO", max_chars=100, batch_size=8)
    echo.calls = []
    text = "".join("abcdefghij"[i % 10] for i in range(10_000))
    tags = echo.predict_tags([text, "ab", "", "   "])
    assert [len(t) for t in tags] == [10_000, 2, 0, 3]
    # every character tagged from its own id, whichever window it came from
    ids = np.array([2 + "abcdefghij".index(c) for c in text])
    assert tags[0] == (1 + ids % 2).tolist()
    widths = [shape[1] for shape in echo.calls]
    assert widths == sorted(widths) and max(widths) == 100  # sorted by length, never over the window
    assert echo.predict(["", "  \n "]) == [[], []]


@pytest.mark.parametrize("fixture", ["bilstm_ckpt", "bert_ckpt", "bert_crf_bioes_ckpt", "lexicon_ckpt"])
def test_offsets_index_the_original_text(fixture: str, request: pytest.FixtureRequest) -> None:
    tagger = load_tagger(request.getfixturevalue(fixture), device="cpu")
    texts = [MIXED, MIXED * 40, "北京", "", " "]  # MIXED * 40 is windowed by the tiny BERT (62 characters)
    found = tagger.predict(texts)
    assert found[3] == [] and found[4] == []
    for text, ents in zip(texts, found):
        for e in ents:
            assert text[e["start"] : e["end"]] == e["text"] and e["type"] in {"PER", "LOC", "ORG"}
    tags = tagger.predict_tags(texts)
    assert [len(t) for t in tags] == [len(t) for t in texts]
    # batching and sorting do not change a text's tags
    assert tagger.predict_tags([MIXED])[0] == tags[0]
    assert tagger.predict_tags([MIXED * 40], batch_size=1)[0] == tags[1]


def test_entities_follow_the_tags(bilstm_ckpt: Path) -> None:
    from ner_lightning.inference import entities

    labels = ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]
    ents = entities("我在北京见李鹏", [0, 0, 1, 2, 0, 3, 4], labels, "BIO")
    assert ents == [
        {"type": "LOC", "text": "北京", "start": 2, "end": 4},
        {"type": "PER", "text": "李鹏", "start": 5, "end": 7},
    ]
