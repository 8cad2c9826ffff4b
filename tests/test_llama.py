"""The llama backbone against closed forms and an independent attention written out naively."""
from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

from catlm.backends.torch import compile_torch  # noqa: E402
from catlm.decoding.kvcache import RollbackCache  # noqa: E402
from catlm.elaborate import parse  # noqa: E402
from catlm.errors import SpecError  # noqa: E402
from catlm.models.llama import Llama, RMSNorm, Rotary, rotate  # noqa: E402

SPEC = """object Tok = fin 40
object E = real 16
object H = real 16
kernel emb : Tok* -> E* = embedding(dim=16, positions=none)
kernel bb : E* -> H = llama(layers=2, heads=4, kv_heads={kv}, ffn=24, context=32, rope_base=500)
kernel head : H -> Tok = linear_softmax(tie=emb)
kernel lm = emb >> bb >> head
"""


def test_rmsnorm_is_the_root_mean_square_closed_form():
    norm = RMSNorm(2, eps=0.0)
    with torch.no_grad():
        norm.weight.copy_(torch.tensor([2.0, 1.0]))
    x = torch.tensor([[3.0, 4.0]])  # rms = sqrt(12.5)
    r = math.sqrt(12.5)
    assert torch.allclose(norm(x), torch.tensor([[6.0 / r, 4.0 / r]]))


def test_rotary_scores_depend_only_on_the_offset():
    rot, d = Rotary(8, base=100.0), 8
    q, k = torch.randn(1, 1, 1, d, dtype=torch.float64), torch.randn(1, 1, 1, d, dtype=torch.float64)

    def score(i: int, j: int) -> float:
        ci, si = (t.double() for t in rot(i, 1, torch.device("cpu")))
        cj, sj = (t.double() for t in rot(j, 1, torch.device("cpu")))
        return float((rotate(q, ci, si) * rotate(k, cj, sj)).sum())

    assert score(7, 3) == pytest.approx(score(4, 0), abs=1e-6)  # angles are float32
    assert score(7, 3) != pytest.approx(score(7, 4), abs=1e-3)
    c, s = rot(5, 1, torch.device("cpu"))
    assert torch.allclose(rotate(q, c.double(), s.double()).norm(), q.norm())  # a rotation


def _naive(bb, block, x, start=0):
    """Grouped-query attention by loops over heads: the kv head of query head h is h // group."""
    attn = block.self_attn
    B, T, _ = x.shape
    dh, group = attn.d_head, attn.heads // attn.kv_heads
    q = attn.q_proj(x).view(B, T, attn.heads, dh)
    k = attn.k_proj(x).view(B, T, attn.kv_heads, dh)
    v = attn.v_proj(x).view(B, T, attn.kv_heads, dh)
    cos, sin = bb.rotary(start, T, x.device)
    out = []
    for h in range(attn.heads):
        qh = rotate(q[:, :, h].unsqueeze(1), cos, sin)[:, 0]
        kh = rotate(k[:, :, h // group].unsqueeze(1), cos, sin)[:, 0]
        scores = qh @ kh.transpose(1, 2) / math.sqrt(dh)  # (B, T, T)
        scores = scores.masked_fill(torch.ones(T, T).triu(1).bool(), float("-inf"))
        out.append(torch.softmax(scores, -1) @ v[:, :, h // group])
    return attn.o_proj(torch.cat(out, dim=-1))


@pytest.mark.parametrize("kv_heads", [1, 2, 4])
def test_grouped_query_attention_equals_the_naive_loop(kv_heads):
    torch.manual_seed(0)
    bb = Llama(dim=16, layers=1, heads=4, kv_heads=kv_heads, ffn=24, context=16).eval()
    x = torch.randn(2, 6, 16)
    block = bb.blocks[0]
    h = block.input_layernorm(x)
    with torch.no_grad():
        rotation = bb.rotary(0, 6, x.device)
        assert torch.allclose(block.self_attn(h, rotation, None, 0), _naive(bb, block, h), atol=1e-6)


def test_the_rotation_is_computed_once_per_call_and_shared_by_every_layer():
    bb = Llama(dim=16, layers=3, heads=4, kv_heads=2, ffn=24, context=16).eval()
    calls = []
    bb.rotary.register_forward_hook(lambda module, args, out: calls.append(args[:2]))
    with torch.no_grad():
        bb(torch.randn(1, 5, 16))
        bb(torch.randn(1, 2, 16), cache=bb.new_cache(), start_pos=0)
    assert calls == [(0, 5), (0, 2)]
    assert [name for name, _ in bb.named_buffers()] == ["rotary.inv_freq"]  # one table, not one per layer


def test_cached_decoding_equals_the_full_pass_and_caches_kv_heads_only():
    torch.manual_seed(1)
    bb = Llama(dim=16, layers=2, heads=4, kv_heads=2, ffn=24, context=16).eval()
    x = torch.randn(1, 9, 16)
    cache = RollbackCache(2, 16)
    with torch.no_grad():
        parts = [bb(x[:, :4], cache=cache)] + [bb(x[:, t:t + 1], cache=cache, start_pos=t) for t in range(4, 9)]
        assert torch.allclose(torch.cat(parts, 1), bb(x), atol=1e-5)
    assert cache._k.shape[2] == 2  # (layers, B, kv_heads, capacity, d_head)


def test_spec_compiles_to_a_tied_language_model():
    model = compile_torch(parse(SPEC.format(kv=2)).kernels["lm"])
    assert model.head.weight is model.kernels["emb"].weight and model.context == 32
    n = sum(p.numel() for p in model.parameters())
    per_block = 2 * 16 + 16 * 16 * 2 + 2 * (16 * 8) + 3 * 16 * 24  # norms, q/o, k/v (2 heads of 4), mlp
    assert n == 40 * 16 + 2 * per_block + 16


@pytest.mark.parametrize("kv, message", [(3, r"llama\(kv_heads=3\) does not divide llama\(heads=4\)"),
                                         (-1, r"llama\(kv_heads=-1\) must be at least 1")])
def test_bad_llama_arguments_are_spec_errors(kv, message):
    with pytest.raises(SpecError, match=message):
        compile_torch(parse(SPEC.format(kv=kv)).kernels["lm"])


def test_rope_base_and_head_dimension_are_checked():
    with pytest.raises(SpecError, match=r"llama\(rope_base=0.0\) must be at least 1"):
        compile_torch(parse(SPEC.format(kv=2).replace("rope_base=500", "rope_base=0")).kernels["lm"])
    odd = SPEC.format(kv=1).replace("real 16", "real 12").replace("dim=16", "dim=12")
    with pytest.raises(SpecError, match="the head dimension 3 is odd"):
        compile_torch(parse(odd.replace("heads=4", "heads=4")).kernels["lm"])


def test_catlm_check_validates_llama_arguments_without_torch(tmp_path, capsys):
    from catlm.cli import main
    spec = tmp_path / "bad.cat"
    spec.write_text(SPEC.format(kv=3))
    assert main(["check", str(spec)]) == 1
    assert "llama(kv_heads=3) does not divide llama(heads=4)" in capsys.readouterr().err
