"""Lexicon tags (``data.lexicon_tags``): words rare in training share their tag's unknown id, not one for all."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from ner_lightning.data.features import UNK_WORD_ID, FeatureVocab, encode_items
from ner_lightning.data.lexicon import BEGIN, END, Lexicon
from ner_lightning.data.vocab import CharVocab, vocab_from_dict
from ner_lightning.errors import CheckpointError, ConfigError
from ner_lightning.models.encoders import BiLSTMEncoder
from ner_lightning.models.tagger import feature_inputs

LEXICON = "北京 10 ns\n京城 1 ns\n张三 3 nr\n李四 2 nr\n大学 4 n\n新词 1\n"
TRAIN = [list("北京大学在北京"), list("李四在北京大学")]  # 北京 x3, 大学 x2: matched twice or more; 李四 once


def _vocab(tmp_path: Path, text: str = LEXICON, tags: bool = True, unknown_weight: float = 1.0) -> FeatureVocab:
    lex = tmp_path / "lex.txt"
    lex.write_text(text, encoding="utf-8")
    lexicon = Lexicon.load(str(lex), tags=tags)
    train_vocab = CharVocab.build(TRAIN)
    return FeatureVocab.build(TRAIN, train_vocab, False, 1, lexicon, "train", None, 2, tags, unknown_weight)


def test_tags_are_read_and_leave_the_digest_alone(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text(LEXICON, encoding="utf-8")
    (tmp_path / "b.txt").write_text("".join(" ".join(line.split()[:2]) + "\n" for line in LEXICON.splitlines()))
    tagged, plain = Lexicon.load(str(tmp_path / "a.txt"), tags=True), Lexicon.load(str(tmp_path / "b.txt"), tags=True)
    assert tagged.tag_names == ["n", "nr", "ns"] and plain.tag_names == []
    assert Lexicon.load(str(tmp_path / "a.txt")).tag_names == []  # read only when asked for
    assert dict(zip(tagged.words, tagged.tag_of.tolist())) == {
        "北京": 2, "京城": 2, "张三": 1, "李四": 1, "大学": 0, "新词": -1,
    }  # fmt: skip
    assert tagged.digest == plain.digest  # models trained before tags still load with the same file
    assert tagged.tag_digest != plain.tag_digest


def test_rare_words_take_their_tags_unknown_id(tmp_path: Path) -> None:
    vocab, plain = _vocab(tmp_path), _vocab(tmp_path, tags=False)
    words = vocab.lexicon["words"]
    assert words == ["北京", "大学"] and vocab.lexicon["tags"] == ["n", "nr", "ns"]
    assert vocab.lexicon["word_tags"] == [2, 0]
    tag_id = {t: 3 + len(words) + i for i, t in enumerate(vocab.lexicon["tags"])}
    text = list("张三到京城北京看新词")
    for v, expect in ((vocab, tag_id), (plain, dict.fromkeys(tag_id, UNK_WORD_ID))):
        lex = encode_items(v, [text])[0]["lex_ids"]  # (chars, 4, K)
        assert set(lex[0, BEGIN].tolist()) == {expect["nr"]}  # 张三: unseen in training
        assert set(lex[3, BEGIN].tolist()) == {expect["ns"]}  # 京城: matched once
        assert set(lex[5, BEGIN].tolist()) == {3}  # 北京: its own id
        assert set(lex[9, END].tolist()) == {UNK_WORD_ID}  # 新词: untagged
    again = vocab_from_dict(vocab.to_dict())
    assert np.array_equal(encode_items(again, [text])[0]["lex_ids"], encode_items(vocab, [text])[0]["lex_ids"])


def test_the_model_sizes_the_table_and_drops_words_to_their_tags(tmp_path: Path) -> None:
    vocab = _vocab(tmp_path)
    inputs = feature_inputs(False, True, vocab.to_dict())
    assert len(inputs["word_counts"]) == 3 + 2 + 3  # specials, 北京 and 大学, one per tag
    assert inputs["word_unknown"] == [0, 1, 2, 7, 5, 5, 6, 7]  # 北京 -> ns, 大学 -> n; tag ids stay
    enc = BiLSTMEncoder(len(vocab.itos), 4, 4, 1, 0.0, word_dim=3, unk_dropout=0.999, **inputs).train()
    ids = torch.tensor([[0, 1, 2, 3, 4, 5, 6, 7]] * 50)
    dropped = enc._to_unknown(ids, 2, enc.word_unknown)
    assert dropped[:, :3].eq(ids[:, :3]).all() and dropped[:, 5:].eq(ids[:, 5:]).all()
    assert set(dropped[:, 3].tolist()) <= {3, 7} and 7 in dropped[:, 3].tolist()
    assert set(dropped[:, 4].tolist()) <= {4, 5} and 5 in dropped[:, 4].tolist()


def test_changed_tags_are_refused(tmp_path: Path) -> None:
    data = _vocab(tmp_path).to_dict()
    (tmp_path / "lex.txt").write_text(LEXICON.replace("张三 3 nr", "张三 3 ns"), encoding="utf-8")
    with pytest.raises(CheckpointError, match="tags differ from the lexicon the model was trained with"):
        encode_items(vocab_from_dict(data), [list("北京")])


def test_tags_need_a_tag_column(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="data.lexicon_tags=true: lexicon .*lex.txt has no tag column"):
        _vocab(tmp_path, "北京 10\n大学 4\n")


def test_the_unknown_weight_sets_the_unknown_ids_share_of_the_pooled_sets(tmp_path: Path) -> None:
    # 京 of 北京城: End of 北京 (known, 3 matches + 1), Begin of 京城 (rare: its tag's unknown id, ns), and NONE
    # (weight 1) in its empty Middle and Single sets
    for weight in (1.0, 5.0):
        vocab = vocab_from_dict(_vocab(tmp_path, unknown_weight=weight).to_dict())  # as a checkpoint holds it
        inputs = feature_inputs(False, True, vocab.to_dict())
        assert inputs["word_counts"] == [0, 1, weight, 4, 3, weight, weight, weight]
        enc = BiLSTMEncoder(len(vocab.itos), 4, 4, 1, 0.0, word_dim=3, **inputs).eval()
        lex = torch.from_numpy(encode_items(vocab, [list("北京城")])[0]["lex_ids"]).reshape(1, 3, -1)
        ids = torch.cat([torch.zeros(1, 3, 1, dtype=lex.dtype), lex], -1)  # character ids do not matter here
        sets = enc.embed(ids)[0, 1, 4:].reshape(4, 3)  # (sets, word_dim) of 京
        table = enc.word_embedding.weight.detach()
        total = 4 + weight + 2
        assert torch.allclose(sets[END], 4 * 4 / total * table[3], atol=1e-6)  # 北京
        assert torch.allclose(sets[BEGIN], 4 * weight / total * table[7], atol=1e-6)  # 京城 -> ns
