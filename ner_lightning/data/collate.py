"""Dynamic padding (seed 000 §3.3) and a length-bucketed batch sampler."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence

import torch
from torch.utils.data import Sampler

from ner_lightning.base.labels import IGNORE_INDEX
from ner_lightning.data.features import pack_items
from ner_lightning.errors import ConfigError


def collate_batch(items: Sequence[dict[str, list[int]]]) -> dict[str, torch.Tensor]:
    """Pad a batch to its longest sentence.

    Args:
        items: dicts with ``input_ids`` (and optionally ``labels``), lists of equal length per item.

    Returns:
        ``input_ids`` (batch, seq) long, padded with 0; ``mask`` (batch, seq) bool, True on real characters;
        ``lengths`` (batch,) long; ``labels`` (batch, seq) long padded with -100 when items carry labels;
        ``index`` (batch,) long, each sentence's position in its split, when items carry ``index``. Items with
        ``bigram_ids`` / ``lex_ids`` give ``input_ids`` (batch, seq, F) (see
        :func:`~ner_lightning.data.features.pack_items`).
    """
    if items and ("bigram_ids" in items[0] or "lex_ids" in items[0]):
        return _collate_features(items)
    lengths = torch.tensor([len(it["input_ids"]) for it in items], dtype=torch.long)
    batch, seq = len(items), int(lengths.max()) if len(items) else 0
    # shape: (batch, seq)
    input_ids = torch.zeros(batch, seq, dtype=torch.long)
    # shape: (batch, seq)
    mask = torch.arange(seq).unsqueeze(0) < lengths.unsqueeze(1)
    out = {"input_ids": input_ids, "mask": mask, "lengths": lengths}
    if items and all("index" in it for it in items):
        out["index"] = torch.tensor([it["index"] for it in items], dtype=torch.long)
    has_labels = all(it.get("labels") is not None for it in items)
    if has_labels:
        out["labels"] = torch.full((batch, seq), IGNORE_INDEX, dtype=torch.long)
    for i, it in enumerate(items):
        n = len(it["input_ids"])
        input_ids[i, :n] = torch.as_tensor(it["input_ids"], dtype=torch.long)
        if has_labels:
            out["labels"][i, :n] = torch.as_tensor(it["labels"], dtype=torch.long)
    return out


def _collate_features(items: Sequence[dict]) -> dict[str, torch.Tensor]:
    """:func:`collate_batch` for items carrying bigram / lexicon features."""
    ids, mask = pack_items(items)
    lengths = torch.as_tensor(mask.sum(1), dtype=torch.long)
    out = {"input_ids": torch.from_numpy(ids), "mask": torch.from_numpy(mask), "lengths": lengths}
    if all("index" in it for it in items):
        out["index"] = torch.tensor([it["index"] for it in items], dtype=torch.long)
    if all(it.get("labels") is not None for it in items):
        # shape: (batch, seq)
        labels = torch.full(mask.shape, IGNORE_INDEX, dtype=torch.long)
        for i, it in enumerate(items):
            labels[i, : len(it["labels"])] = torch.as_tensor(it["labels"], dtype=torch.long)
        out["labels"] = labels
    return out


class BucketBatchSampler(Sampler[list[int]]):
    """Batches of similar length: shuffle, sort within pools of ``pool_batches`` batches, shuffle the batches.

    Cuts padding (and CRF/LSTM time) for corpora with mixed lengths while keeping batches random.

    Args:
        lengths: length of each dataset item.
        batch_size: items per batch.
        shuffle: shuffle items and batches (each epoch uses ``seed + epoch``).
        drop_last: drop a final short batch.
        pool_batches: how many batches' worth of items are sorted together.
        seed: base seed.
        epoch_fn: the current epoch of the training loop (a resumed run restores it before iterating; Lightning
            creates a resumed epoch's iterator before it would call ``set_epoch``, so without this a resumed run
            replays epoch 0's order).
        done_fn: how many of this epoch's batches were already trained when a run resumes mid-epoch (they are
            skipped, so the resumed epoch trains the rest of the same order, each batch once); 0 otherwise.
        num_replicas: processes that share the epoch (DDP); every process builds the same batches from the same
            seed and takes every ``num_replicas``-th from ``rank`` on, the list padded with its first batches so that
            all processes take the same number of steps.
        rank: this process's rank.
    """

    def __init__(
        self,
        lengths: Sequence[int],
        batch_size: int,
        shuffle: bool = True,
        drop_last: bool = False,
        pool_batches: int = 50,
        seed: int = 0,
        epoch_fn: Callable[[], int | None] | None = None,
        done_fn: Callable[[], int] | None = None,
        num_replicas: int = 1,
        rank: int = 0,
    ) -> None:
        if isinstance(lengths, Sampler):  # Lightning re-creating it around its DistributedSampler: would be garbage
            raise ConfigError(
                "trainer.use_distributed_sampler=true with length-bucketed batches: the data module shards its own "
                "batches across processes; set trainer.use_distributed_sampler=false (as conf/trainer/ddp.yaml does)"
            )
        self.lengths = list(lengths)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.pool = batch_size * pool_batches
        self.seed = seed
        self.epoch = 0
        self._epoch_given = False
        self.epoch_fn = epoch_fn
        self.done_fn = done_fn
        self.num_replicas, self.rank = num_replicas, rank

    def set_epoch(self, epoch: int) -> None:
        """Use ``seed + epoch`` for the next iteration (Lightning calls it before every epoch, a resumed run too)."""
        self.epoch = epoch
        self._epoch_given = True

    def __iter__(self) -> Iterator[list[int]]:
        from_loop = self.epoch_fn() if self.epoch_fn is not None else None
        if from_loop is not None:
            self.epoch, self._epoch_given = from_loop, True
        rng = random.Random(self.seed + self.epoch)
        order = list(range(len(self.lengths)))
        if self.shuffle:
            rng.shuffle(order)
        batches: list[list[int]] = []
        for p in range(0, len(order), self.pool):
            pool = sorted(order[p : p + self.pool], key=self.lengths.__getitem__)
            batches += [pool[i : i + self.batch_size] for i in range(0, len(pool), self.batch_size)]
        if self.drop_last:
            batches = [b for b in batches if len(b) == self.batch_size]
        if self.shuffle:
            rng.shuffle(batches)
        if not self._epoch_given:  # plain loops: advance by ourselves
            self.epoch += 1
        if self.num_replicas > 1:
            batches = shard(batches, self.num_replicas, self.rank)
        done = self.done_fn() if self.done_fn is not None else 0
        if 0 < done < len(batches):  # resumed mid-epoch: the rest of this epoch's order
            batches = batches[done:]
        return iter(batches)

    def __len__(self) -> int:
        n = len(self.lengths)
        pools = [min(self.pool, n - p) for p in range(0, n, self.pool)]
        if self.drop_last:
            total = sum(k // self.batch_size for k in pools)
        else:
            total = sum(-(-k // self.batch_size) for k in pools)
        return -(-total // self.num_replicas)


def shard(items: list, num_replicas: int, rank: int) -> list:
    """Every ``num_replicas``-th item from ``rank`` on, after padding ``items`` with its own first items to a
    multiple of ``num_replicas`` (every process gets the same count, as DDP needs; the padding repeats a few)."""
    if not items:
        return items
    padded = items + items[: (-len(items)) % num_replicas]
    return padded[rank::num_replicas]


class LengthSortedSampler(Sampler[int]):
    """Indices by increasing length (evaluation: batches of similar length carry little padding; the order does not
    change scores, which are computed over the whole split)."""

    def __init__(self, lengths: Sequence[int], num_replicas: int = 1, rank: int = 0) -> None:
        # under DDP each process scores its share (padded with repeats; the gathered scores count each sentence once)
        order = sorted(range(len(lengths)), key=lengths.__getitem__)
        self.order = shard(order, num_replicas, rank) if num_replicas > 1 else order

    def __iter__(self) -> Iterator[int]:
        return iter(self.order)

    def __len__(self) -> int:
        return len(self.order)
