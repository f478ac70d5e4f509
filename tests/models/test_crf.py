"""CRF: brute force over every path, agreement with pytorch-crf, constraints, gradients, validation, tracing."""

from __future__ import annotations

import itertools

import pytest
import torch
import torchcrf

from ner_lightning.models.crf import CRF, ILLEGAL_SCORE, allowed_transitions

BIO_LABELS = ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]


def _crf(k: int, seed: int = 0, **kwargs: object) -> CRF:
    torch.manual_seed(seed)
    crf = CRF(k, **kwargs).double()
    with torch.no_grad():  # larger scores than the default init make the tests sharper
        for p in (crf.start_transitions, crf.end_transitions, crf.transitions):
            p.normal_()
    return crf


def _inputs(batch: int, seq: int, k: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    emissions = torch.randn(batch, seq, k, generator=g, dtype=torch.float64)
    tags = torch.randint(k, (batch, seq), generator=g)
    lengths = torch.randint(1, seq + 1, (batch,), generator=g)
    lengths[0] = seq
    mask = torch.arange(seq) < lengths.unsqueeze(1)
    return emissions, tags, mask


class Decoder(torch.nn.Module):
    """``crf.decode`` as a module, for tracing and export."""

    def __init__(self, crf: CRF) -> None:
        super().__init__()
        self.crf = crf

    def forward(self, e: torch.Tensor, m: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.crf.decode(e, m)


def _path_score(crf: CRF, emissions: torch.Tensor, path: tuple[int, ...], constrained: bool = False) -> torch.Tensor:
    start, end, trans = crf.scores(constrained, torch.float64)
    score = start[path[0]] + emissions[0, path[0]]
    for t in range(1, len(path)):
        score = score + trans[path[t - 1], path[t]] + emissions[t, path[t]]
    return score + end[path[-1]]


def test_nll_and_viterbi_equal_brute_force_with_mixed_lengths() -> None:
    crf = _crf(3)
    emissions, tags, mask = _inputs(5, 4, 3)  # 3 tags x 4 steps: 81 paths per sentence
    nll = crf(emissions, tags, mask, reduction="none")
    best, lengths = crf.decode(emissions, mask)
    for b in range(5):
        n = int(mask[b].sum())
        paths = list(itertools.product(range(3), repeat=n))
        scores = torch.stack([_path_score(crf, emissions[b, :n], p) for p in paths])
        gold = _path_score(crf, emissions[b, :n], tuple(tags[b, :n].tolist()))
        assert nll[b].item() == pytest.approx((torch.logsumexp(scores, 0) - gold).item(), abs=1e-9)
        assert best[b, :n].tolist() == list(paths[int(scores.argmax())])
        assert lengths[b] == n and (best[b, n:] == 0).all()


def test_constrained_viterbi_equals_brute_force_over_legal_paths() -> None:
    constraints = allowed_transitions("BIO", BIO_LABELS)
    crf = _crf(5, seed=1, constraints=constraints)
    emissions, _, mask = _inputs(6, 4, 5, seed=2)
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
        scores = torch.stack([_path_score(crf, emissions[b, :n], p) for p in legal])
        assert best[b, :n].tolist() == list(legal[int(scores.argmax())])


def test_constrained_training_nll_is_brute_force_over_legal_paths() -> None:
    crf = _crf(5, seed=3, constraints=allowed_transitions("BIO", BIO_LABELS), constrain_training=True)
    emissions, _, mask = _inputs(1, 3, 5, seed=4)
    gold = torch.tensor([[1, 2, 0]])
    nll = crf(emissions, gold, mask, reduction="sum")
    scores = torch.stack(
        [_path_score(crf, emissions[0], p, constrained=True) for p in itertools.product(range(5), repeat=3)]
    )
    expected = torch.logsumexp(scores, 0) - _path_score(crf, emissions[0], (1, 2, 0), constrained=True)
    assert nll.item() == pytest.approx(expected.item(), abs=1e-6)


def test_decoding_with_constraints_never_emits_illegal_sequences() -> None:
    labels = ["O", "B-LOC", "I-LOC", "E-LOC", "S-LOC", "B-PER", "I-PER", "E-PER", "S-PER"]
    start, end, trans = allowed_transitions("BIOES", labels)
    crf = CRF(len(labels), constraints=(start, end, trans))
    emissions, _, mask = _inputs(64, 20, len(labels), seed=5)
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
    emissions, tags, mask = _inputs(batch, seq, k, seed=seq)
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
    crf = _crf(4, seed=7)
    emissions, tags, mask = _inputs(3, 5, 4, seed=8)
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
    emissions, tags, mask = _inputs(4, 30, 5, seed=9)
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


def test_decode_traces_for_a_fixed_length_and_any_mask() -> None:
    """No data-dependent control flow: a trace at one padded length decodes other masks correctly."""
    crf = CRF(5, constraints=allowed_transitions("BIO", BIO_LABELS))
    emissions, _, mask = _inputs(4, 9, 5, seed=11)
    emissions = emissions.float()

    traced = torch.jit.trace(Decoder(crf), (emissions, torch.ones_like(mask)), check_trace=False)
    for seed in range(3):
        e, _, m = _inputs(4, 9, 5, seed=20 + seed)
        got, got_len = traced(e.float(), m)
        want, want_len = crf.decode(e.float(), m)
        assert torch.equal(got, want) and torch.equal(got_len, want_len)


def test_wide_score_ranges_match_pytorch_crf() -> None:
    """Scores far apart (where the fast exp-space product would underflow) fall back to the exact recursion."""
    k = 5
    ours = CRF(k, constraints=allowed_transitions("BIO", BIO_LABELS), init_illegal=True)
    ref = torchcrf.CRF(k, batch_first=True)
    ref.load_state_dict({n: p for n, p in ours.state_dict().items() if not n.startswith("allowed")})
    emissions, tags, mask = _inputs(4, 30, k, seed=9)
    emissions = (emissions.float() * 200).requires_grad_()
    got = ours(emissions, tags, mask, reduction="sum")
    want = -ref(emissions, tags, mask, reduction="sum")
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-2)
    (g_ours,) = torch.autograd.grad(got, [emissions])
    (g_ref,) = torch.autograd.grad(want, [emissions])
    torch.testing.assert_close(g_ours, g_ref, rtol=1e-3, atol=5e-3)  # float32 at scores ~1e4


def test_decode_exports_to_onnx_and_matches_eager() -> None:
    """Exported at one padded length (dynamic batch), onnxruntime decodes any right-padded mask like eager."""
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    import io

    import numpy as np

    crf = CRF(5, constraints=allowed_transitions("BIO", BIO_LABELS))

    buf = io.BytesIO()
    example = (torch.randn(2, 12, 5), torch.ones(2, 12, dtype=torch.bool))
    torch.onnx.export(
        Decoder(crf),
        example,
        buf,
        input_names=["emissions", "mask"],
        output_names=["tags", "lengths"],
        dynamo=False,
        dynamic_axes={"emissions": {0: "batch"}, "mask": {0: "batch"}},
    )
    session = ort.InferenceSession(buf.getvalue())
    emissions, _, mask = _inputs(5, 12, 5, seed=31)
    emissions = emissions.float()
    tags, lengths = session.run(None, {"emissions": emissions.numpy(), "mask": mask.numpy()})
    want_tags, want_lengths = crf.decode(emissions, mask)
    assert np.array_equal(tags, want_tags.numpy()) and np.array_equal(lengths, want_lengths.numpy())


MSRA_BIO = ["O", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-PER", "I-PER"]


@pytest.mark.parametrize("setting", ["init_illegal", "constrained_training"])
def test_illegal_scores_keep_the_fast_path_and_equal_brute_force(setting: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Scores at -10000 (the baseline's init_illegal, or constrained training) add exactly nothing to the sum: they
    must not send the log-partition to its slow exact recursion, and the NLL and its gradients stay exact."""
    import ner_lightning.models.crf as crf_module

    constraints = allowed_transitions("BIO", MSRA_BIO)
    kwargs = {"init_illegal": True} if setting == "init_illegal" else {"constrain_training": True}
    crf = _crf(7, seed=3, constraints=constraints, **kwargs)
    if setting == "init_illegal":  # _crf's normal_() re-drew every score: put the illegal ones back at -10000
        with torch.no_grad():
            crf.start_transitions.masked_fill_(~crf.allowed_start, ILLEGAL_SCORE)
            crf.transitions.masked_fill_(~crf.allowed_transitions, ILLEGAL_SCORE)
    emissions, _, mask = _inputs(3, 4, 7, seed=4)
    emissions.requires_grad_(True)
    tags = torch.tensor([[0, 1, 2, 5], [5, 6, 6, 0], [3, 4, 0, 0]])
    exact_calls = []
    real_alphas = crf_module._alphas
    monkeypatch.setattr(
        crf_module, "_alphas", lambda *a, exact: exact_calls.append(exact) or real_alphas(*a, exact=exact)
    )
    nll = crf(emissions, tags, mask, reduction="sum")
    nll.backward()
    assert exact_calls == [False], "illegal scores pushed the CRF off its fast path"
    grads = [emissions.grad.clone(), *(p.grad.clone() for p in crf.parameters())]

    # brute force: log-sum-exp over every path, in float64, differentiated by autograd
    emissions.grad = None
    crf.zero_grad()
    constrained = setting == "constrained_training"
    total = 0.0
    for b in range(3):
        n = int(mask[b].sum())
        paths = torch.stack(
            [_path_score(crf, emissions[b, :n], p, constrained) for p in itertools.product(range(7), repeat=n)]
        )
        gold = _path_score(crf, emissions[b, :n], tuple(tags[b, :n].tolist()), constrained)
        total = total + torch.logsumexp(paths, 0) - gold
    total.backward()
    assert torch.allclose(nll, total, atol=1e-8)
    for ours, ref in zip(grads, [emissions.grad, *(p.grad for p in crf.parameters())]):
        assert torch.allclose(ours, ref, atol=1e-8)


def test_live_paths_far_apart_still_take_the_exact_recursion(monkeypatch: pytest.MonkeyPatch) -> None:
    """A live message 200 below the max (not an illegal move) must still use the exact recursion."""
    import ner_lightning.models.crf as crf_module

    crf = CRF(3)
    emissions = torch.zeros(1, 4, 3)
    emissions[0, 0] = torch.tensor([0.0, -200.0, -400.0])
    emissions[0, 1] = torch.tensor([-500.0, 300.0, -500.0])  # the path through the low tag 1 wins
    exact_calls = []
    real_alphas = crf_module._alphas
    monkeypatch.setattr(
        crf_module, "_alphas", lambda *a, exact: exact_calls.append(exact) or real_alphas(*a, exact=exact)
    )
    crf(emissions, torch.zeros(1, 4, dtype=torch.long), reduction="sum")
    assert exact_calls == [False, True]


@pytest.mark.parametrize("illegal", [False, True])
def test_factorised_transition_gradient_equals_the_pairwise_one(illegal: bool) -> None:
    from ner_lightning.models.crf import _transition_grad_factorised, _transition_grad_pairwise

    g = torch.Generator().manual_seed(5)
    prev, nxt = torch.randn(6, 9, 7, generator=g) * 4, torch.randn(6, 9, 7, generator=g) * 4
    trans = torch.randn(7, 7, generator=g)
    if illegal:
        trans = trans.masked_fill(~allowed_transitions("BIO", MSRA_BIO)[2], ILLEGAL_SCORE)
    # normalise each step so its pair marginals sum to 1 (as the forward-backward messages do)
    pair = prev.unsqueeze(3) + nxt.unsqueeze(2) + trans
    nxt = nxt - torch.logsumexp(pair.flatten(2), dim=2, keepdim=True)
    mask = torch.arange(9) < torch.tensor([9, 3, 1, 5, 9, 7]).unsqueeze(1)
    weight = mask.float() * torch.rand(6, 1, generator=g)
    fast = _transition_grad_factorised(prev, nxt, trans, mask, weight)
    assert fast is not None
    assert torch.allclose(fast, _transition_grad_pairwise(prev, nxt, trans, mask, weight), atol=1e-6)


def test_the_three_viterbis_equal_pytorch_crf_with_ties_and_ragged_masks() -> None:
    """numpy (CPU eager), tensor (GPU) and scripted (the ONNX graph's loop): one answer, pytorch-crf's."""
    from ner_lightning.inference.viterbi import viterbi_decode
    from ner_lightning.models.viterbi import viterbi_numpy, viterbi_torch

    g = torch.Generator().manual_seed(6)
    for k in (3, 7, 21):
        emissions = torch.randint(-2, 3, (16, 20, k), generator=g).float()  # integer scores: many ties
        trans = torch.randint(-2, 3, (k, k), generator=g).float()
        start, end = torch.randint(-2, 3, (k,), generator=g).float(), torch.zeros(k)
        lengths = torch.randint(1, 21, (16,), generator=g)
        lengths[0] = 20
        mask = torch.arange(20) < lengths.unsqueeze(1)
        ours = viterbi_numpy(emissions, mask, start, end, trans)
        assert torch.equal(ours, viterbi_torch(emissions, mask, start, end, trans))
        scripted = viterbi_decode(emissions, mask, start, end, trans)
        assert torch.equal(scripted.masked_fill(~mask, 0), ours.masked_fill(~mask, 0))
        ref = torchcrf.CRF(k, batch_first=True)
        with torch.no_grad():
            ref.start_transitions.copy_(start), ref.end_transitions.copy_(end), ref.transitions.copy_(trans)
        assert CRF.to_lists(ours, lengths) == ref.decode(emissions, mask)


def test_mixed_precision_autocast_leaves_the_crf_in_float32() -> None:
    """Under bf16 autocast (``trainer.precision=bf16-mixed``, as ``trainer=rtx4090``) the log-partition's matmuls
    would run in bfloat16 (NLL off by ~4e-3, emission gradients by ~5 %); the CRF computes in float32 regardless."""
    torch.manual_seed(0)
    crf = CRF(7)
    with torch.no_grad():
        crf.transitions.normal_(0, 1)
    emissions = torch.randn(16, 40, 7) * 3
    tags = torch.randint(0, 7, (16, 40))
    results = []
    for autocast in (False, True):
        crf.zero_grad()
        em = emissions.clone().requires_grad_()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            loss = crf(em, tags, reduction="sum")
            loss.backward()
        results.append((loss.detach(), em.grad, crf.transitions.grad.clone()))
    for fp32, mixed in zip(*results):
        torch.testing.assert_close(mixed, fp32, rtol=0, atol=0)
