"""ATTENTION_INPUT / ATTENTION_OUTPUT (the IAttention TensorRT-RTX builds for scaled dot-product
attention): against direct NumPy loops, and torch_tensorrt's SDPA converter against eager."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.export import Dim

from trt_dyn._trt import trt
from trt_dyn.testing.executor import UnsupportedLayerError

from ._netutil import Net, assert_close, rand

CK = trt.CausalMaskKind
NORM = trt.AttentionNormalizationOp


def np_attention(q, k, v, keep=None, add=None, softmax=True):
    """Per batch, query head and query row: scores over the keys of the head's key/value group."""
    b, hq, sq, _ = q.shape
    hkv, skv = k.shape[1], k.shape[2]
    group = hq // hkv
    out = np.zeros(q.shape)
    for n in range(b):
        for h in range(hq):
            kh = h // group
            for i in range(sq):
                scores = np.array([q[n, h, i] @ k[n, kh, j] for j in range(skv)])
                if add is not None:
                    scores = scores + add[n % add.shape[0], h % add.shape[1], i]
                if softmax:
                    allowed = np.ones(skv, bool) if keep is None else keep[n % keep.shape[0], h % keep.shape[1], i]
                    e = np.where(allowed, np.exp(scores - scores[allowed].max()), 0.0)
                    weights = e / e.sum()
                else:
                    weights = scores
                out[n, h, i] = weights @ v[n, kh]
    return out


def _attention_net(q_shape, kv_shape, dtype=torch.float32, causal=CK.NONE, mask=None, norm=NORM.SOFTMAX):
    net = Net()
    q = net.input("q", dtype, q_shape)
    k = net.input("k", dtype, kv_shape)
    v = net.input("v", dtype, kv_shape)
    attention = net.network.add_attention_v2(q, k, v, norm, causal)
    attention.decomposable = True  # lets TensorRT-RTX build it on this CPU target
    if mask is not None:
        attention.mask = net.input("m", *mask)
    net.output(attention.get_output(0))
    net.build()
    return net


def _keep_causal(kind, sq, skv):
    shift = 0 if kind == CK.UPPER_LEFT else skv - sq
    return (np.arange(skv)[None, :] <= np.arange(sq)[:, None] + shift)[None, None]


