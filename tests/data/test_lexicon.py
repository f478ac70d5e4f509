"""Lexicon matching and SoftLexicon sets against brute force; weights; the lexicon file's errors; the digest."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch

from ner_lightning.data.features import NONE_ID, FeatureVocab, bigrams_of, covered, encode_items, pack_items
from ner_lightning.data.lexicon import BEGIN, END, MIDDLE, SINGLE, HashTable, Lexicon, dense_sets
from ner_lightning.data.vocab import CharVocab, vocab_from_dict
from ner_lightning.errors import CheckpointError, DataError
from ner_lightning.models.encoders import BiLSTMEncoder

ALPHABET = "甲乙丙丁戊己"


def brute_sets(text: str, words: dict[str, int]) -> list[list[set[int]]]:
    """For each character, the lexicon indices of words in which it is B / M / E / S, by trying every span."""
    out = [[set() for _ in range(4)] for _ in text]
    for i in range(len(text)):
        for j in range(i + 1, len(text) + 1):
            index = words.get(text[i:j])
            if index is None:
                continue
            if j - i == 1:
                out[i][SINGLE].add(index)
                continue
            out[i][BEGIN].add(index)
            out[j - 1][END].add(index)
            for k in range(i + 1, j - 1):
                out[k][MIDDLE].add(index)
    return out


@pytest.mark.parametrize("n", [0, 1, 7, 300, 5000])
def test_hash_table_finds_exactly_its_keys(n: int) -> None:
    rng = np.random.default_rng(n)
    # small integers (poorly mixed low bits), random 64-bit keys and runs of neighbours: crowded home slots
    keys = np.unique(np.concatenate([
        np.arange(1, n // 3 + 1), rng.integers(0, 2**63, n // 3, dtype=np.int64), 10**12 + np.arange(n - 2 * (n // 3)),
    ]).astype(np.uint64))  # fmt: skip
    rng.shuffle(keys)
    table = HashTable(keys)
    assert len(table) == len(keys)
    assert np.array_equal(table.find(keys), np.arange(len(keys)))
    others = np.setdiff1d(np.concatenate([keys + np.uint64(1), rng.integers(0, 2**63, 500).astype(np.uint64)]), keys)
    assert (table.find(others) == -1).all()


@pytest.mark.parametrize("seed", range(30))
def test_matching_and_sets_equal_brute_force(seed: int) -> None:
    rng = random.Random(seed)
    vocab = {"".join(rng.choices(ALPHABET, k=rng.randint(1, 5))): rng.randint(1, 9) for _ in range(rng.randint(1, 25))}
    lexicon = Lexicon(vocab)
    index = {w: i for i, w in enumerate(lexicon.words)}
    texts = ["".join(rng.choices(ALPHABET + "子", k=rng.randint(1, 30))) for _ in range(5)]
    for text in texts:
        found = lexicon.matches(text)
        spans = {(i, j) for i in range(len(text)) for j in range(i + 1, len(text) + 1) if text[i:j] in vocab}
        assert {(s, e) for s, e, _ in found} == spans and all(lexicon.words[w] == text[s:e] for s, e, w in found)
        assert found == sorted(found)  # by start, then end
    # the features of a split (all texts matched at once) and of one text (prediction) against brute force
    features = FeatureVocab.build(
        [list(t) for t in texts], CharVocab.build(texts), False, 1, lexicon, "uniform", None, 1
    )
    word_of = features.word_of
    bounds, codes, words = features.split_matches(texts)
    assert len(bounds) == len(texts) + 1
    for k, text in enumerate(texts):
        a, b = bounds[k], bounds[k + 1]
        dense = dense_sets(len(text), codes[a:b], words[a:b], NONE_ID)
        assert np.array_equal(dense, features.encode_item(list(text))["lex_ids"])
        expected = brute_sets(text, index)
        for pos in range(len(text)):
            for s in range(4):
                got = [int(w) for w in dense[pos, s] if w != 0]
                if expected[pos][s]:
                    assert sorted(got) == sorted(int(word_of[i]) for i in expected[pos][s]), (text, pos, s)
                else:
                    assert got == [NONE_ID]


def test_max_len_and_merged_sources(tmp_path: Path) -> None:
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("北京 3 ns\n北京大学 5\n", encoding="utf-8")
    b.write_text("北京\n大学 2\n", encoding="utf-8")
    lexicon = Lexicon.load([str(a), str(b)], max_len=2)
    assert dict(zip(lexicon.words, lexicon.counts.tolist())) == {"北京": 4, "大学": 2}
    assert [(s, e) for s, e, _ in lexicon.matches("北京大学")] == [(0, 2), (2, 4)]
    assert Lexicon.load(f"{a},{b}").digest != lexicon.digest


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "holds no word"),
        (b"\n  \n", "holds no word"),
        (b"\xe5\x8c\x97\xe4\xba\xac 3\n\xff\xfe 2\n", "b.txt:2: not UTF-8"),
        ("北京 3\n上海 many\n".encode(), "b.txt:2: count 'many' is not an integer"),
        ("北京 0\n".encode(), "b.txt:1: count 0 must be positive"),
    ],
)
def test_bad_lexicon_file_is_one_line(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "b.txt"
    path.write_bytes(content)
    with pytest.raises(DataError, match=message) as err:
        Lexicon.load(str(path))
    assert "\n" not in str(err.value)


def test_directory_and_missing_lexicon(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="is a directory"):
        Lexicon.load(str(tmp_path))
    with pytest.raises(DataError, match="no such lexicon file"):
        Lexicon.load(str(tmp_path / "nope.txt"))


def test_jieba_dictionary_is_found_without_import() -> None:
    import sys

    lexicon = Lexicon.load("jieba")
    assert len(lexicon) > 300_000 and lexicon.max_len == 16 and "jieba" not in sys.modules


def _vocab(tmp_path: Path, weights: str = "train") -> FeatureVocab:
    lex = tmp_path / "lex.txt"
    lex.write_text("北京 10\n京城 1\n北 5\n大学 4\n北京大学 2\n", encoding="utf-8")
    train = [list("北京大学在北京"), list("京城北京大学")]
    return FeatureVocab.build(train, CharVocab.build(train), True, 1, Lexicon.load(str(lex)), weights, None, 1)


def test_vocab_words_counts_and_round_trip(tmp_path: Path) -> None:
    vocab = _vocab(tmp_path)
    lex = vocab.lexicon
    # matches in the training split (+1): 北京 x3, 北 x3, 大学 x2, 北京大学 x2, 京城 x1
    assert dict(zip(lex["words"], lex["counts"])) == {"北京": 4, "北": 4, "大学": 3, "北京大学": 3, "京城": 2}
    assert dict(zip(_vocab(tmp_path, "lexicon").lexicon["words"], _vocab(tmp_path, "lexicon").lexicon["counts"])) == {
        "北京": 10, "北": 5, "大学": 4, "北京大学": 2, "京城": 1,
    }  # fmt: skip
    # Ma et al.'s count: only matches not inside a longer match (北 and 大学 always are; 北京 once is not)
    uncovered = _vocab(tmp_path, "train_uncovered").lexicon
    assert dict(zip(uncovered["words"], uncovered["counts"])) == {
        "北京": 2, "北": 1, "大学": 1, "北京大学": 3, "京城": 2,
    }  # fmt: skip
    again = vocab_from_dict(vocab.to_dict())
    assert isinstance(again, FeatureVocab)
    text = list("北京城大学")
    one, two = encode_items(vocab, [text])[0], encode_items(again, [text])[0]
    assert np.array_equal(one["lex_ids"], two["lex_ids"]) and list(one["bigram_ids"]) == list(two["bigram_ids"])
    assert bigrams_of(list("北京")) == ["北京", "京</s>"]


def test_covered_matches_equal_brute_force() -> None:
    rng = np.random.default_rng(3)
    for _ in range(200):
        spans = {(int(a), int(a + n)) for a, n in zip(rng.integers(0, 12, 9), rng.integers(1, 5, 9))}
        starts, ends = (np.array(c, dtype=np.int64) for c in zip(*sorted(spans)))
        expect = [any((a2 <= a and b <= b2) and (a2, b2) != (a, b) for a2, b2 in spans) for a, b in sorted(spans)]
        assert covered(starts, ends).tolist() == expect
    assert covered(np.zeros(0, np.int64), np.zeros(0, np.int64)).tolist() == []


def test_changed_lexicon_is_refused(tmp_path: Path) -> None:
    data = _vocab(tmp_path).to_dict()
    (tmp_path / "lex.txt").write_text("北京 10\n", encoding="utf-8")
    with pytest.raises(CheckpointError, match="differs from the lexicon the model was trained with"):
        encode_items(vocab_from_dict(data), [list("北京")])


def test_pooling_follows_frequency_weights(tmp_path: Path) -> None:
    vocab = _vocab(tmp_path)
    counts = [0, 1, 1, *vocab.lexicon["counts"]]
    enc = BiLSTMEncoder(len(vocab.itos), 4, 4, 1, 0.0, word_counts=counts, word_dim=3).eval()
    ids, _ = pack_items(encode_items(vocab, [list("北京大学")]))
    # no bigram column in this encoder: drop it
    ids = np.concatenate([ids[..., :1], ids[..., 2:]], axis=-1)
    x = enc.embed(torch.from_numpy(ids))[0, :, 4:].reshape(4, 4, 3)  # (chars, sets, word_dim)
    table = enc.word_embedding.weight.detach()
    words = torch.from_numpy(ids[0, :, 1:]).reshape(4, 4, -1)
    for pos in range(4):
        ws = words[pos][words[pos] > 0]
        total = sum(counts[w] for w in ws.tolist())
        for s in range(4):
            members = [w for w in words[pos, s].tolist() if w > 0]
            expect = sum(4 * counts[w] / total * table[w] for w in members)
            assert torch.allclose(x[pos, s], expect, atol=1e-6)
    # 北 (pos 0) is B of 北京 and 北京大学 and S of 北: the sets are not empty
    assert (words[0, BEGIN] > 0).sum() == 2 and (words[0, SINGLE] > 2).sum() == 1
    assert (words[1, MIDDLE] > 2).sum() == 1 and (words[1, END] > 2).sum() == 1


def test_features_change_the_encoder_output(tmp_path: Path) -> None:
    vocab = _vocab(tmp_path)
    enc = BiLSTMEncoder(
        len(vocab.itos), 4, 4, 1, 0.0, bigram_vocab_size=len(vocab.bigram_itos), bigram_dim=3,
        word_counts=[0, 1, 1, *vocab.lexicon["counts"]], word_dim=3,
    ).eval()  # fmt: skip
    ids, mask = pack_items(encode_items(vocab, [list("北京大学")]))
    ids = torch.from_numpy(ids)
    base = enc(ids, torch.from_numpy(mask))
    for column in (1, 2):  # the bigram id, then a word-set column
        other = ids.clone()
        other[0, 1, column] = 0 if other[0, 1, column] != 0 else 3
        assert not torch.allclose(enc(other, torch.from_numpy(mask)), base)


def test_bigram_ids_of_a_split_equal_the_per_text_lookup(tmp_path: Path) -> None:
    vocab = _vocab(tmp_path)
    texts = ["北京大学在北京", "京", "", "上海北京"]
    flat, offsets = vocab.bigram_ids(texts)
    for k, text in enumerate(texts):
        expected = [vocab.bigram_stoi.get(b, 1) for b in bigrams_of(list(text))]
        assert flat[offsets[k] : offsets[k + 1]].tolist() == expected
    assert flat[offsets[3] : offsets[4]].tolist()[:1] == [1]  # 上海: unseen in training
