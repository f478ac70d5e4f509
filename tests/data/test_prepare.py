"""Long-sentence splitting, vocabularies and batching."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ner_lightning.data.collate import BucketBatchSampler, collate_batch
from ner_lightning.data.prepare import prepare_split
from ner_lightning.data.readers import ReadStats, Sentence
from ner_lightning.data.tags import spans_to_tags, tags_to_spans
from ner_lightning.data.vocab import CharVocab, LabelVocab


def _sentence(text: str, spans: list[tuple[str, int, int]]) -> Sentence:
    return Sentence(list(text), spans_to_tags(spans, len(text)), "mem.txt", 1)


def test_split_at_sentence_punctuation_never_drops() -> None:
    text = "我爱北京。天安门很大！上海也好。"
    stats = ReadStats()
    out = prepare_split(
        [_sentence(text, [("LOC", 2, 4), ("LOC", 5, 8), ("LOC", 11, 13)])], "BIO", max_len=8, stats=stats
    )
    assert [s.text for s in out] == ["我爱北京。", "天安门很大！", "上海也好。"]
    assert "".join(s.text for s in out) == text
    assert [tags_to_spans(s.tags, "BIO")[0] for s in out] == [[("LOC", 2, 4)], [("LOC", 0, 3)], [("LOC", 0, 2)]]
    assert (stats.read, stats.used, stats.split_sentences, stats.split_pieces, stats.cut_entities) == (1, 1, 1, 3, 0)
    assert out[1].line == 6  # line of its first character in a column file


def test_split_without_punctuation_avoids_entities_then_cuts() -> None:
    stats = ReadStats()
    out = prepare_split([_sentence("abcdefgh", [("X", 2, 5)])], "BIO", max_len=4, stats=stats)
    assert [s.text for s in out] == ["ab", "cdef", "gh"]  # cut before the entity, not inside it
    stats = ReadStats()
    out = prepare_split([_sentence("abcdefgh", [("X", 0, 8)])], "BIO", max_len=4, stats=stats)
    assert [s.tags for s in out] == [["B-X", "I-X", "I-X", "I-X"]] * 2
    assert stats.cut_entities == 1


def test_empty_sentence_is_rejected_and_counted() -> None:
    stats = ReadStats()
    out = prepare_split([Sentence([], [], "f.txt", 3), _sentence("ab", [])], "BIO", stats=stats)
    assert len(out) == 1 and (stats.read, stats.used, stats.rejected) == (2, 1, 1)
    assert stats.messages == ["f.txt:3: empty sentence"]


def test_char_vocab(tmp_path: Path) -> None:
    vocab = CharVocab.build([list("北京北京上"), list("ＡA")], min_freq=2, normalize=True)
    assert vocab.itos[:2] == ["[PAD]", "[UNK]"]
    assert vocab.encode(list("北京上Ａ")) == [vocab.stoi["北"], vocab.stoi["京"], 1, vocab.stoi["A"]]
    vocab.save(tmp_path / "v.json")
    again = CharVocab.load(tmp_path / "v.json")
    assert again.itos == vocab.itos and again.normalize


def test_label_vocab(tmp_path: Path) -> None:
    labels = LabelVocab(["O", "B-LOC", "I-LOC"])
    assert labels.encode(["O", "B-LOC"]) == [0, 1]
    labels.save(tmp_path / "l.json")
    assert LabelVocab.load(tmp_path / "l.json").labels == labels.labels


def test_collate_pads_to_longest_with_bool_mask() -> None:
    batch = collate_batch([{"input_ids": [5, 6, 7], "labels": [0, 1, 2]}, {"input_ids": [8], "labels": [3]}])
    assert batch["input_ids"].tolist() == [[5, 6, 7], [8, 0, 0]]
    assert batch["mask"].dtype == torch.bool and batch["mask"].tolist() == [[True] * 3, [True, False, False]]
    assert batch["labels"].tolist() == [[0, 1, 2], [3, -100, -100]]
    assert batch["lengths"].tolist() == [3, 1]
    assert "labels" not in collate_batch([{"input_ids": [1], "labels": None}])


def test_bucket_sampler_covers_everything_once_with_similar_lengths() -> None:
    lengths = [(i * 37) % 100 + 1 for i in range(1000)]
    sampler = BucketBatchSampler(lengths, batch_size=10, pool_batches=10, seed=1)
    batches = list(sampler)
    assert len(batches) == len(sampler) == 100
    assert sorted(i for b in batches for i in b) == list(range(1000))
    spread = sum(max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches) / len(batches)
    assert spread < 20  # random batches would spread ~90
    assert list(sampler) != batches  # a new order every epoch


def test_bucket_sampler_shards_across_processes_and_resumes_mid_epoch() -> None:
    lengths = [(i * 37) % 100 + 1 for i in range(1003)]
    whole = BucketBatchSampler(lengths, batch_size=10, seed=1)
    whole.set_epoch(4)
    order = list(whole)  # 101 batches, the last one short
    shares = []
    for rank in range(2):
        part = BucketBatchSampler(lengths, batch_size=10, seed=1, num_replicas=2, rank=rank)
        part.set_epoch(4)
        shares.append(list(part))
        assert len(shares[-1]) == len(part) == 51  # same step count on both processes
    assert shares[0] == order[0::2] and shares[1] == order[1::2] + [order[0]]  # padded with a repeat
    assert {i for share in shares for b in share for i in b} == set(range(1003))
    # resumed after 30 trained batches: the same epoch's order from batch 30 on
    resumed = BucketBatchSampler(lengths, batch_size=10, seed=1, epoch_fn=lambda: 4, done_fn=lambda: 30)
    assert list(resumed) == order[30:]


def test_unbucketed_batches_are_random_not_sorted_by_length() -> None:
    lengths = [(i * 37) % 100 + 1 for i in range(1000)]
    batches = list(BucketBatchSampler(lengths, batch_size=10, pool_batches=1, seed=1))
    assert sorted(i for b in batches for i in b) == list(range(1000))
    spread = sum(max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches) / len(batches)
    assert spread > 60  # random batches spread ~80; bucketed ones < 20


def test_lightning_rebuilding_the_bucket_sampler_is_a_clear_error() -> None:
    from torch.utils.data import SequentialSampler

    from ner_lightning.errors import ConfigError

    with pytest.raises(ConfigError, match="use_distributed_sampler=false"):
        BucketBatchSampler(SequentialSampler(range(10)), batch_size=2, drop_last=False)  # what Lightning's DDP does
