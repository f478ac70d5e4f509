"""CRF: brute force over every path, agreement with pytorch-crf, constraints, gradients, validation."""

from __future__ import annotations

import itertools

import pytest
import torch
import torchcrf
from crf_cases import BIO_LABELS, path_score, random_inputs, seeded_crf

from ner_lightning.models.crf import CRF, ILLEGAL_SCORE, allowed_transitions


def test_nll_and_viterbi_equal_brute_force_with_mixed_lengths() -> None:
    crf = seeded_crf(3)
    emissions, tags, mask = random_inputs(5, 4, 3)  # 3 tags x 4 steps: 81 paths per sentence
    nll = crf(emissions, tags, mask, reduction="none")
    best, lengths = crf.decode(emissions, mask)
    for b in range(5):
        n = int(mask[b].sum())
        paths = list(itertools.product(range(3), repeat=n))
        scores = torch.stack([path_score(crf, emissions[b, :n], p) for p in paths])
        gold = path_score(crf, emissions[b, :n], tuple(tags[b, :n].tolist()))
        assert nll[b].item() == pytest.approx((torch.logsumexp(scores, 0) - gold).item(), abs=1e-9)
        assert best[b, :n].tolist() == list(paths[int(scores.argmax())])
        assert lengths[b] == n and (best[b, n:] == 0).all()


def test_constrained_viterbi_equals_brute_force_over_legal_paths() -> None:
    constraints = allowed_transitions("BIO", BIO_LABELS)
    crf = seeded_crf(5, seed=1, constraints=constraints)
    emissions, _, mask = random_inputs(6, 4, 5, seed=2)
    emissions[:, :, 2] += 3.0  # I-LOC everywhere is tempting but illegal after O / at the start
    best, _ = crf.decode(emissions, mask)
    start, _, trans = constraints
    for b in range(6):
        n = int(mask[b].sum())
        legal = [
            p
            for p in itertools.product(range(5), repeat=n)
            if start[p[0]] and all(trans[p[t - 1], p[t]] for t in range(1, n))
        ]
        scores = torch.stack([path_score(crf, emissions[b, :n], p) for p in legal])
        assert best[b, :n].tolist() == list(legal[int(scores.argmax())])


def test_constrained_training_nll_is_brute_force_over_legal_paths() -> None:
    crf = seeded_crf(5, seed=3, constraints=allowed_transitions("BIO", BIO_LABELS), constrain_training=True)
    emissions, _, mask = random_inputs(1, 3, 5, seed=4)
    gold = torch.tensor([[1, 2, 0]])
    nll = crf(emissions, gold, mask, reduction="sum")
    scores = torch.stack(
        [path_score(crf, emissions[0], p, constrained=True) for p in itertools.product(range(5), repeat=3)]
    )
    expected = torch.logsumexp(scores, 0) - path_score(crf, emissions[0], (1, 2, 0), constrained=True)
    assert nll.item() == pytest.approx(expected.item(), abs=1e-6)


def test_decoding_with_constraints_never_emits_illegal_sequences() -> None:
    labels = ["O", "B-LOC", "I-LOC", "E-LOC", "S-LOC", "B-PER", "I-PER", "E-PER", "S-PER"]
    start, end, trans = allowed_transitions("BIOES", labels)
    crf = CRF(len(labels), constraints=(start, end, trans))
    emissions, _, mask = random_inputs(64, 20, len(labels), seed=5)
    best, lengths = crf.decode(emissions.float() * 5, mask)
    for row, n in zip(best.tolist(), lengths.tolist()):
        path = row[:n]
        assert start[path[0]] and end[path[-1]]
        assert all(trans[a, b] for a, b in zip(path, path[1:]))


def test_allowed_transitions_bio() -> None:
    start, end, trans = allowed_transitions("BIO", BIO_LABELS)
    assert start.tolist() == [True, True, False, True, False]
    assert end.all()
    assert trans[0, 2].item() is False and trans[1, 2].item() is True and trans[2, 2].item() is True
    assert trans[1, 4].item() is False and trans[4, 1].item() is True
    with pytest.raises(ValueError, match="label 'S-LOC' is not a BIO tag"):
        allowed_transitions("BIO", ["O", "S-LOC"])


def test_init_illegal_sets_scores() -> None:
    crf = CRF(5, constraints=allowed_transitions("BIO", BIO_LABELS), init_illegal=True)
    assert crf.transitions[0, 2].item() == ILLEGAL_SCORE and crf.start_transitions[2].item() == ILLEGAL_SCORE
    assert abs(crf.transitions[1, 2].item()) <= 0.1


