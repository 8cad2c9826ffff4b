"""The chunked cross-entropy head: equal to F.cross_entropy in value and gradient, far less memory."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch", reason="catlm.models needs torch (pip install catlm[torch])")

from hypothesis import given, settings, strategies as st  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from catlm.errors import BackendError  # noqa: E402
from catlm.models.heads import LinearSoftmax, chunked_cross_entropy  # noqa: E402
from catlm.models.memory import head_memory, saved_tensor_bytes  # noqa: E402


def _leaves(n, d, v, seed, bias):
    g = torch.Generator().manual_seed(seed)
    h = torch.randn(n, d, generator=g, dtype=torch.float64, requires_grad=True)
    W = (3 * torch.randn(v, d, generator=g, dtype=torch.float64)).requires_grad_()
    b = torch.randn(v, generator=g, dtype=torch.float64, requires_grad=True) if bias else None
    return h, W, b, torch.randint(0, v, (n,), generator=g)


def _grads(loss, leaves):
    return torch.autograd.grad(loss, [x for x in leaves if x is not None])


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 12), d=st.integers(1, 6), v=st.integers(1, 40), chunk=st.integers(1, 50),
       seed=st.integers(0, 2**16), bias=st.booleans())
def test_chunked_equals_naive_in_value_and_gradient(n, d, v, chunk, seed, bias):
    h, W, b, y = _leaves(n, d, v, seed, bias)
    ours = chunked_cross_entropy(h, W, b, y, chunk=chunk)
    ref = F.cross_entropy(F.linear(h, W, b), y)
    assert torch.allclose(ours, ref, rtol=1e-12, atol=1e-12)
    for g1, g2 in zip(_grads(ours, (h, W, b)), _grads(ref, (h, W, b))):
        assert torch.allclose(g1, g2, rtol=1e-10, atol=1e-12)


def test_gradcheck_of_the_custom_backward():
    h, W, b, y = _leaves(4, 3, 11, 0, True)
    assert torch.autograd.gradcheck(lambda h, W, b: chunked_cross_entropy(h, W, b, y, chunk=4), (h, W, b))


def test_extreme_logits_stay_finite():
    """Online logsumexp: logits of 1e4 must not overflow to inf."""
    h = torch.tensor([[1e4], [-1e4]], dtype=torch.float64)
    W = torch.tensor([[1.0], [0.0], [-1.0]], dtype=torch.float64)
    loss = chunked_cross_entropy(h, W, None, torch.tensor([1, 1]), chunk=1)
    assert torch.isclose(loss, torch.tensor(1e4, dtype=torch.float64))  # each row loses exactly 1e4


def test_head_loss_is_the_mean_nll_of_its_logits():
    torch.manual_seed(0)
    head = LinearSoftmax(8, 30, bias=True).double()
    h, y = torch.randn(2, 5, 8, dtype=torch.float64), torch.randint(0, 30, (2, 5))
    nll = -torch.log_softmax(head(h), -1).gather(-1, y[..., None]).mean()
    assert torch.allclose(head.loss(h, y, chunk=7), nll, atol=1e-12)


def test_out_of_vocabulary_targets_raise():
    h, W, b, _ = _leaves(3, 2, 5, 0, False)
    with pytest.raises(BackendError, match="outside the vocabulary"):
        chunked_cross_entropy(h, W, b, torch.tensor([0, 5, 1]))
    with pytest.raises(BackendError, match="positive"):
        chunked_cross_entropy(h, W, b, torch.tensor([0, 1, 1]), chunk=0)


def test_saved_tensor_bytes_counts_distinct_storages():
    x = torch.randn(250, requires_grad=True)
    assert saved_tensor_bytes(lambda: (x * x).sum()) == 1000           # x saved twice, one storage
    assert saved_tensor_bytes(lambda: (x * x).sum(), exclude=[x]) == 0


def test_chunked_head_saves_no_logits_at_gpt2_vocabulary():
    """N = 12 x 64 tokens, d = 128, V = 50,257: naive saves the (N, V) float32 log-probs."""
    n, d, v, chunk = 12 * 64, 128, 50257, 8192
    mem = head_memory(n, d, v, chunk)
    assert mem["naive"] >= mem["logits"] == n * v * 4
    # h (N, d) float32, targets (N,) int64, the logsumexp (N,) float32: no (N, V) term
    assert mem["chunked"] == n * d * 4 + n * 8 + n * 4
    assert mem["naive"] / mem["chunked"] > 300
