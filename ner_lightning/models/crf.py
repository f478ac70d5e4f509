"""A batched linear-chain CRF: fast NLL (forward–backward with closed-form gradients), tensor Viterbi, constraints.

Conventions follow ``pytorch-crf``: batch-first emissions ``(batch, seq, tags)``, a bool ``mask`` ``(batch, seq)``
for right-padded sequences whose first step is always on. Unlike ``pytorch-crf``, :meth:`CRF.forward` returns the
*negative* log-likelihood (a loss), and :meth:`CRF.decode` returns padded tensors (``to_lists`` turns them into lists).

Speed: the log-partition is an ``autograd.Function`` whose forward runs the forward algorithm without building a
graph and whose backward computes the exact gradients (the marginals) with one backward recursion and one
vectorised pairwise-marginal product, instead of back-propagating through ``seq`` small ``logsumexp`` steps.
Viterbi keeps back-pointers as a tensor and backtracks for the whole batch at once: no ``.item()``, no Python loop
over sentences, and no data-dependent control flow, so it can be traced (``torch.jit.trace`` / ONNX) for a fixed
padded length.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

from ner_lightning.models.constraints import allowed_transitions
from ner_lightning.models.viterbi import viterbi_numpy, viterbi_torch

__all__ = ["CRF", "ILLEGAL_SCORE", "allowed_transitions"]

Reduction = Literal["none", "sum", "mean", "token_mean"]

ILLEGAL_SCORE = -10000.0  # "-inf" that stays finite (seed 000 §4.2 uses -10000)
_DEAD = ILLEGAL_SCORE / 2  # messages this far below a step's max come only through illegal moves


def _compute_dtype(emissions: Tensor) -> torch.dtype:
    """float64 stays float64; half precision (autocast) is computed in float32."""
    return torch.float64 if emissions.dtype == torch.float64 else torch.float32


def _safe_spread(dtype: torch.dtype) -> float:
    """Largest gap below a step's max that ``exp`` keeps (float32 underflows near ``exp(-87)``), with a margin."""
    return 600.0 if dtype == torch.float64 else 60.0


def _too_wide(messages: Tensor, mask: Tensor) -> bool:
    """True when, at some real step, a live message lies so far below the step's max that the fast product could
    lose it; then the exact log-sum-exp recursion is used instead.

    Entries at least ``-ILLEGAL_SCORE / 2`` below the step's max are *dead*: they are reached only through an illegal
    move (start, transition or end scored :data:`ILLEGAL_SCORE`), weigh ``exp(-5000)`` or less against the live
    paths (zero in float32 and float64 alike), and contribute exactly nothing to the sum either way; they must not
    push the constrained configurations (``init_illegal``, constrained training) off the fast path.
    """
    finite = torch.isfinite(messages)
    top = messages.amax(dim=2, keepdim=True)
    live = finite & (messages > top + _DEAD)
    low = messages.masked_fill(~live, float("inf")).amin(dim=2)
    gap = (top.squeeze(2) - low).masked_fill(~mask, 0.0)
    return bool((gap > _safe_spread(messages.dtype)).any())


def _alphas(emissions: Tensor, mask: Tensor, start: Tensor, trans: Tensor, exact: bool) -> Tensor:
    """Forward messages ``(batch, seq, tags)``; padded steps repeat the last real one."""
    steps, emit = mask.unbind(1), emissions.unbind(1)
    t_max = trans.max()
    exp_trans = torch.exp(trans - t_max)
    alpha = start + emit[0]
    alphas = [alpha]
    for t in range(1, len(emit)):
        if exact:
            # shape: (batch, tags, tags) -> (batch, tags)
            nxt = torch.logsumexp(alpha.unsqueeze(2) + trans, dim=1) + emit[t]
        else:
            shift = alpha.amax(dim=1, keepdim=True)
            # shape: (batch, tags) @ (tags, tags) -> (batch, tags)
            nxt = torch.log(torch.exp(alpha - shift) @ exp_trans) + (shift + t_max) + emit[t]
        alpha = torch.where(steps[t].unsqueeze(1), nxt, alpha)
        alphas.append(alpha)
    return torch.stack(alphas, dim=1)


