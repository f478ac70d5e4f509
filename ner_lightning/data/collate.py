"""Dynamic padding (seed 000 §3.3) and a length-bucketed batch sampler."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence

import torch
from torch.utils.data import Sampler

IGNORE_INDEX = -100


def collate_batch(items: Sequence[dict[str, list[int]]]) -> dict[str, torch.Tensor]:
    """Pad a batch to its longest sentence.

    Args:
        items: dicts with ``input_ids`` (and optionally ``labels``), lists of equal length per item.

    Returns:
        ``input_ids`` (batch, seq) long, padded with 0; ``mask`` (batch, seq) bool, True on real characters;
        ``lengths`` (batch,) long; ``labels`` (batch, seq) long padded with -100 when items carry labels;
        ``index`` (batch,) long, each sentence's position in its split, when items carry ``index``.
    """
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
    ) -> None:
        self.lengths = list(lengths)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.pool = batch_size * pool_batches
        self.seed = seed
        self.epoch = 0
        self._epoch_given = False
        self.epoch_fn = epoch_fn

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
        return iter(batches)

    def __len__(self) -> int:
        n = len(self.lengths)
        pools = [min(self.pool, n - p) for p in range(0, n, self.pool)]
        if self.drop_last:
            return sum(k // self.batch_size for k in pools)
        return sum(-(-k // self.batch_size) for k in pools)


class LengthSortedSampler(Sampler[int]):
    """Indices by increasing length (evaluation: batches of similar length carry little padding; the order does not
    change scores, which are computed over the whole split)."""

    def __init__(self, lengths: Sequence[int]) -> None:
        self.order = sorted(range(len(lengths)), key=lengths.__getitem__)

    def __iter__(self) -> Iterator[int]:
        return iter(self.order)

    def __len__(self) -> int:
        return len(self.order)
