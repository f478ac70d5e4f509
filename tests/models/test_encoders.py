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
