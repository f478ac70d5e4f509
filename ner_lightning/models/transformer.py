"""Transformer encoder over characters: one token per character, optional first-N layers, optional LoRA (peft).

Input is the per-character ids of :class:`~ner_lightning.data.vocab.PretrainedCharVocab`; the encoder adds
``[CLS]``/``[SEP]`` around each sentence and returns the hidden states of the character positions only, so heads
(and the CRF, whose first step must be on) never see special tokens. Sentences longer than the encoder's limit are
encoded in overlapping windows and merged (each character takes the window where it is most central).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from ner_lightning.assets.pretrained import load_model, model_from_config
from ner_lightning.base.windows import window_owner, windows
from ner_lightning.errors import ConfigError


class TransformerEncoder(nn.Module):
    """HF encoder (BERT-like) over characters.

    Args:
        vocab: the ``PretrainedCharVocab.to_dict()`` of the data (special token ids).
        pretrained: HF model name or local folder (or an offline name such as ``e5-small-offline``).
        num_layers: keep only the first N transformer layers (seed 003's 1-layer experiment); ``None`` keeps all.
        lora: peft LoRA settings (``r``, ``alpha``, ``dropout``, ``target_modules``) or ``None``.
        window_stride: stride of the windows for long inputs (default: half the window).
        config_dict: stored architecture; when given the encoder is built from it (weights come from a checkpoint).
    """

    def __init__(
        self,
        vocab: dict[str, Any],
        pretrained: str,
        num_layers: int | None = None,
        lora: dict[str, Any] | None = None,
        window_stride: int | None = None,
        config_dict: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.cls_id, self.sep_id, self.pad_id = vocab["cls_id"], vocab["sep_id"], vocab["pad_id"]
        model = model_from_config(config_dict) if config_dict else load_model(pretrained)
        if num_layers is not None and not config_dict:
            keep_first_layers(model, num_layers)
        self.config_dict = model.config.to_diff_dict() | {"model_type": model.config.model_type}
        self.max_chars = chars_per_window(model.config)
        self.window_stride = window_stride or max(1, self.max_chars // 2)
        self.output_dim = int(model.config.hidden_size)
        self.lora = lora
        if lora:
            from peft import LoraConfig, get_peft_model

            config = LoraConfig(
                r=int(lora.get("r", 8)),
                lora_alpha=int(lora.get("alpha", 32)),
                lora_dropout=float(lora.get("dropout", 0.1)),
                target_modules=list(lora.get("target_modules", ["query", "key", "value"])),
                bias="none",
            )
            model = get_peft_model(model, config)
        # from_pretrained returns the model in eval mode (dropout off); Lightning switches modes from here on
        self.model = model.train()

    def _encode(self, input_ids: Tensor, mask: Tensor) -> Tensor:
        """Encode sentences that fit: ``(batch, seq)`` -> ``(batch, seq, hidden)``."""
        batch, seq = input_ids.shape
        lengths = mask.sum(1)
        # shape: (batch, seq + 2): [CLS] chars [SEP] [PAD]...
        ids = torch.cat(
            [
                input_ids.new_full((batch, 1), self.cls_id),
                input_ids.masked_fill(~mask, self.pad_id),
                input_ids.new_full((batch, 1), self.pad_id),
            ],
            dim=1,
        )
        ids.scatter_(1, (lengths + 1).unsqueeze(1), self.sep_id)
        attention = torch.arange(seq + 2, device=ids.device).unsqueeze(0) < (lengths + 2).unsqueeze(1)
        hidden = self.model(input_ids=ids, attention_mask=attention.long()).last_hidden_state
        # shape: (batch, seq, hidden): character positions only
        return hidden[:, 1 : seq + 1]

    def forward(self, input_ids: Tensor, mask: Tensor) -> Tensor:
        """Hidden states ``(batch, seq, hidden)`` for character ids ``(batch, seq)`` and bool mask ``(batch, seq)``."""
        seq = input_ids.size(1)
        if seq <= self.max_chars:
            return self._encode(input_ids, mask)
        spans = windows(seq, self.max_chars, self.window_stride)
        # shape: (seq,) index of the window each position takes (ner_lightning.base.windows: centre-most wins)
        owner = torch.tensor(window_owner(seq, spans), device=input_ids.device)
        out: Tensor | None = None
        for k, (start, end) in enumerate(spans):
            hidden = self._encode(input_ids[:, start:end], mask[:, start:end])
            if out is None:
                out = hidden.new_zeros(input_ids.size(0), seq, hidden.size(-1))
            take = owner[start:end] == k
            out[:, start:end][:, take] = hidden[:, take]
        assert out is not None
        return out * mask.unsqueeze(-1)

    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        """Embedding parameters vs the rest of the encoder."""
        groups: dict[str, list[nn.Parameter]] = {"embeddings": [], "encoder": []}
        for name, param in self.model.named_parameters():
            groups["embeddings" if ".embeddings." in f".{name}" else "encoder"].append(param)
        return groups

    def merge_lora(self) -> None:
        """Fold the LoRA adapters into the base weights (for inference and export)."""
        if self.lora and hasattr(self.model, "merge_and_unload"):
            self.model = self.model.merge_and_unload()
            self.lora = None


def chars_per_window(config: Any) -> int:
    """Characters an encoder of this ``transformers`` config takes at once: its position table minus ``[CLS]`` and
    ``[SEP]`` (and RoBERTa's padding offset). The one source of the transformer's limit: the encoder's windows, the
    predictor's and the ONNX graph's ``max_chars`` and the data's sentence pieces (``runs.build``) all read it."""
    offset = 2 if config.model_type in ("roberta", "xlm-roberta", "camembert") else 0
    return int(config.max_position_embeddings) - 2 - offset


def keep_first_layers(model: nn.Module, n: int) -> None:
    """Truncate a BERT-like encoder to its first ``n`` layers (in place).

    Raises:
        ValueError: if ``n`` is not in ``[1, layers]`` or the model has no ``encoder.layer`` list.
    """
    layers = getattr(getattr(model, "encoder", None), "layer", None)
    if not isinstance(layers, nn.ModuleList):
        raise ConfigError("model.encoder.num_layers: this architecture has no encoder.layer list to truncate")
    if not 1 <= n <= len(layers):
        raise ConfigError(f"model.encoder.num_layers={n}: must be in [1, {len(layers)}]")
    model.encoder.layer = nn.ModuleList(list(layers)[:n])
    model.config.num_hidden_layers = n
