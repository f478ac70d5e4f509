"""CRF numerics and graphs: the fast log-partition path and its fallback, float32 under autocast, tracing and
ONNX export, and the three Viterbi implementations."""

from __future__ import annotations

import itertools

import pytest
import torch
import torchcrf
from crf_cases import BIO_LABELS, MSRA_BIO, Decoder, path_score, random_inputs, seeded_crf

from ner_lightning.models.crf import CRF, ILLEGAL_SCORE, allowed_transitions


def test_decode_traces_for_a_fixed_length_and_any_mask() -> None:
    """No data-dependent control flow: a trace at one padded length decodes other masks correctly."""
    crf = CRF(5, constraints=allowed_transitions("BIO", BIO_LABELS))
    emissions, _, mask = random_inputs(4, 9, 5, seed=11)
    emissions = emissions.float()

    traced = torch.jit.trace(Decoder(crf), (emissions, torch.ones_like(mask)), check_trace=False)
    for seed in range(3):
        e, _, m = random_inputs(4, 9, 5, seed=20 + seed)
        got, got_len = traced(e.float(), m)
        want, want_len = crf.decode(e.float(), m)
        assert torch.equal(got, want) and torch.equal(got_len, want_len)


def test_wide_score_ranges_match_pytorch_crf() -> None:
    """Scores far apart (where the fast exp-space product would underflow) fall back to the exact recursion."""
    k = 5
    ours = CRF(k, constraints=allowed_transitions("BIO", BIO_LABELS), init_illegal=True)
    ref = torchcrf.CRF(k, batch_first=True)
    ref.load_state_dict({n: p for n, p in ours.state_dict().items() if not n.startswith("allowed")})
    emissions, tags, mask = random_inputs(4, 30, k, seed=9)
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
    emissions, _, mask = random_inputs(5, 12, 5, seed=31)
    emissions = emissions.float()
    tags, lengths = session.run(None, {"emissions": emissions.numpy(), "mask": mask.numpy()})
    want_tags, want_lengths = crf.decode(emissions, mask)
    assert np.array_equal(tags, want_tags.numpy()) and np.array_equal(lengths, want_lengths.numpy())


@pytest.mark.parametrize("setting", ["init_illegal", "constrained_training"])
def test_illegal_scores_keep_the_fast_path_and_equal_brute_force(setting: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Scores at -10000 (the baseline's init_illegal, or constrained training) add exactly nothing to the sum: they
    must not send the log-partition to its slow exact recursion, and the NLL and its gradients stay exact."""
    import ner_lightning.models.crf as crf_module

    constraints = allowed_transitions("BIO", MSRA_BIO)
    kwargs = {"init_illegal": True} if setting == "init_illegal" else {"constrain_training": True}
    crf = seeded_crf(7, seed=3, constraints=constraints, **kwargs)
    if setting == "init_illegal":  # seeded_crf's normal_() re-drew every score: put the illegal ones back at -10000
        with torch.no_grad():
            crf.start_transitions.masked_fill_(~crf.allowed_start, ILLEGAL_SCORE)
            crf.transitions.masked_fill_(~crf.allowed_transitions, ILLEGAL_SCORE)
    emissions, _, mask = random_inputs(3, 4, 7, seed=4)
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
            [path_score(crf, emissions[b, :n], p, constrained) for p in itertools.product(range(7), repeat=n)]
        )
        gold = path_score(crf, emissions[b, :n], tuple(tags[b, :n].tolist()), constrained)
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