def _betas(emissions: Tensor, mask: Tensor, end: Tensor, trans: Tensor, exact: bool) -> Tensor:
    """Backward messages ``(batch, seq, tags)``: ``beta[b, t, i]`` sums the continuations after ``t`` from tag
    ``i``; it is ``end`` at each sequence's last position (and on padding)."""
    steps, emit = mask.unbind(1), emissions.unbind(1)
    t_max = trans.max()
    exp_trans_t = torch.exp(trans - t_max).t()
    init = end.expand(emissions.size(0), emissions.size(2))
    beta = init
    betas = [beta]
    for t in range(len(emit) - 2, -1, -1):
        v = beta + emit[t + 1]
        if exact:
            # shape: (batch, tags, tags) -> (batch, tags)
            nxt = torch.logsumexp(trans + v.unsqueeze(1), dim=2)
        else:
            shift = v.amax(dim=1, keepdim=True)
            nxt = torch.log(torch.exp(v - shift) @ exp_trans_t) + (shift + t_max)
        beta = torch.where(steps[t + 1].unsqueeze(1), nxt, init)
        betas.append(beta)
    return torch.stack(betas[::-1], dim=1)


def _transition_grad_pairwise(prev: Tensor, nxt: Tensor, trans: Tensor, mask: Tensor, weight: Tensor) -> Tensor:
    """``sum_{b,t} weight[b,t] * p(y_{t-1}=i, y_t=j)`` through the ``(batch, seq-1, tags, tags)`` pairwise marginals
    computed in log space (exact whatever the score ranges)."""
    # shape: (batch, seq-1, tags, tags), built in place
    pair = prev.unsqueeze(3) + nxt.unsqueeze(2)
    pair += trans
    pair.masked_fill_(~mask[:, :, None, None], float("-inf"))  # padding: no pair, and no inf * 0
    pair.exp_()
    return torch.einsum("btij,bt->ij", pair, weight)


def _transition_grad_factorised(
    prev: Tensor, nxt: Tensor, trans: Tensor, mask: Tensor, weight: Tensor
) -> Tensor | None:
    """The same sum without the 4-d tensor: ``p(i, j) = u_i M_ij v_j / s`` with ``u = exp(prev - max)``,
    ``v = exp(nxt - max)``, ``M = exp(trans - max)`` and ``s = u M v`` (each step's pair marginals sum to 1), so the
    sum over steps is one ``(tags, batch*seq) @ (batch*seq, tags)`` product. Exponentials of illegal (-10000) and
    other dead scores are exact zeros here and cost nothing (the 4-d version spent most of its time in ``exp`` on
    such underflowing values). Returns ``None`` when some real step's ``s`` is too small to trust (far-apart
    scores); the caller then uses the pairwise version.
    """
    u = torch.exp(prev - prev.amax(dim=2, keepdim=True))
    v = torch.exp(nxt - nxt.amax(dim=2, keepdim=True))
    m = torch.exp(trans - trans.max())
    # shape: (batch, seq-1): sum over (i, j) of u_i M_ij v_j
    s = ((u @ m) * v).sum(dim=2)
    tiny = 1e-200 if s.dtype == torch.float64 else 1e-20
    if bool(((s <= tiny) & mask).any()):
        return None
    w = weight / torch.where(mask, s, torch.ones_like(s))
    k = u.size(2)
    # shape: (tags, batch*(seq-1)) @ (batch*(seq-1), tags)
    return m * ((u * w.unsqueeze(2)).reshape(-1, k).t() @ v.reshape(-1, k))


