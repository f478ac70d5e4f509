"""The BiLSTM's unpacked path (CPU default) must equal the packed LSTM on ragged batches: outputs and gradients."""

from __future__ import annotations

import copy

import pytest
import torch

from ner_lightning.errors import ConfigError
from ner_lightning.models.encoders import BiLSTMEncoder


def ragged_batch(batch: int = 7, seq: int = 13) -> tuple[torch.Tensor, torch.Tensor]:
    """Ids ``(batch, seq)`` with lengths from 1 to ``seq`` (first row full), right-padded with 0."""
    lengths = torch.tensor([seq, 1, 2, seq - 1, 5, seq // 2, 3][:batch])
    mask = torch.arange(seq).unsqueeze(0) < lengths.unsqueeze(1)
    ids = torch.randint(1, 50, (batch, seq)).masked_fill(~mask, 0)
    return ids, mask


@pytest.mark.parametrize("layers", [1, 2, 3])
def test_unpacked_equals_packed_outputs_and_gradients(layers: int) -> None:
    torch.manual_seed(layers)
    packed = BiLSTMEncoder(50, embedding_dim=8, hidden_size=6, num_layers=layers, dropout=0.0, impl="packed")
    unpacked = copy.deepcopy(packed)
    unpacked.impl = "unpacked"
    ids, mask = ragged_batch()
    # padding carries garbage ids: a padded step that leaked into a real state would change the result
    ids_garbage = torch.where(mask, ids, torch.randint(1, 50, ids.shape))
    weight = torch.randn(7, 13, 12)
    outs = []
    for model, inputs in ((packed, ids), (unpacked, ids_garbage)):
        model.train()
        out = model(inputs, mask)
        (out * weight).sum().backward()
        outs.append(out)
    assert torch.allclose(outs[0], outs[1], atol=1e-6)
    assert bool((outs[1][~mask] == 0).all())  # zeros on padding, like pad_packed_sequence
    for (name, p), q in zip(packed.named_parameters(), unpacked.parameters()):
        if name == "embedding.weight":  # garbage ids on padding differ in the lookup, not in the gradient
            assert torch.allclose(p.grad[1:], q.grad[1:], atol=1e-5)
            continue
        assert torch.allclose(p.grad, q.grad, atol=1e-5), name


def test_eval_mode_and_reversal_depend_on_each_sentence_length() -> None:
    torch.manual_seed(0)
    model = BiLSTMEncoder(50, embedding_dim=8, hidden_size=6, num_layers=2, dropout=0.3, impl="unpacked").eval()
    ids, mask = ragged_batch()
    batched = model(ids, mask)
    for row in range(ids.size(0)):  # each sentence alone, unpadded, gives the same states
        n = int(mask[row].sum())
        alone = model(ids[row : row + 1, :n], mask[row : row + 1, :n])
        assert torch.allclose(batched[row, :n], alone[0], atol=1e-6)


def test_unknown_impl_names_the_key() -> None:
    with pytest.raises(ConfigError, match="model.encoder.impl"):
        BiLSTMEncoder(10, impl="fast")  # type: ignore[arg-type]


def test_unk_dropout_turns_known_feature_ids_unknown_in_training_only() -> None:
    """``unk_dropout``: in training a known bigram id (> 1) becomes 1 and a known word id (> 2) becomes 2 at the
    given rate; padding, NONE and unknown ids stay; in eval mode the ids and the output are untouched."""
    torch.manual_seed(0)
    kwargs = dict(bigram_vocab_size=50, bigram_dim=3, word_counts=[0, 1, 1, *range(1, 48)], word_dim=3)
    enc = BiLSTMEncoder(30, 4, 4, 1, 0.0, unk_dropout=0.3, **kwargs)
    plain = BiLSTMEncoder(30, 4, 4, 1, 0.0, **kwargs)
    plain.load_state_dict(enc.state_dict())
    batch, seq = 8, 40
    # shape: (batch, seq, 1 + 1 + 4 * 2): character, bigram, four sets of two words
    ids = torch.cat([torch.randint(2, 30, (batch, seq, 1)), torch.randint(0, 50, (batch, seq, 1)),
                     torch.randint(0, 50, (batch, seq, 8))], dim=2)  # fmt: skip
    for column, unknown in ((ids[..., 1], 1), (ids[..., 2:], 2)):
        enc.train()
        dropped = enc._to_unknown(column, unknown)
        known = column > unknown
        changed = dropped != column
        assert (dropped[changed] == unknown).all() and not changed[~known].any()
        assert 0.22 < changed[known].float().mean().item() < 0.38
        enc.eval()
        assert torch.equal(enc._to_unknown(column, unknown), column)
    mask = torch.ones(batch, seq, dtype=torch.bool)
    assert torch.equal(enc.eval()(ids, mask), plain.eval()(ids, mask))
    plain.train()
    assert torch.equal(plain.embed(ids), plain.eval().embed(ids))  # without it, training mode changes nothing here
    enc.train()
    trained = enc.embed(ids)
    assert not torch.equal(trained[..., 4:7], enc.eval().embed(ids)[..., 4:7])  # the bigram part changed
    assert torch.equal(trained[..., :4], enc.embed(ids)[..., :4])  # the character part did not
    with pytest.raises(ConfigError, match="model.encoder.unk_dropout=1.0"):
        BiLSTMEncoder(30, 4, 4, 1, 0.0, unk_dropout=1.0, **kwargs)


def test_the_lexicon_recipe_turns_unknown_feature_dropout_on() -> None:
    """experiment=lexicon trains with unk_dropout 0.1 (record msra_lexicon_unk10_budget145); the plain BiLSTM not."""
    from hydra import compose, initialize_config_dir

    from ner_lightning.runs.config import config_dir

    with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
        lexicon = compose("config", overrides=["experiment=lexicon"])
        plain = compose("config", overrides=["model=bilstm_crf"])
    assert lexicon.model.encoder.unk_dropout == 0.1 and plain.model.encoder.unk_dropout == 0.0
