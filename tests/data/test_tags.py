"""Tag schemes: detection, span <-> tag round trips, stray-tag policy."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ner_lightning.data.tags import (
    TagError,
    detect_scheme,
    labels_for,
    normalize_scheme,
    spans_to_tags,
    split_tag,
    tags_to_spans,
)

BIO = "B-PER I-PER O B-ORG I-ORG I-ORG B-ORG O".split()
SPANS = [("PER", 0, 2), ("ORG", 3, 6), ("ORG", 6, 7)]


@st.composite
def span_lists(draw: st.DrawFn) -> tuple[list[tuple[str, int, int]], int]:
    """Non-overlapping spans (adjacent same-type ones included) over a sentence."""
    length = draw(st.integers(1, 25))
    spans, pos = [], 0
    while pos < length:
        gap = draw(st.integers(0, 3))
        start = pos + gap
        if start >= length:
            break
        end = draw(st.integers(start + 1, min(length, start + 5)))
        spans.append((draw(st.sampled_from(["PER", "LOC", "ORG"])), start, end))
        pos = end
    return spans, length


@pytest.mark.parametrize("scheme", ["BIO", "IOB1", "BIOES", "BMES"])
@given(data=span_lists())
def test_round_trip_spans_tags_spans(scheme: str, data: tuple[list[tuple[str, int, int]], int]) -> None:
    spans, length = data
    tags = spans_to_tags(spans, length, scheme)
    assert tags_to_spans(tags, scheme, "strict") == (spans, 0)


def test_encodings_of_each_scheme() -> None:
    assert spans_to_tags(SPANS, 8, "BIO") == BIO
    assert spans_to_tags(SPANS, 8, "IOB1") == "I-PER I-PER O I-ORG I-ORG I-ORG B-ORG O".split()
    assert spans_to_tags(SPANS, 8, "BIOES") == "B-PER E-PER O B-ORG I-ORG E-ORG S-ORG O".split()
    assert spans_to_tags(SPANS, 8, "BMES") == "B-PER E-PER O B-ORG M-ORG E-ORG S-ORG O".split()


@pytest.mark.parametrize(
    ("tags", "scheme"),
    [
        (BIO, "BIO"),
        ("I-PER I-PER O I-ORG B-ORG".split(), "IOB1"),
        ("B-PER E-PER S-LOC O".split(), "BIOES"),
        ("B-PER M-PER E-PER S-LOC".split(), "BMES"),
        ("O O O".split(), "BIO"),
    ],
)
def test_detect_scheme(tags: list[str], scheme: str) -> None:
    assert detect_scheme([tags]) == scheme


def test_stray_i_is_repaired_and_counted() -> None:
    assert tags_to_spans("O I-LOC I-LOC O I-PER".split(), "BIO") == ([("LOC", 1, 3), ("PER", 4, 5)], 2)
    # an I- of another type than the open entity is also stray
    assert tags_to_spans("B-LOC I-PER".split(), "BIO") == ([("LOC", 0, 1), ("PER", 1, 2)], 1)


def test_stray_i_strict_raises_with_position() -> None:
    with pytest.raises(TagError, match=r"stray I-LOC at position 1 continues no LOC entity") as err:
        tags_to_spans("O I-LOC".split(), "BIO", "strict")
    assert err.value.position == 1


@pytest.mark.parametrize(
    ("tags", "message"),
    [
        ("B-PER I-PER O".split(), "entity PER opened at 0 is not closed by an E- tag before position 2"),
        ("B-PER".split(), "entity PER opened at 0 is not closed at the end of the sentence"),
        ("O E-PER".split(), "stray E-PER at position 1 closes no PER entity"),
    ],
)
def test_bioes_strays_strict(tags: list[str], message: str) -> None:
    with pytest.raises(TagError, match=message):
        tags_to_spans(tags, "BIOES", "strict")
    assert tags_to_spans(tags, "BIOES")[1] == 1


def test_malformed_tag_and_foreign_prefix() -> None:
    with pytest.raises(TagError, match=r"malformed tag 'X-PER'"):
        split_tag("X-PER")
    with pytest.raises(TagError, match=r"tag 'E-PER' does not belong to scheme BIO"):
        tags_to_spans(["E-PER"], "BIO")


def test_convert_and_labels() -> None:
    spans, repaired = tags_to_spans("O I-LOC I-LOC".split(), "BIO", "repair")
    assert (spans_to_tags(spans, 3, "BIOES"), repaired) == ("O B-LOC E-LOC".split(), 1)
    assert labels_for(["PER", "LOC"], "BIOES") == [
        "O",
        "B-LOC",
        "I-LOC",
        "E-LOC",
        "S-LOC",
        "B-PER",
        "I-PER",
        "E-PER",
        "S-PER",
    ]
    assert normalize_scheme("iob2") == "BIO"
    with pytest.raises(ValueError, match="unknown tag scheme 'XYZ'"):
        normalize_scheme("XYZ")


def test_spans_to_tags_rejects_overlap() -> None:
    with pytest.raises(ValueError, match=r"overlaps the previous span ending at 3"):
        spans_to_tags([("A", 0, 3), ("B", 2, 4)], 5)


def test_every_layer_takes_a_scheme_alias() -> None:
    """One normaliser (ner_lightning.base.labels) for data, constraints and scores: IOB2/iobes/BILOU are accepted
    by each (the constraints took IOB2 but not IOBES; the scores took neither)."""
    from ner_lightning.models.constraints import allowed_transitions
    from ner_lightning.models.metrics import entity_scores

    labels = ["O", "B-LOC", "I-LOC", "E-LOC", "S-LOC"]
    for alias in ("IOBES", "bilou", "BIOES"):
        assert normalize_scheme(alias) == "BIOES"
        assert [t.tolist() for t in allowed_transitions(alias, labels)] == [
            t.tolist() for t in allowed_transitions("BIOES", labels)
        ]
    gold = [["B-LOC", "I-LOC", "O"]]
    assert entity_scores(gold, gold, "iob2")["f1"] == entity_scores(gold, gold, "BIO")["f1"] == 1.0