class _LogPartition(torch.autograd.Function):
    """``log Z`` per sequence; backward returns the exact marginals (forward–backward algorithm).

    Messages stay in log space, max-shifted each step; the sum over previous tags is a
    ``(batch, tags) @ (tags, tags)`` product with ``exp(transitions)`` instead of a ``(batch, tags, tags)``
    log-sum-exp, and no autograd graph is built: the gradients come in closed form from the marginals. When a
    step's messages spread wider than ``exp`` can represent, the exact log-sum-exp recursion is used instead.
    """

    @staticmethod
    def forward(ctx, emissions: Tensor, mask: Tensor, start: Tensor, end: Tensor, trans: Tensor) -> Tensor:  # noqa: ANN001
        with torch.autocast(emissions.device.type, enabled=False):  # the matmuls in float32 under mixed precision
            return _LogPartition._forward(ctx, emissions, mask, start, end, trans)

    @staticmethod
    def _forward(ctx, emissions: Tensor, mask: Tensor, start: Tensor, end: Tensor, trans: Tensor) -> Tensor:  # noqa: ANN001
        alphas = _alphas(emissions, mask, start, trans, exact=False)
        exact = _too_wide(alphas, mask)
        if exact:
            alphas = _alphas(emissions, mask, start, trans, exact=True)
        # shape: (batch,); padded steps repeat the last real alpha, so the last column is each sequence's own
        log_z = torch.logsumexp(alphas[:, -1] + end, dim=1)
        ctx.exact = exact
        ctx.save_for_backward(emissions, mask, end, trans, alphas, log_z)
        return log_z

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_log_z: Tensor):  # noqa: ANN001, ANN205
        with torch.autocast(grad_log_z.device.type, enabled=False):
            return _LogPartition._backward(ctx, grad_log_z)

    @staticmethod
    def _backward(ctx, grad_log_z: Tensor):  # noqa: ANN001, ANN205
        emissions, mask, end, trans, alphas, log_z = ctx.saved_tensors
        batch, _, k = emissions.shape
        betas = _betas(emissions, mask, end, trans, exact=ctx.exact)
        if not ctx.exact and _too_wide(betas, mask):
            betas = _betas(emissions, mask, end, trans, exact=True)
        maskf = mask.to(emissions.dtype)
        scale = grad_log_z.view(batch, 1, 1)
        norm_z = log_z.view(batch, 1, 1)
        # shape: (batch, seq, tags): unary marginals p(y_t = j)
        grad_emissions = torch.exp(alphas + betas - norm_z) * (maskf.unsqueeze(2) * scale)
        grad_start = grad_emissions[:, 0].sum(0)
        lengths = mask.sum(1)
        last = alphas.gather(1, (lengths - 1).view(batch, 1, 1).expand(batch, 1, k)).squeeze(1)
        grad_end = (torch.exp(last + end - log_z.unsqueeze(1)) * grad_log_z.unsqueeze(1)).sum(0)
        weight = maskf[:, 1:] * grad_log_z.unsqueeze(1)
        # shape: (batch, seq-1, tags) each: log p(prefix ending in i), log p(j and the suffix) - log Z
        prev, nxt = alphas[:, :-1], emissions[:, 1:] + betas[:, 1:] - norm_z
        grad_trans = None if ctx.exact else _transition_grad_factorised(prev, nxt, trans, mask[:, 1:], weight)
        if grad_trans is None:
            grad_trans = _transition_grad_pairwise(prev, nxt, trans, mask[:, 1:], weight)
        return grad_emissions, None, grad_start, grad_end, grad_trans


