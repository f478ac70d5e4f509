"""Readers: every fixture format parses; every bad file fails with its exact `path:line` message."""

from __future__ import annotations

from pathlib import Path

import pytest

from ner_lightning.data.prepare import prepare_split, resolve_scheme
from ner_lightning.data.readers import DataError, ReadStats, read_cluener, read_column
from ner_lightning.data.tags import tags_to_spans

EXPECTED_SPANS = [[("PER", 0, 2), ("ORG", 3, 6)], [("LOC", 0, 2), ("LOC", 2, 4)]]


@pytest.mark.parametrize(
    ("name", "scheme"),
    [("bio.txt", "BIO"), ("iob1.txt", "IOB1"), ("bioes.txt", "BIOES"), ("bmes.txt", "BMES"), ("crlf_bom.txt", "BIO")],
)
def test_column_formats_read_to_the_same_entities(fixtures: Path, name: str, scheme: str) -> None:
    sentences = list(read_column(fixtures / name))
    assert [s.text for s in sentences] == ["赵阳在中科院工作", "北京上海都是城市"]
    assert sentences[0].chars[0] == "赵"  # no BOM left on the first character
    assert resolve_scheme(sentences, "auto") == scheme
    stats = ReadStats()
    bio = prepare_split(sentences, scheme, "BIO", stats=stats)
    assert [tags_to_spans(s.tags, "BIO")[0] for s in bio] == EXPECTED_SPANS
    assert (stats.read, stats.used, stats.rejected, stats.repaired_tags) == (2, 2, 0, 0)
    assert sentences[1].line == 10 and sentences[1].where(2) == f"{fixtures / name}:12"


def test_bioes_output_scheme(fixtures: Path) -> None:
    out = prepare_split(read_column(fixtures / "bio.txt"), "BIO", "BIOES")
    assert out[1].tags == "B-LOC E-LOC B-LOC E-LOC O O O O".split()


def test_stray_repaired_and_counted(fixtures: Path) -> None:
    stats = ReadStats()
    out = prepare_split(read_column(fixtures / "stray.txt"), "BIO", stats=stats)
    assert out[0].tags == "O O B-LOC I-LOC".split()
    assert stats.repaired_tags == 1


def test_stray_strict_names_path_and_line(fixtures: Path) -> None:
    path = fixtures / "stray.txt"
    with pytest.raises(DataError) as err:
        prepare_split(read_column(path), "BIO", policy="strict")
    assert str(err.value) == f"{path}:3: stray I-LOC at position 2 continues no LOC entity (tag_policy=strict)"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("bad_columns.txt", ":2: expected 'char<whitespace>tag', got '阳\\tI-PER\\tX'"),
        ("bad_notag.txt", ":2: expected 'char<whitespace>tag', got '阳'"),
        (
            "bad_tag.txt",
            ":4: malformed tag 'X-LOC' (expected 'O' or one of B-/I-/M-/E-/S- followed by a type): '在\\tX-LOC'",
        ),
    ],
)
def test_bad_column_files(fixtures: Path, name: str, message: str) -> None:
    path = fixtures / name
    with pytest.raises(DataError) as err:
        list(read_column(path))
    assert str(err.value) == f"{path}{message}"


def test_invalid_utf8_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.txt"
    path.write_bytes(b"a\tO\n\n" + "é\tO\n".encode("latin-1"))
    with pytest.raises(DataError, match=rf"^{path}:3: not valid utf-8 text \(invalid continuation byte\)$"):
        list(read_column(path))


def test_space_character_with_tab_separator(tmp_path: Path) -> None:
    path = tmp_path / "space.txt"
    path.write_text("A\tB-ORG\n \tI-ORG\nB\tI-ORG\n", encoding="utf-8")
    (sentence,) = read_column(path)
    assert sentence.chars == ["A", " ", "B"]


@pytest.mark.parametrize("name", ["cluener.jsonl", "cluener_pretty.json"])
def test_cluener_formats(fixtures: Path, name: str) -> None:
    stats = ReadStats()
    sentences = list(read_cluener(fixtures / name, stats))
    first = sentences[0]
    assert tags_to_spans(first.tags, "BIO")[0] == [("company", 0, 4), ("name", 9, 12)]
    assert tags_to_spans(sentences[1].tags, "BIO")[0] == [("game", 4, 8)]
    if name == "cluener_pretty.json":
        assert [s.line for s in sentences] == [1, 16]


def test_cluener_overlaps_keep_longest_and_count(fixtures: Path) -> None:
    stats = ReadStats()
    sentences = list(read_cluener(fixtures / "cluener.jsonl", stats))
    assert tags_to_spans(sentences[2].tags, "BIO")[0] == [("organization", 0, 4), ("address", 5, 7)]
    assert stats.overlapping_dropped == 1


def test_cluener_unlabelled(fixtures: Path) -> None:
    sentences = list(read_cluener(fixtures / "cluener_unlabelled.jsonl"))
    assert [s.tags for s in sentences] == [None, None]
    assert sentences[0].text == "四川敬老院护工猥亵女子"


def test_cluener_span_mismatch(fixtures: Path) -> None:
    path = fixtures / "cluener_bad_span.jsonl"
    with pytest.raises(DataError) as err:
        list(read_cluener(path))
    assert str(err.value) == f"{path}:2: record 2: address '北京' at [1, 2] does not match the text ('京大')"


def test_cluener_invalid_json(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"text": "ab", "label": {}}\n{"text": "cd", \n', encoding="utf-8")
    with pytest.raises(DataError, match=rf"^{path}:3: invalid JSON"):
        list(read_cluener(path))
