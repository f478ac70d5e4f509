"""LightningDataModules: a shared base, ``BioDataModule`` (column corpora, named ``msra``) and ``ClueDataModule``."""

from __future__ import annotations

import gc
from collections.abc import Iterable
from typing import Any

import lightning as L
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from ner_lightning.base import lightning_state as loop
from ner_lightning.data.collate import BucketBatchSampler, LengthSortedSampler, collate_batch
from ner_lightning.data.features import FeatureVocab, encode_split
from ner_lightning.data.lexicon import Lexicon
from ner_lightning.data.prepare import prepare_split, resolve_scheme
from ner_lightning.data.readers import (
    ReadStats,
    Sentence,
)
from ner_lightning.data.store import EncodedSplit
from ner_lightning.data.tags import Policy, labels_for, normalize_scheme, split_tag
from ner_lightning.data.vocab import CharVocab, LabelVocab, PretrainedCharVocab
from ner_lightning.errors import ConfigError, DataError, number, positive_int

SPLITS = ("train", "val", "test")


class NerDataModule(L.LightningDataModule):
    """Shared machinery: read splits, convert tags, build vocabularies, batch with dynamic padding.

    Args:
        scheme: the model's tag scheme (``BIO`` or ``BIOES``).
        source_scheme: the corpus scheme (``auto`` detects it from the training split).
        tag_policy: ``repair`` (count and fix stray tags) or ``strict`` (error with ``path:line``).
        max_len: split longer sentences at punctuation (``None``: keep them whole).
        min_freq: minimum training frequency of a character to enter the vocabulary.
        normalize_width: map full-width characters to half-width before lookup.
        batch_size: training batch size; ``eval_batch_size=None`` takes it for evaluation too.
        num_workers: DataLoader workers.
        bucket: length-bucketed batches for training.
        max_train_samples / max_eval_samples / max_test_samples: keep only the first N sentences of train / val /
            test (quick runs).
        seed: seed of the bucketed sampler.
        progress: show progress bars while reading.
        tokenizer: a pretrained encoder's name or folder: characters then map to its vocabulary (one token per
            character) instead of a character vocabulary built from the training split.
        bigrams: add character-bigram ids (vocabulary from the training split, ``bigram_min_freq``).
        lexicon: add SoftLexicon word sets from this lexicon (``jieba``, a word-list path, or several); ``None``: off.
        lexicon_weights: word weights: ``train`` (matches in the training split + 1), ``train_uncovered`` (those
            not inside a longer match + 1, Ma et al. 2020), ``lexicon`` (its counts), ``uniform``.
        lexicon_max_len: longest lexicon word matched (``None``: the lexicon's longest).
        lexicon_min_freq: lexicon words matched fewer times in the training split share the unknown-word id.
        lexicon_tags: such words share one unknown id per lexicon tag instead (jieba's part of speech).
        lexicon_unknown_weight: the pooling weight of the unknown-word ids (a known word's is its count).
    """

    def __init__(
        self,
        scheme: str = "BIO",
        source_scheme: str = "auto",
        tag_policy: Policy = "repair",
        max_len: int | None = None,
        min_freq: int = 1,
        normalize_width: bool = False,
        batch_size: int = 64,
        eval_batch_size: int | None = 256,
        num_workers: int = 0,
        bucket: bool = True,
        max_train_samples: int | None = None,
        max_eval_samples: int | None = None,
        max_test_samples: int | None = None,
        seed: int = 42,
        progress: bool = True,
        tokenizer: str | None = None,
        bigrams: bool = False,
        bigram_min_freq: int = 2,
        lexicon: str | list[str] | None = None,
        lexicon_weights: str = "train",
        lexicon_max_len: int | None = None,
        lexicon_min_freq: int = 2,
        lexicon_tags: bool = False,
        lexicon_unknown_weight: float = 1.0,
    ) -> None:
        super().__init__()
        try:
            self.scheme = normalize_scheme(str(scheme))
        except ValueError:
            self.scheme = None  # type: ignore[assignment]
        if self.scheme not in ("BIO", "BIOES"):
            raise ConfigError(f"data.scheme={scheme!r}: the model scheme must be BIO or BIOES")
        if str(source_scheme).lower() != "auto":
            try:
                normalize_scheme(str(source_scheme))
            except ValueError:
                raise ConfigError(
                    f"data.source_scheme={source_scheme!r}: expected auto, BIO, IOB1, BIOES or BMES"
                ) from None
        if tag_policy not in ("repair", "strict"):
            raise ConfigError(f"data.tag_policy={tag_policy!r}: expected 'repair' or 'strict'")
        positive_int("data.max_len", max_len, allow_none=True)
        positive_int("data.min_freq", min_freq)
        positive_int("data.batch_size", batch_size)
        positive_int("data.eval_batch_size", eval_batch_size, allow_none=True)
        positive_int("data.num_workers", num_workers, minimum=0)
        positive_int("data.bigram_min_freq", bigram_min_freq)
        positive_int("data.lexicon_max_len", lexicon_max_len, allow_none=True)
        positive_int("data.lexicon_min_freq", lexicon_min_freq)
        self.lexicon_min_freq, self.lexicon_tags = lexicon_min_freq, bool(lexicon_tags)
        self.lexicon_unknown_weight = number("data.lexicon_unknown_weight", lexicon_unknown_weight, minimum=0.0)
        if (bigrams or lexicon) and tokenizer:
            raise ConfigError("data.bigrams / data.lexicon features are for character models, not with data.tokenizer")
        self.bigrams, self.bigram_min_freq = bool(bigrams), bigram_min_freq
        self.lexicon, self.lexicon_weights, self.lexicon_max_len = lexicon, lexicon_weights, lexicon_max_len
        for key, value in (
            ("max_train_samples", max_train_samples),
            ("max_eval_samples", max_eval_samples),
            ("max_test_samples", max_test_samples),
        ):
            positive_int(f"data.{key}", value, allow_none=True)
        self.source_scheme = source_scheme
        self.tag_policy = tag_policy
        self.max_len = max_len
        self.min_freq = min_freq
        self.normalize_width = normalize_width
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size or batch_size
        self.num_workers = num_workers
        self.bucket = bucket
        self.max_train_samples = max_train_samples
        self.max_eval_samples = max_eval_samples
        self.max_test_samples = max_test_samples
        self.seed = seed
        self.progress = progress
        self.tokenizer = tokenizer
        # "policy": unknown entity types in dev/test follow tag_policy; "error": always (scoring a checkpoint)
        self.unknown_types = "policy"
        self.vocab: CharVocab | PretrainedCharVocab | None = None
        self.label_vocab: LabelVocab | None = None
        self.sentences: dict[str, list[Sentence]] = {}
        self.available: dict[str, int] = {}  # sentences per split before the max_*_samples caps
        self.stats: dict[str, ReadStats] = {}
        self.detected_scheme: str | None = None
        self.datasets: dict[str, EncodedSplit] = {}

    # ---- reading -------------------------------------------------------------------------------------------
    def read_splits(self) -> dict[str, tuple[Iterable[Sentence], ReadStats]]:
        """Raw sentences per split (``train``, ``val``, ``test``; missing splits left out)."""
        raise NotImplementedError

    def _progress(self, sentences: Iterable[Sentence], desc: str) -> Iterable[Sentence]:
        return tqdm(sentences, desc=desc, unit=" sent", disable=not self.progress, leave=False, mininterval=0.5)

    @property
    def labels(self) -> list[str]:
        """Label names in id order (after :meth:`setup`)."""
        assert self.label_vocab is not None, "call setup() first"
        return self.label_vocab.labels

    def setup(self, stage: str | None = None) -> None:
        """Read every split once, convert tags, build vocabularies (unless given) and encode.

        Labels come from the training split alone (unless a checkpoint's labels were given): entities of other
        types in dev/test are counted (``unknown_type_entities``) and tagged ``O``, or an error under
        ``tag_policy=strict``.
        """
        if self.sentences:
            return
        # Millions of small objects are created and all stay alive: the cyclic GC would walk them again and again
        # (setup time growing faster than the corpus); it is paused while reading and the survivors are frozen
        # (refcounting still frees them; they are only left out of later cycle searches). teardown() undoes it.
        paused = gc.isenabled()
        gc.disable()
        try:
            self._setup()
        finally:
            if paused:
                gc.enable()
            gc.freeze()
            self._froze_gc = True

    def teardown(self, stage: str | None = None) -> None:
        """Hand the objects :meth:`setup` froze back to the cyclic GC (a process-wide state: not left behind)."""
        if getattr(self, "_froze_gc", False):
            gc.unfreeze()
            self._froze_gc = False

    def _setup(self) -> None:
        raw = {name: (list(sents), stats) for name, (sents, stats) in self.read_splits().items()}
        if "train" not in raw:
            raise DataError("no training split configured (data.train_path)")
        for name, (sents, _) in raw.items():
            check_labelled(name, sents)
        self.detected_scheme = resolve_scheme(raw["train"][0], self.source_scheme)
        limits = {"train": self.max_train_samples, "val": self.max_eval_samples, "test": self.max_test_samples}
        known = None if self.label_vocab is None else label_types(self.label_vocab.labels)
        for name in sorted(raw, key=lambda n: n != "train"):  # train first: it defines the labels
            sents, stats = raw[name]
            self.available[name] = len(sents)
            if limits.get(name) is not None:
                sents = sents[: limits[name]]
            self.sentences[name] = prepare_split(
                sents,
                self.detected_scheme,
                self.scheme,
                self.tag_policy,
                self.max_len,
                stats,
                known_types=known if name != "train" or self.label_vocab is not None else None,
                unknown_policy=self.unknown_types,
            )
            self.stats[name] = stats
            if name == "train" and known is None:
                known = set(stats.entities)
        if self.vocab is None and self.tokenizer:
            from ner_lightning.assets.pretrained import load_tokenizer

            self.vocab = PretrainedCharVocab.from_tokenizer(load_tokenizer(self.tokenizer), self.tokenizer)
        if self.vocab is None:
            self.vocab = CharVocab.build(
                (s.chars for s in self.sentences["train"]), self.min_freq, self.normalize_width
            )
            if self.bigrams or self.lexicon:
                self.vocab = FeatureVocab.build(
                    [s.chars for s in self.sentences["train"]],
                    self.vocab,
                    self.bigrams,
                    self.bigram_min_freq,
                    Lexicon.load(self.lexicon, self.lexicon_max_len, self.lexicon_tags) if self.lexicon else None,
                    self.lexicon_weights,
                    self._progress,
                    self.lexicon_min_freq,
                    self.lexicon_tags,
                    self.lexicon_unknown_weight,
                )
        if self.label_vocab is None:
            self.label_vocab = LabelVocab(labels_for(known or set(), self.scheme))
        for name, sents in self.sentences.items():
            if isinstance(self.vocab, FeatureVocab):
                self.datasets[name] = encode_split(self.vocab, self.label_vocab, sents)
                continue
            encoded = [self.encode(s) for s in sents]
            self.datasets[name] = EncodedSplit(
                (e["input_ids"] for e in encoded),
                None if any(e["labels"] is None for e in encoded) else (e["labels"] for e in encoded),
            )
            del encoded

    def encode(self, sentence: Sentence) -> dict[str, Any]:
        """Model inputs of one sentence: ``input_ids`` and (when labelled) ``labels``."""
        assert self.vocab is not None and self.label_vocab is not None
        labels = None if sentence.tags is None else self.label_vocab.encode(sentence.tags, sentence.where())
        return {"input_ids": self.vocab.encode(sentence.chars), "labels": labels}

    # ---- loaders -------------------------------------------------------------------------------------------
    def loader(self, name: str, train: bool = False) -> DataLoader:
        """DataLoader of split `name`: shuffled (and optionally bucketed) when `train`, else sorted by length.

        Training batches come from :class:`BucketBatchSampler` either way: seeded per epoch, resumed mid-epoch where
        they stopped, and sharded across DDP processes."""
        if name not in self.datasets:
            raise DataError(f"split {name!r} is not configured for {type(self).__name__}")
        data = self.datasets[name]
        common = {
            "collate_fn": collate_batch,
            "num_workers": self.num_workers,
            "persistent_workers": self.num_workers > 0,
        }
        world, rank = loop.replicas(self.trainer)
        if train:  # without bucketing: pools of one batch = plain random batches (same resume and DDP sharding)
            sampler = BucketBatchSampler(
                data.lengths(), self.batch_size, pool_batches=50 if self.bucket else 1, seed=self.seed,
                epoch_fn=lambda: loop.current_epoch(self.trainer),
                done_fn=lambda: loop.batches_done(self.trainer), num_replicas=world, rank=rank,
            )  # fmt: skip
            return DataLoader(data, batch_sampler=sampler, **common)
        sampler = LengthSortedSampler(data.lengths(), num_replicas=world, rank=rank)
        return DataLoader(data, batch_size=self.eval_batch_size, sampler=sampler, **common)

    def train_dataloader(self) -> DataLoader:
        return self.loader("train", train=True)

    def val_dataloader(self) -> DataLoader:
        return self.loader("val", train=False)

    def test_dataloader(self) -> DataLoader:
        return self.loader("test", train=False)

    # ---- reporting -----------------------------------------------------------------------------------------
    def summary(self) -> dict[str, dict[str, Any]]:
        """Per split: sentences, chars, entities per type, and the read/reject/repair/split counts."""
        out: dict[str, dict[str, Any]] = {}
        unk = getattr(self.vocab, "unk_id", 1)
        for name in sorted(self.sentences, key=lambda n: SPLITS.index(n) if n in SPLITS else len(SPLITS)):
            sents = self.sentences[name]
            out[name] = {
                "sentences": len(sents),
                "chars": sum(map(len, sents)),
                "entities": dict(sorted(self.stats[name].entities.items())),
                "unk_chars": int((self.datasets[name].ids == unk).sum()),
                **{k: v for k, v in self.stats[name].as_dict().items() if k != "used"},
            }
        return out


def label_types(labels: list[str]) -> set[str]:
    """Entity types of a label list (``['O', 'B-PER', 'I-PER']`` -> ``{'PER'}``)."""
    return {t for t in (split_tag(label)[1] for label in labels) if t}


def check_labelled(split: str, sentences: list[Sentence]) -> None:
    """A split is wholly labelled (it can be trained on or scored) or an error names its first unlabelled record.

    Raises:
        DataError: for a training/dev split with unlabelled records, or a test split that cannot be scored.
    """
    unlabelled = next((s for s in sentences if s.tags is None), None)
    if unlabelled is None:
        return
    if split == "test" and all(s.tags is None for s in sentences):
        raise DataError(
            f"{unlabelled.source}: the test split is unlabelled (no 'label' in record at line {unlabelled.line}) and "
            "cannot be scored; leave data.test_path unset and tag it with the predict command"
        )
    raise DataError(f"{unlabelled.where()}: record without 'label' in the {split} split (every record needs one)")