class CRF(nn.Module):
    """Linear-chain conditional random field.

    Args:
        num_tags: number of tags.
        constraints: optional ``(start, end, transitions)`` bool tensors from :func:`allowed_transitions`; illegal
            moves are scored :data:`ILLEGAL_SCORE` when decoding (and in training when ``constrain_training``).
        constrain_training: also apply the constraints in the likelihood.
        init_illegal: initialise the illegal start/end/transition scores to :data:`ILLEGAL_SCORE`
            (seed 000 §4.2) so the model starts from legal paths even without decoding constraints.

    Attributes:
        start_transitions: ``(num_tags,)`` scores of starting with each tag.
        end_transitions: ``(num_tags,)`` scores of ending with each tag.
        transitions: ``(num_tags, num_tags)``; ``transitions[i, j]`` scores tag ``j`` following tag ``i``.
    """

    def __init__(
        self,
        num_tags: int,
        constraints: tuple[Tensor, Tensor, Tensor] | None = None,
        constrain_training: bool = False,
        init_illegal: bool = False,
    ) -> None:
        super().__init__()
        if num_tags <= 0:
            raise ValueError(f"invalid number of tags: {num_tags}")
        self.num_tags = num_tags
        self.start_transitions = nn.Parameter(torch.empty(num_tags).uniform_(-0.1, 0.1))
        self.end_transitions = nn.Parameter(torch.empty(num_tags).uniform_(-0.1, 0.1))
        self.transitions = nn.Parameter(torch.empty(num_tags, num_tags).uniform_(-0.1, 0.1))
        self.constrain_training = constrain_training
        ones = torch.ones(num_tags, dtype=torch.bool)
        start, end, trans = constraints if constraints is not None else (ones, ones, ones.outer(ones))
        if start.shape != (num_tags,) or end.shape != (num_tags,) or trans.shape != (num_tags, num_tags):
            raise ValueError(f"constraints must have shapes ({num_tags},), ({num_tags},), ({num_tags}, {num_tags})")
        self.register_buffer("allowed_start", start.bool().clone())
        self.register_buffer("allowed_end", end.bool().clone())
        self.register_buffer("allowed_transitions", trans.bool().clone())
        self.has_constraints = constraints is not None
        if init_illegal:
            with torch.no_grad():
                self.start_transitions.masked_fill_(~self.allowed_start, ILLEGAL_SCORE)
                self.end_transitions.masked_fill_(~self.allowed_end, ILLEGAL_SCORE)
                self.transitions.masked_fill_(~self.allowed_transitions, ILLEGAL_SCORE)

    def extra_repr(self) -> str:
        return f"num_tags={self.num_tags}, constrained={self.has_constraints}"

    def scores(self, constrained: bool, dtype: torch.dtype = torch.float32) -> tuple[Tensor, Tensor, Tensor]:
        """``(start, end, transitions)`` in ``dtype``; illegal moves at :data:`ILLEGAL_SCORE` if ``constrained``."""
        start, end, trans = (p.to(dtype) for p in (self.start_transitions, self.end_transitions, self.transitions))
        if constrained and self.has_constraints:
            illegal = torch.tensor(ILLEGAL_SCORE, dtype=start.dtype, device=start.device)
            start = torch.where(self.allowed_start, start, illegal)
            end = torch.where(self.allowed_end, end, illegal)
            trans = torch.where(self.allowed_transitions, trans, illegal)
        return start, end, trans

    def _validate(self, emissions: Tensor, mask: Tensor | None, tags: Tensor | None = None) -> Tensor:
        """Check shapes and values; returns the mask (all on when ``None``)."""
        if emissions.dim() != 3:
            raise ValueError(f"emissions must have dimension of 3, got {emissions.dim()}")
        if emissions.size(2) != self.num_tags:
            raise ValueError(f"expected last dimension of emissions is {self.num_tags}, got {emissions.size(2)}")
        if emissions.size(1) == 0:
            raise ValueError("emissions must have at least one time step")
        if mask is None:
            mask = emissions.new_ones(emissions.shape[:2], dtype=torch.bool)
        if mask.dtype != torch.bool:
            raise ValueError(f"mask must be a bool tensor, got {mask.dtype}")
        if mask.shape != emissions.shape[:2]:
            raise ValueError(
                f"the shape of emissions and mask must match, got {tuple(emissions.shape[:2])} and {tuple(mask.shape)}"
            )
        tracing = torch.jit.is_tracing() or torch.onnx.is_in_onnx_export()
        if not tracing:
            if not bool(mask[:, 0].all()):
                raise ValueError("mask of the first timestep must all be on")
            if bool((mask[:, 1:] & ~mask[:, :-1]).any()):
                raise ValueError("mask must be right-padded: no on step may follow an off step")
        if tags is not None:
            if tags.shape != emissions.shape[:2]:
                raise ValueError(
                    "the shape of emissions and tags must match, "
                    f"got {tuple(emissions.shape[:2])} and {tuple(tags.shape)}"
                )
            if tags.dtype not in (torch.long, torch.int, torch.int16, torch.uint8):
                raise ValueError(f"tags must be an integer tensor, got {tags.dtype}")
            bad = mask & ((tags < 0) | (tags >= self.num_tags))
            if not tracing and bool(bad.any()):
                value = int(tags[bad][0])
                raise ValueError(
                    f"tags must be in [0, {self.num_tags}) where mask is on, got {value}; "
                    "ignore-index positions (e.g. -100) must be masked out"
                )
        return mask

    def forward(
        self, emissions: Tensor, tags: Tensor, mask: Tensor | None = None, reduction: Reduction = "mean"
    ) -> Tensor:
        """Negative log-likelihood of ``tags``.

        Args:
            emissions: ``(batch, seq, num_tags)`` scores (computed in float32, or float64 if given).
            tags: ``(batch, seq)`` gold tag ids; values where ``mask`` is off are ignored (-100 is fine there).
            mask: ``(batch, seq)`` bool, right-padded, first step on; ``None`` means all on.
            reduction: ``none`` ``(batch,)``, ``sum``, ``mean`` over sentences, or ``token_mean`` over tokens.

        Returns:
            The loss: ``(batch,)`` for ``none``, else a scalar.

        Raises:
            ValueError: on bad shapes, dtypes, masks or tag values (see :meth:`_validate`).
        """
        if reduction not in ("none", "sum", "mean", "token_mean"):
            raise ValueError(f"invalid reduction: {reduction}")
        mask = self._validate(emissions, mask, tags)
        emissions = emissions.to(_compute_dtype(emissions))
        start, end, trans = self.scores(self.constrain_training, emissions.dtype)
        # shape: (batch,)
        nll = _LogPartition.apply(emissions, mask, start, end, trans) - self._gold_score(
            emissions, tags, mask, start, end, trans
        )
        if reduction == "none":
            return nll
        if reduction == "sum":
            return nll.sum()
        if reduction == "mean":
            return nll.mean()
        return nll.sum() / mask.sum()

    @staticmethod
    def _gold_score(emissions: Tensor, tags: Tensor, mask: Tensor, start: Tensor, end: Tensor, trans: Tensor) -> Tensor:
        """Score of the gold path per sequence, ``(batch,)``, without a loop over time."""
        batch = emissions.size(0)
        # shape: (batch, seq)
        tags = tags.long().masked_fill(~mask, 0)
        maskf = mask.to(emissions.dtype)
        emit = emissions.gather(2, tags.unsqueeze(2)).squeeze(2)
        # shape: (batch, seq - 1)
        moves = trans[tags[:, :-1], tags[:, 1:]]
        last = tags.gather(1, (mask.sum(1) - 1).unsqueeze(1)).squeeze(1)
        return start[tags[:, 0]] + (emit * maskf).sum(1) + (moves * maskf[:, 1:]).sum(1) + end[last].view(batch)

    @torch.no_grad()
    def decode(self, emissions: Tensor, mask: Tensor | None = None, pad_value: int = 0) -> tuple[Tensor, Tensor]:
        """Most likely tag sequences (Viterbi), constrained when the CRF has constraints.

        Args:
            emissions: ``(batch, seq, num_tags)``.
            mask: ``(batch, seq)`` bool, right-padded, first step on; ``None`` means all on.
            pad_value: tag id written at masked positions.

        Returns:
            ``(tags, lengths)``: ``(batch, seq)`` long tag ids and ``(batch,)`` long lengths.
        """
        mask = self._validate(emissions, mask)
        emissions = emissions.to(_compute_dtype(emissions))
        start, end, trans = self.scores(True, emissions.dtype)
        if emissions.is_cuda or torch.jit.is_tracing() or torch.onnx.is_in_onnx_export():
            tags = viterbi_torch(emissions, mask, start, end, trans)
        else:  # CPU: the same float operations in numpy, a few times faster per step than torch's small ops
            tags = viterbi_numpy(emissions, mask, start, end, trans)
        return tags.masked_fill(~mask, pad_value), mask.sum(1)

    @staticmethod
    def to_lists(tags: Tensor, lengths: Tensor) -> list[list[int]]:
        """Padded ``(batch, seq)`` tags and ``(batch,)`` lengths to a list of per-sequence tag lists."""
        return [row[:n] for row, n in zip(tags.tolist(), lengths.tolist())]