@pytest.mark.parametrize(
    "q_shape, kv_shape",
    [((2, 4, 5, 8), (2, 4, 7, 8)), ((1, 4, 6, 4), (1, 2, 6, 4)), ((2, 6, 3, 8), (2, 1, 9, 8))],
    ids=["mha", "gqa-2", "mqa"],
)
def test_attention_without_mask(q_shape, kv_shape):
    net = _attention_net(q_shape, kv_shape)
    q, k, v = rand(q_shape, seed=1), rand(kv_shape, seed=2), rand(kv_shape, seed=3)
    ref = np_attention(q.double().numpy(), k.double().numpy(), v.double().numpy())
    assert_close(net.run1(q=q, k=k, v=v), ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("mask_shape", [(1, 1, 5, 7), (2, 1, 5, 7), (2, 4, 5, 7)])
def test_attention_bool_mask_keeps_true_positions(mask_shape):
    net = _attention_net((2, 4, 5, 8), (2, 4, 7, 8), mask=(torch.bool, mask_shape))
    q, k, v = rand((2, 4, 5, 8), seed=1), rand((2, 4, 7, 8), seed=2), rand((2, 4, 7, 8), seed=3)
    keep = torch.rand(mask_shape, generator=torch.Generator().manual_seed(4)) > 0.4
    keep[..., 0] = True  # every query row keeps a key
    ref = np_attention(q.double().numpy(), k.double().numpy(), v.double().numpy(), keep=keep.numpy())
    assert_close(net.run1(q=q, k=k, v=v, m=keep), ref, rtol=1e-5, atol=1e-5)


def test_attention_float_mask_is_added_to_the_scores():
    net = _attention_net((2, 2, 4, 8), (2, 2, 6, 8), mask=(torch.float32, (2, 1, 4, 6)))
    q, k, v = rand((2, 2, 4, 8), seed=1), rand((2, 2, 6, 8), seed=2), rand((2, 2, 6, 8), seed=3)
    add = rand((2, 1, 4, 6), seed=5)
    ref = np_attention(q.double().numpy(), k.double().numpy(), v.double().numpy(), add=add.double().numpy())
    assert_close(net.run1(q=q, k=k, v=v, m=add), ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind", [CK.UPPER_LEFT, CK.LOWER_RIGHT], ids=lambda k: k.name)
@pytest.mark.parametrize("sq, skv", [(5, 5), (3, 7)])
def test_attention_causal_kinds(kind, sq, skv):
    net = _attention_net((1, 2, sq, 4), (1, 2, skv, 4), causal=kind)
    q, k, v = rand((1, 2, sq, 4), seed=1), rand((1, 2, skv, 4), seed=2), rand((1, 2, skv, 4), seed=3)
    ref = np_attention(q.double().numpy(), k.double().numpy(), v.double().numpy(), keep=_keep_causal(kind, sq, skv))
    assert_close(net.run1(q=q, k=k, v=v), ref, rtol=1e-5, atol=1e-5)


def test_attention_fp16_and_no_normalization():
    net = _attention_net((1, 2, 3, 4), (1, 2, 5, 4), dtype=torch.float16)
    q, k, v = (rand(s, torch.float16, seed=i, low=-1, high=1) for i, s in enumerate([(1, 2, 3, 4), (1, 2, 5, 4), (1, 2, 5, 4)]))
    got = net.run1(q=q, k=k, v=v)
    assert got.dtype == torch.float16
    ref = np_attention(q.double().numpy(), k.double().numpy(), v.double().numpy())
    assert_close(got, ref, rtol=2e-3, atol=2e-3)
    plain = _attention_net((1, 1, 2, 3), (1, 1, 4, 3), norm=NORM.NONE, mask=(torch.float32, (1, 1, 2, 4)))
    q, k, v, add = rand((1, 1, 2, 3), seed=1), rand((1, 1, 4, 3), seed=2), rand((1, 1, 4, 3), seed=3), rand((1, 1, 2, 4), seed=4)
    ref = np_attention(q.double().numpy(), k.double().numpy(), v.double().numpy(), add=add.double().numpy(), softmax=False)
    assert_close(plain.run1(q=q, k=k, v=v, m=add), ref, rtol=1e-5, atol=1e-4)


def test_attention_row_with_every_key_masked_is_refused():
    net = _attention_net((1, 1, 3, 4), (1, 1, 4, 4), mask=(torch.bool, (1, 1, 3, 4)))
    net.network.get_layer(0).name = "attn_in"
    keep = torch.ones(1, 1, 3, 4, dtype=torch.bool)
    keep[0, 0, 1] = False
    with pytest.raises(UnsupportedLayerError, match="attn_in.*every key masked"):
        net.run(q=rand((1, 1, 3, 4)), k=rand((1, 1, 4, 4)), v=rand((1, 1, 4, 4)), m=keep)
    # LOWER_RIGHT with more queries than keys leaves the first rows without a key
    causal = _attention_net((1, 1, 5, 4), (1, 1, 3, 4), causal=CK.LOWER_RIGHT)
    with pytest.raises(UnsupportedLayerError, match="every key masked"):
        causal.run(q=rand((1, 1, 5, 4)), k=rand((1, 1, 3, 4)), v=rand((1, 1, 3, 4)))


class Sdpa(torch.nn.Module):
    """One F.scaled_dot_product_attention call per module (TensorRT-RTX 1.6's CPU builder crashes
    on one engine holding all five dynamic attentions, so each variant builds its own)."""

    def __init__(self, variant):
        super().__init__()
        self.variant = variant

    def forward(self, q, k, v, keep, bias, kq, kv):
        if self.variant == "bool-mask":
            return F.scaled_dot_product_attention(q, k, v, attn_mask=keep)
        if self.variant == "float-mask-scale":
            return F.scaled_dot_product_attention(q, k, v, attn_mask=bias, scale=0.25)
        if self.variant == "causal":
            return F.scaled_dot_product_attention(q, k, v, is_causal=True)
        if self.variant == "gqa":
            return F.scaled_dot_product_attention(q, kq, kv, enable_gqa=True)
        return F.scaled_dot_product_attention(q, k, v)


def _sdpa_inputs(seq, seed):
    g = torch.Generator().manual_seed(seed)
    q, k, v = (torch.randn(2, 4, seq, 8, generator=g) for _ in range(3))
    keep = torch.rand(2, 1, seq, seq, generator=g) > 0.3
    keep[..., 0] = True
    bias = torch.randn(2, 4, seq, seq, generator=g)
    kq, kv = (torch.randn(2, 2, seq, 8, generator=g) for _ in range(2))
    return q, k, v, keep, bias, kq, kv


@pytest.mark.parametrize("variant", ["plain", "bool-mask", "float-mask-scale", "causal", "gqa"])
def test_torch_tensorrt_sdpa_matches_eager_over_a_dynamic_sequence(variant):
    """torch_tensorrt's SDPA converter on TensorRT-RTX builds one ATTENTION_INPUT/OUTPUT pair
    (query pre-scaled, bool or float mask, causal LOWER_RIGHT, grouped heads); compared with eager
    at the shortest, longest and an odd sequence length. (Causal with s_q != s_kv is not covered:
    the converter's LOWER_RIGHT differs from PyTorch's top-left is_causal there.)"""
    from trt_dyn.testing.compile_cpu import compile_cpu
    from trt_dyn.testing.harness import compare_outputs

    model = Sdpa(variant)
    seq = Dim("seq", min=2, max=12)
    dims = {2: seq}
    program = torch.export.export(
        model, _sdpa_inputs(6, 0),
        dynamic_shapes=(dims, dims, dims, {2: seq, 3: seq}, {2: seq, 3: seq}, dims, dims),
    )
    compiled = compile_cpu(program, min_block_size=1)
    assert compiled.pytorch_nodes == [] and compiled.num_trt_engines == 1
    network = compiled.engines[0].network
    kinds = [network.get_layer(i).type for i in range(network.num_layers)]
    assert kinds.count(trt.LayerType.ATTENTION_INPUT) == kinds.count(trt.LayerType.ATTENTION_OUTPUT) == 1
    for length in (2, 12, 7):
        feeds = _sdpa_inputs(length, length)
        compare_outputs(compiled(*feeds), model(*feeds), where=f"{variant}, sequence {length}")