@pytest.mark.parametrize(("batch", "seq", "k"), [(1, 1, 2), (4, 7, 5), (16, 33, 7), (8, 50, 21)])
def test_agrees_with_pytorch_crf(batch: int, seq: int, k: int) -> None:
    ours = CRF(k)
    ref = torchcrf.CRF(k, batch_first=True)
    ref.load_state_dict({n: p for n, p in ours.state_dict().items() if not n.startswith("allowed")})
    emissions, tags, mask = random_inputs(batch, seq, k, seed=seq)
    emissions = emissions.float().requires_grad_()
    for reduction, ref_reduction in (("sum", "sum"), ("mean", "mean"), ("none", "none"), ("token_mean", "token_mean")):
        got = ours(emissions, tags, mask, reduction=reduction)
        want = -ref(emissions, tags, mask, reduction=ref_reduction)
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    decoded, lengths = ours.decode(emissions, mask)
    assert CRF.to_lists(decoded, lengths) == ref.decode(emissions, mask)
    params = [emissions, *ours.parameters()]
    g_ours = torch.autograd.grad(ours(emissions, tags, mask, reduction="sum"), params, allow_unused=True)
    ref_params = [emissions, *ref.parameters()]
    g_ref = torch.autograd.grad(-ref(emissions, tags, mask, reduction="sum"), ref_params, allow_unused=True)
    for a, b, p in zip(g_ours, g_ref, params):
        torch.testing.assert_close(
            torch.zeros_like(p) if a is None else a, torch.zeros_like(p) if b is None else b, rtol=1e-4, atol=1e-5
        )


def test_gradients_flow_and_match_finite_differences() -> None:
    crf = seeded_crf(4, seed=7)
    emissions, tags, mask = random_inputs(3, 5, 4, seed=8)
    emissions.requires_grad_()
    loss = crf(emissions, tags, mask, reduction="mean")
    loss.backward()
    for grad in (emissions.grad, crf.transitions.grad, crf.start_transitions.grad, crf.end_transitions.grad):
        assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0
    assert (emissions.grad[~mask] == 0).all()  # padding gets no gradient
    # the CRF computes in float32; check its analytic gradient numerically on the float32 path
    crf32 = CRF(4)
    e32 = emissions.detach().float().requires_grad_()
    torch.autograd.gradcheck(
        lambda e: crf32(e.float(), tags, mask, reduction="sum").double(),
        (e32.double().requires_grad_(),),
        eps=1e-3,
        atol=5e-3,
        rtol=1e-2,
    )


def test_extreme_scores_stay_finite() -> None:
    crf = CRF(5, constraints=allowed_transitions("BIO", BIO_LABELS), init_illegal=True)
    emissions, tags, mask = random_inputs(4, 30, 5, seed=9)
    emissions = (emissions.float() * 200).requires_grad_()
    tags = torch.zeros_like(tags)
    loss = crf(emissions, tags, mask)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(emissions.grad).all() and torch.isfinite(crf.transitions.grad).all()


def test_ignore_index_outside_mask_is_ignored_inside_rejected() -> None:
    crf = CRF(3)
    emissions = torch.randn(2, 3, 3)
    mask = torch.tensor([[True, True, True], [True, False, False]])
    tags = torch.tensor([[0, 1, 2], [1, -100, -100]])
    clean = torch.tensor([[0, 1, 2], [1, 0, 0]])
    torch.testing.assert_close(crf(emissions, tags, mask), crf(emissions, clean, mask))
    with pytest.raises(
        ValueError,
        match=r"^tags must be in \[0, 3\) where mask is on, got -100; ignore-index "
        r"positions \(e.g. -100\) must be masked out$",
    ):
        crf(emissions, tags, torch.ones(2, 3, dtype=torch.bool))


@pytest.mark.parametrize(
    ("emissions", "tags", "mask", "message"),
    [
        (torch.randn(2, 3), None, None, "emissions must have dimension of 3, got 2"),
        (torch.randn(2, 3, 4), None, None, "expected last dimension of emissions is 3, got 4"),
        (torch.randn(2, 0, 3), None, None, "emissions must have at least one time step"),
        (
            torch.randn(2, 3, 3),
            None,
            torch.ones(2, 3, dtype=torch.uint8),
            "mask must be a bool tensor, got torch.uint8",
        ),
        (
            torch.randn(2, 3, 3),
            None,
            torch.ones(2, 4, dtype=torch.bool),
            r"the shape of emissions and mask must match, got \(2, 3\) and \(2, 4\)",
        ),
        (
            torch.randn(2, 3, 3),
            None,
            torch.tensor([[True] * 3, [False, True, True]]),
            "mask of the first timestep must all be on",
        ),
        (
            torch.randn(2, 3, 3),
            None,
            torch.tensor([[True] * 3, [True, False, True]]),
            "mask must be right-padded: no on step may follow an off step",
        ),
        (
            torch.randn(2, 3, 3),
            torch.zeros(2, 2, dtype=torch.long),
            None,
            r"the shape of emissions and tags must match, got \(2, 3\) and \(2, 2\)",
        ),
        (torch.randn(2, 3, 3), torch.zeros(2, 3), None, "tags must be an integer tensor, got torch.float32"),
        (torch.randn(2, 3, 3), torch.full((2, 3), 3), None, r"tags must be in \[0, 3\) where mask is on, got 3"),
    ],
)
def test_validation_messages(
    emissions: torch.Tensor, tags: torch.Tensor | None, mask: torch.Tensor | None, message: str
) -> None:
    crf = CRF(3)
    with pytest.raises(ValueError, match=f"^{message}"):
        if tags is None:
            crf.decode(emissions, mask)
        else:
            crf(emissions, tags, mask)


def test_constructor_validation() -> None:
    with pytest.raises(ValueError, match="invalid number of tags: 0"):
        CRF(0)
    with pytest.raises(ValueError, match="invalid reduction: avg"):
        CRF(2)(torch.randn(1, 2, 2), torch.zeros(1, 2, dtype=torch.long), reduction="avg")  # type: ignore[arg-type]
