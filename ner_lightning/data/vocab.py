"""Character and label vocabularies, saved as JSON next to (and inside) a model checkpoint."""

from __future__ import annotations

import json
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

PAD, UNK = "[PAD]", "[UNK]"


def to_halfwidth(char: str) -> str:
    """Full-width ASCII variants and the ideographic space to their half-width forms (``'Ａ'`` -> ``'A'``)."""
    code = ord(char)
    if code == 0x3000:
        return " "
    if 0xFF01 <= code <= 0xFF5E:
        return chr(code - 0xFEE0)
    return char


class CharVocab:
    """Character vocabulary with ``[PAD]`` = 0 and ``[UNK]`` = 1.

    Args:
        tokens: the vocabulary after the two specials, in id order.
        normalize: map full-width to half-width characters (and apply NFKC to compatibility forms) first.
    """

    unk_id = 1
    pad_id = 0

    def __init__(self, tokens: Sequence[str] = (), normalize: bool = False) -> None:
        self.normalize = normalize
        self.itos: list[str] = [PAD, UNK, *[t for t in tokens if t not in (PAD, UNK)]]
        self.stoi: dict[str, int] = {t: i for i, t in enumerate(self.itos)}

    @classmethod
    def build(cls, sentences: Iterable[Sequence[str]], min_freq: int = 1, normalize: bool = False) -> CharVocab:
        """Count characters (after normalisation) and keep those seen ``min_freq`` times, most frequent first."""
        norm = cls._normalizer(normalize)
        counts = Counter(norm(c) for chars in sentences for c in chars)
        tokens = [t for t, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])) if n >= min_freq]
        return cls(tokens, normalize)

    @staticmethod
    def _normalizer(normalize: bool):  # noqa: ANN205 - a tiny closure factory
        if not normalize:
            return lambda c: c
        return lambda c: unicodedata.normalize("NFKC", to_halfwidth(c)) or c

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, chars: Sequence[str]) -> list[int]:
        """Ids for ``chars``; unknown characters map to ``[UNK]`` (1) and keep their position."""
        norm = self._normalizer(self.normalize)
        return [self.stoi.get(norm(c), 1) for c in chars]

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (kept in checkpoints)."""
        return {"itos": self.itos, "normalize": self.normalize}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CharVocab:
        """Inverse of :meth:`to_dict`."""
        return cls(data["itos"][2:], data.get("normalize", False))

    def save(self, path: str | Path) -> None:
        """Write the vocabulary as JSON."""
        Path(path).write_text(json.dumps(self.to_dict(), ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> CharVocab:
        """Read a vocabulary written by :meth:`save`."""
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))


class LabelVocab:
    """Labels in a fixed order (``O`` first, see :func:`ner_lightning.data.tags.labels_for`)."""

    def __init__(self, labels: Sequence[str]) -> None:
        self.labels = list(labels)
        self.index = {t: i for i, t in enumerate(self.labels)}

    def __len__(self) -> int:
        return len(self.labels)

    def encode(self, tags: Sequence[str], where: str = "") -> list[int]:
        """Ids for ``tags``.

        Raises:
            KeyError: naming the tag (and ``where``) when it is not in the label set.
        """
        try:
            return [self.index[t] for t in tags]
        except KeyError as err:
            raise KeyError(f"{where}: tag {err.args[0]!r} is not among the labels {self.labels}") from None

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Tags for ``ids``."""
        return [self.labels[i] for i in ids]

    def save(self, path: str | Path) -> None:
        """Write the labels as a JSON list."""
        Path(path).write_text(json.dumps(self.labels, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> LabelVocab:
        """Read labels written by :meth:`save`."""
        return cls(json.loads(Path(path).read_text(encoding="utf-8")))


class PretrainedCharVocab:
    """One token per character from a pretrained tokenizer's vocabulary (BERT WordPiece or sentencepiece pieces).

    Each character maps to the first of these that is a token: the character itself, its lowercase form, its NFKC
    form (and lowercase), the sentencepiece word-start form ``▁c``; otherwise ``[UNK]``, keeping its position.
    Whitespace maps to ``[UNK]`` too. The encoder adds the ``[CLS]``/``[SEP]`` ids around the characters.

    Args:
        itos: tokens in id order.
        unk_id / pad_id / cls_id / sep_id: special token ids.
        name: the tokenizer's name or path (for reports).
    """

    def __init__(self, itos: Sequence[str], unk_id: int, pad_id: int, cls_id: int, sep_id: int, name: str = "") -> None:
        self.itos = list(itos)
        self.stoi = {t: i for i, t in enumerate(self.itos)}
        self.unk_id, self.pad_id, self.cls_id, self.sep_id = unk_id, pad_id, cls_id, sep_id
        self.name = name
        self.normalize = False
        self._cache: dict[str, int] = {}

    @classmethod
    def from_tokenizer(cls, tokenizer: Any, name: str = "") -> PretrainedCharVocab:
        """Build from a ``transformers`` tokenizer."""
        vocab = tokenizer.get_vocab()
        itos = [""] * (max(vocab.values()) + 1)
        for token, i in vocab.items():
            itos[i] = token
        cls_id = tokenizer.cls_token_id if tokenizer.cls_token_id is not None else tokenizer.bos_token_id
        sep_id = tokenizer.sep_token_id if tokenizer.sep_token_id is not None else tokenizer.eos_token_id
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        return cls(itos, tokenizer.unk_token_id, pad_id, cls_id, sep_id, name)

    def __len__(self) -> int:
        return len(self.itos)

    def lookup(self, char: str) -> int:
        """Token id of one character (cached)."""
        hit = self._cache.get(char)
        if hit is None:
            hit = self.unk_id
            if not char.isspace():
                nfkc = unicodedata.normalize("NFKC", char)
                for cand in (char, char.lower(), nfkc, nfkc.lower(), "▁" + char, "▁" + nfkc.lower()):
                    if cand in self.stoi:
                        hit = self.stoi[cand]
                        break
            self._cache[char] = hit
        return hit

    def encode(self, chars: Sequence[str]) -> list[int]:
        """One id per character; unknown characters become ``[UNK]`` and keep their position."""
        return [self.lookup(c) for c in chars]

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (kept in checkpoints, so prediction needs no tokenizer download)."""
        return {
            "type": "pretrained",
            "itos": self.itos,
            "unk_id": self.unk_id,
            "pad_id": self.pad_id,
            "cls_id": self.cls_id,
            "sep_id": self.sep_id,
            "name": self.name,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PretrainedCharVocab:
        """Inverse of :meth:`to_dict`."""
        return cls(data["itos"], data["unk_id"], data["pad_id"], data["cls_id"], data["sep_id"], data.get("name", ""))


def vocab_from_dict(data: dict[str, Any]) -> CharVocab | PretrainedCharVocab:
    """Rebuild any vocabulary (characters, pretrained tokens, characters with features) from its ``to_dict`` form."""
    if data.get("features"):
        from ner_lightning.data.features import FeatureVocab

        return FeatureVocab.from_dict(data)
    return PretrainedCharVocab.from_dict(data) if data.get("type") == "pretrained" else CharVocab.from_dict(data)
