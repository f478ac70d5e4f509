"""Overlapping windows over a long text and the one rule that merges them: each character takes the window in which
it is most central (the first such window on a tie). The transformer encoder (training and evaluation of texts past
its position table) and the predictor (texts past ``max_chars``) both use it."""

from __future__ import annotations

from collections.abc import Sequence


def windows(n: int, width: int, stride: int) -> list[tuple[int, int]]:
    """``(start, end)`` windows of at most ``width`` characters covering ``[0, n)``, ``stride`` apart."""
    if n <= width:
        return [(0, n)]
    starts = list(range(0, n - width + 1, stride))
    if starts[-1] + width < n:
        starts.append(n - width)
    return [(s, s + width) for s in starts]


def window_owner(n: int, spans: Sequence[tuple[int, int]]) -> list[int]:
    """For each character of ``[0, n)``, the index of the span in which it is most central.

    Raises:
        ValueError: when a character is in no span.
    """
    owner = [-1] * n
    best = [float("inf")] * n
    for k, (start, end) in enumerate(spans):
        centre = (start + end - 1) / 2
        for pos in range(start, end):
            dist = abs(pos - centre)
            if dist < best[pos]:
                best[pos], owner[pos] = dist, k
    if -1 in owner:
        raise ValueError(f"character {owner.index(-1)} of {n} is in no window")
    return owner
