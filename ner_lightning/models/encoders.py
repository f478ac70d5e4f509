"""Encoders: character ids -> contextual hidden states. BiLSTM here; transformers join them with the same API.

Every encoder takes ``input_ids`` ``(batch, seq)`` and a bool ``mask`` ``(batch, seq)`` and returns hidden states
``(batch, seq, output_dim)``; ``param_groups()`` names its parameters ``embeddings`` or ``encoder`` for the
per-group learning rates.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn
from torch.nn import functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from ner_lightning.errors import ConfigError, number, positive_int


class BiLSTMEncoder(nn.Module):
    """Embedding -> dropout -> stacked bidirectional LSTM -> dropout.

    Args:
        vocab_size: character vocabulary size (id 0 is padding).
        embedding_dim: character embedding size (seed 000: 300 baseline, 256 optimized).
        hidden_size: LSTM size per direction (300 baseline, 512 optimized).
        num_layers: stacked LSTM layers (2).
        dropout: dropout on embeddings, between LSTM layers and on the output (0.3 baseline, 0.5 optimized).
        init: ``default`` (PyTorch's) or ``seed000`` (seed 000 §5.2: Xavier input-hidden, orthogonal hidden-hidden,
            zero biases with forget-gate bias 1.0).
        embeddings: optional ``(vocab_size, dim)`` tensor to start the embedding from (fine-tuned); when ``dim``
            differs from ``embedding_dim`` a learned linear projection maps it to ``embedding_dim``.
        source_dim: the ``dim`` of such a table when rebuilding from a checkpoint (the table itself is in the weights).
        impl: how the LSTM meets padding. ``packed`` packs the batch (cuDNN's fast path on GPU; on CPU its backward
            costs grow with the square of the length); ``unpacked`` runs each direction over the padded batch and
            reverses every sentence within its own length for the backward direction, so padding never enters a
            real state (same numbers, 1.1-2x faster on CPU); ``auto`` picks ``packed`` on CUDA, ``unpacked`` else.
            The weights are the same ``nn.LSTM`` parameters either way.
        bigram_vocab_size: size of the bigram vocabulary when the input carries bigram ids (``None``: no bigrams).
        bigram_dim: bigram embedding size.
        word_counts: the weight count of each SoftLexicon word id when the input carries word sets (``None``: none).
        word_dim: word embedding size; the four pooled sets add ``4 * word_dim`` inputs per character.
        char_start: ``(chars, embedding_dim)`` start rows of character ids 2+ (``model.encoder.char_vectors``).
        bigram_start: ``(bigrams, bigram_dim)`` start rows of bigram ids 2+ (``model.encoder.bigram_vectors``).
        word_start: ``(words, word_dim)`` start rows of word ids 3+ (``model.encoder.word_vectors``).
        unk_dropout: in training, the probability that a bigram id becomes the unknown bigram and a SoftLexicon word
            id the unknown word, so the model learns what a test sentence's unseen bigrams and words look like
            (its training split has every bigram and word of its own vocabulary; 0 turns it off).
        word_unknown: the unknown id of each word id (``None``: 2 for all), e.g. its lexicon tag's
            (``data.lexicon_tags``; :func:`ner_lightning.base.word_ids.unknown_word_ids`).

    With features, ``input_ids`` is ``(batch, seq, F)``: character id, bigram id (if any), then ``4 * K`` word ids
    (sets B, M, E, S of K each; see :mod:`ner_lightning.data.features`).
    """

    # Longest piece a predictor gives it (longer texts go in overlapping windows): the BiLSTM has no limit of its
    # own; this bounds a request's memory. The transformer's is its position table (TransformerEncoder.max_chars).
    max_chars = 512

    def __init__(
        self,
        vocab_size: int,
        embedding_dim: int = 300,
        hidden_size: int = 300,
        num_layers: int = 2,
        dropout: float = 0.3,
        init: Literal["default", "seed000"] = "default",
        embeddings: Tensor | None = None,
        source_dim: int | None = None,
        impl: Literal["auto", "packed", "unpacked"] = "auto",
        bigram_vocab_size: int | None = None,
        bigram_dim: int = 50,
        word_counts: list[float] | None = None,
        word_dim: int = 50,
        char_start: Tensor | None = None,
        bigram_start: Tensor | None = None,
        word_start: Tensor | None = None,
        unk_dropout: float = 0.0,
        word_unknown: list[int] | None = None,
    ) -> None:
        super().__init__()
        if impl not in ("auto", "packed", "unpacked"):
            raise ConfigError(f"model.encoder.impl={impl!r}: expected 'auto', 'packed' or 'unpacked'")
        for key, value in (("embedding_dim", embedding_dim), ("hidden_size", hidden_size), ("num_layers", num_layers),
                           ("bigram_dim", bigram_dim), ("word_dim", word_dim)):  # fmt: skip
            positive_int(f"model.encoder.{key}", value)
        if not 0.0 <= number("model.encoder.dropout", dropout, minimum=0.0) < 1.0:
            raise ConfigError(f"model.encoder.dropout={dropout}: expected a probability in [0, 1)")
        if not 0.0 <= number("model.encoder.unk_dropout", unk_dropout, minimum=0.0) < 1.0:
            raise ConfigError(f"model.encoder.unk_dropout={unk_dropout}: expected a probability in [0, 1)")
        self.unk_dropout = float(unk_dropout)
        self.impl = impl
        self.source_dim = int(embeddings.shape[1]) if embeddings is not None else source_dim
        table_dim = self.source_dim or embedding_dim
        self.embedding = nn.Embedding(vocab_size, table_dim, padding_idx=0)
        if embeddings is not None:
            with torch.no_grad():
                self.embedding.weight.copy_(embeddings)
        self.project = nn.Linear(table_dim, embedding_dim) if table_dim != embedding_dim else nn.Identity()
        self.dropout = nn.Dropout(dropout)
        self.bigram_embedding = (
            nn.Embedding(bigram_vocab_size, bigram_dim, padding_idx=0) if bigram_vocab_size else None
        )
        self.word_embedding = None
        input_dim = embedding_dim + (bigram_dim if bigram_vocab_size else 0)
        if word_counts is not None:
            self.word_embedding = nn.Embedding(len(word_counts), word_dim, padding_idx=0)
            self.register_buffer("word_counts", torch.tensor(word_counts, dtype=torch.float32), persistent=False)
            if word_unknown is not None:
                self.register_buffer("word_unknown", torch.tensor(word_unknown, dtype=torch.long), persistent=False)
            input_dim += 4 * word_dim
        with torch.no_grad():  # pretrained starts: the rows after the special ids (chars and bigrams 2+, words 3+)
            if char_start is not None:
                if embeddings is not None:
                    raise ConfigError("model.encoder.char_vectors and pretrained_embeddings both start the characters")
                self.embedding.weight[2 : 2 + len(char_start)] = char_start
            if bigram_start is not None and self.bigram_embedding is not None:
                self.bigram_embedding.weight[2 : 2 + len(bigram_start)] = bigram_start
            if word_start is not None and self.word_embedding is not None:
                self.word_embedding.weight[3 : 3 + len(word_start)] = word_start
        self.lstm = nn.LSTM(
            input_dim,
            hidden_size,
            num_layers=num_layers,
            batch_first=True,
            bidirectional=True,
            dropout=dropout if num_layers > 1 else 0.0,
        )
        self.output_dim = 2 * hidden_size
        if init == "seed000":
            self.reset_lstm_seed000()
        elif init != "default":
            raise ConfigError(f"model.encoder.init={init!r}: expected 'default' or 'seed000'")

    def reset_lstm_seed000(self) -> None:
        """Xavier input-hidden, orthogonal hidden-hidden, zero biases, forget-gate bias 1.0 (seed 000 §5.2)."""
        hidden = self.lstm.hidden_size
        for name, param in self.lstm.named_parameters():
            if name.startswith("weight_ih"):
                nn.init.xavier_uniform_(param)
            elif name.startswith("weight_hh"):
                for gate in param.data.chunk(4, dim=0):  # orthogonal per gate block (i, f, g, o)
                    nn.init.orthogonal_(gate)
            elif name.startswith("bias"):
                nn.init.zeros_(param)
                if name.startswith("bias_ih"):  # b_ih + b_hh is the gate bias: set the forget gate once
                    param.data[hidden : 2 * hidden] = 1.0

    def forward(self, input_ids: Tensor, mask: Tensor) -> Tensor:
        """Encode a batch.

        Args:
            input_ids: ``(batch, seq)`` character ids.
            mask: ``(batch, seq)`` bool, True on real characters.

        Returns:
            ``(batch, seq, 2 * hidden_size)`` hidden states (zeros on padding).
        """
        # shape: (batch, seq, input_dim)
        x = self.dropout(self.embed(input_ids))
        packed = self.impl == "packed" or (self.impl == "auto" and x.is_cuda)
        # shape: (batch, seq, 2 * hidden)
        out = self._packed(x, mask) if packed else self._unpacked(x, mask)
        return self.dropout(out)

    def embed(self, input_ids: Tensor) -> Tensor:
        """``(batch, seq)`` or ``(batch, seq, F)`` ids -> ``(batch, seq, input_dim)``: the character embedding, then
        the bigram embedding and the four SoftLexicon set vectors when the model has them."""
        chars = input_ids[..., 0] if input_ids.dim() == 3 else input_ids
        # shape: (batch, seq, embedding_dim)
        parts = [self.project(self.embedding(chars))]
        if self.bigram_embedding is not None:
            parts.append(self.bigram_embedding(self._to_unknown(input_ids[..., 1], unknown=1)))
        if self.word_embedding is not None:
            batch, seq = chars.shape
            first = 2 if self.bigram_embedding is not None else 1
            # shape: (batch, seq, 4, K)
            ids = self._to_unknown(input_ids[..., first:], 2, getattr(self, "word_unknown", None))
            words = ids.reshape(batch, seq, 4, -1)
            counts = self.word_counts[words]
            # Ma et al. 2020: v(S) = 4 / Z * sum_{w in S} z(w) e(w), Z over all four sets of the character
            total = counts.sum(dim=(2, 3), keepdim=True).clamp_min(1.0)
            weights = 4.0 * counts / total
            # shape: (batch, seq, 4, word_dim)
            pooled = (self.word_embedding(words) * weights.unsqueeze(-1)).sum(3)
            parts.append(pooled.reshape(batch, seq, -1))
        return torch.cat(parts, dim=-1) if len(parts) > 1 else parts[0]

    def _to_unknown(self, ids: Tensor, unknown: int, table: Tensor | None = None) -> Tensor:
        """In training, each known id (> ``unknown``) of ``ids`` (any shape) becomes ``unknown`` (or its own unknown
        id, ``table[id]``) with probability ``unk_dropout``; padding, ``NONE`` and unknown ids stay; outside
        training ``ids`` unchanged."""
        if not (self.training and self.unk_dropout):
            return ids
        drop = (ids > unknown) & (torch.rand(ids.shape, device=ids.device) < self.unk_dropout)
        if table is not None:
            return torch.where(drop, table[ids], ids)
        return ids.masked_fill(drop, unknown)

    def _packed(self, x: Tensor, mask: Tensor) -> Tensor:
        """``(batch, seq, dim)`` -> ``(batch, seq, 2 * hidden)`` through a packed sequence (zeros on padding)."""
        lengths = mask.sum(1).cpu()
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        out, _ = self.lstm(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.size(1))
        return out

    def _unpacked(self, x: Tensor, mask: Tensor) -> Tensor:
        """``(batch, seq, dim)`` -> ``(batch, seq, 2 * hidden)`` on the padded batch, exact on real positions.

        Right padding never reaches a real forward state (it comes after); for the backward direction each sentence
        is reversed within its own length (padding stays at the end), run forwards, and reversed back.
        """
        batch, seq, _ = x.shape
        lstm = self.lstm
        positions = torch.arange(seq, device=x.device).unsqueeze(0)
        lengths = mask.sum(1, keepdim=True)
        # shape: (batch, seq): position t of the reversed sentence reads position len-1-t; padding stays in place
        reverse = torch.where(mask, lengths - 1 - positions, positions).unsqueeze(2)
        h0 = x.new_zeros(1, batch, lstm.hidden_size)
        out = x
        for layer in range(lstm.num_layers):
            if layer:
                out = F.dropout(out, lstm.dropout, self.training)
            names = (f"weight_ih_l{layer}", f"weight_hh_l{layer}", f"bias_ih_l{layer}", f"bias_hh_l{layer}")
            fwd_w = [getattr(lstm, n) for n in names]
            bwd_w = [getattr(lstm, n + "_reverse") for n in names]
            # shape: (batch, seq, hidden) each
            fwd, _, _ = torch.lstm(out, (h0, h0), fwd_w, True, 1, 0.0, self.training, False, True)
            flipped = out.gather(1, reverse.expand(-1, -1, out.size(2)))
            bwd, _, _ = torch.lstm(flipped, (h0, h0), bwd_w, True, 1, 0.0, self.training, False, True)
            bwd = bwd.gather(1, reverse.expand(-1, -1, bwd.size(2)))
            out = torch.cat([fwd, bwd], dim=2)
        return out * mask.unsqueeze(2).to(out.dtype)

    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        """Parameters by learning-rate group."""
        extra = [e for e in (self.bigram_embedding, self.word_embedding) if e is not None]
        return {
            "embeddings": [*self.embedding.parameters(), *self.project.parameters()]
            + [p for e in extra for p in e.parameters()],
            "encoder": list(self.lstm.parameters()),
        }
