"""Convolution, Deconvolution and Pooling against direct NumPy loops (1-D / 2-D / 3-D)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from trt_dyn._trt import trt

from ._netutil import Net, assert_close, rand

P = trt.PaddingMode
PT = trt.PoolingType


def _out_len(n, k, s, d, pre, post, mode):
    dk = 1 + d * (k - 1)
    if mode in (P.SAME_UPPER, P.SAME_LOWER):
        out = -(-n // s)
        total = max(0, (out - 1) * s + dk - n)
        a, b = total // 2, total - total // 2
        return out, (a, b) if mode == P.SAME_UPPER else (b, a)
    span = n + pre + post - dk
    out = span // s + 1 if mode == P.EXPLICIT_ROUND_DOWN else -(-span // s) + 1
    return out, (pre, post)


def np_conv(x, w, b, stride, dilation, pre, post, groups, mode):
    """Direct convolution: x [N, C, *S], w [K, C/G, *R]."""
    n_sp = x.ndim - 2
    outs, pads = [], []
    for i in range(n_sp):
        o, p = _out_len(x.shape[2 + i], w.shape[2 + i], stride[i], dilation[i], pre[i], post[i], mode)
        outs.append(o)
        pads.append(p)
    N, C = x.shape[:2]
    K = w.shape[0]
    cg, kg = C // groups, K // groups
    y = np.zeros((N, K, *outs))
    for pos in itertools.product(*[range(o) for o in outs]):
        for r in itertools.product(*[range(k) for k in w.shape[2:]]):
            src = [pos[i] * stride[i] + r[i] * dilation[i] - pads[i][0] for i in range(n_sp)]
            if any(not 0 <= s < x.shape[2 + i] for i, s in enumerate(src)):
                continue
            xv = x[(slice(None), slice(None)) + tuple(src)]  # [N, C]
            for g in range(groups):
                wk = w[(slice(g * kg, (g + 1) * kg), slice(None)) + tuple(r)]  # [kg, cg]
                y[(slice(None), slice(g * kg, (g + 1) * kg)) + pos] += xv[:, g * cg:(g + 1) * cg] @ wk.T
    if b is not None:
        y += b.reshape(1, -1, *([1] * n_sp))
    return y


def _check_batches_1_and_2(net, layer, sample_shape, stride, dilation, pre, post, groups, reference) -> None:
    """Give a (de)convolution layer its geometry, build, and compare batches of 1 and 2 with ``reference``
    (float64 NumPy in, float64 NumPy out)."""
    layer.stride_nd, layer.dilation_nd = stride, dilation
    layer.pre_padding, layer.post_padding = pre, post
    layer.num_groups = groups
    net.output(layer.get_output(0))
    net.build()
    for n in (1, 2):
        v = rand((n, *sample_shape), seed=n)
        assert_close(net.run1(x=v), reference(v.double().numpy()).astype(np.float32), rtol=1e-4, atol=1e-4)


CONVS = [
    # spatial shape, kernel, stride, dilation, pre, post, groups, mode
    ((9, 8), (3, 3), (2, 2), (1, 1), (1, 0), (0, 2), 1, P.EXPLICIT_ROUND_DOWN),
    ((9, 8), (3, 2), (2, 3), (1, 1), (1, 1), (1, 1), 2, P.EXPLICIT_ROUND_UP),
    ((8, 8), (3, 3), (1, 1), (2, 2), (0, 0), (0, 0), 4, P.EXPLICIT_ROUND_DOWN),
    ((7, 9), (3, 4), (2, 2), (1, 1), (0, 0), (0, 0), 1, P.SAME_UPPER),
    ((7, 9), (3, 4), (2, 2), (1, 1), (0, 0), (0, 0), 1, P.SAME_LOWER),
    ((5, 6, 4), (3, 3, 2), (1, 2, 1), (1, 1, 1), (1, 0, 1), (1, 1, 0), 2, P.EXPLICIT_ROUND_DOWN),
]


@pytest.mark.parametrize("spatial,kernel,stride,dilation,pre,post,groups,mode", CONVS)
@pytest.mark.parametrize("bias", [True, False])
def test_convolution(spatial, kernel, stride, dilation, pre, post, groups, mode, bias):
    c, k = 4, 8
    rng = np.random.default_rng(0)
    w = rng.standard_normal((k, c // groups, *kernel)).astype(np.float32)
    b = rng.standard_normal(k).astype(np.float32) if bias else None
    net = Net()
    x = net.input("x", torch.float32, (-1, c, *spatial), (1, c, *spatial), (3, c, *spatial))
    layer = net.network.add_convolution_nd(x, k, kernel, trt.Weights(w), trt.Weights(b) if bias else trt.Weights())
    layer.padding_mode = mode
    _check_batches_1_and_2(net, layer, (c, *spatial), stride, dilation, pre, post, groups,
                           lambda v: np_conv(v, w.astype(np.float64), b, stride, dilation, pre, post, groups, mode))


def test_convolution_fp16_and_kernel_as_tensor_input():
    rng = np.random.default_rng(1)
    w = rng.standard_normal((6, 3, 3, 3)).astype(np.float16)
    net = Net()
    x = net.input("x", torch.float16, (2, 3, 6, 6))
    layer = net.network.add_convolution_nd(x, 6, (3, 3), trt.Weights(trt.float16), trt.Weights(trt.float16))
    layer.set_input(1, net.const(w))
    net.output(layer.get_output(0))
    net.build()
    v = rand((2, 3, 6, 6), torch.float16)
    ref = np_conv(v.double().numpy(), w.astype(np.float64), None, (1, 1), (1, 1), (0, 0), (0, 0), 1, P.EXPLICIT_ROUND_DOWN)
    got = net.run1(x=v)
    assert got.dtype == torch.float16
    assert_close(got, torch.from_numpy(ref).half(), rtol=1e-2, atol=1e-2)


def np_deconv(x, w, b, stride, dilation, pre, post, groups):
    """Direct transposed convolution: x [N, C, *S], w [C, K/G, *R]; output cropped by pre/post."""
    n_sp = x.ndim - 2
    N, C = x.shape[:2]
    kg = w.shape[1]
    K = kg * groups
    cg = C // groups
    full = [(x.shape[2 + i] - 1) * stride[i] + dilation[i] * (w.shape[2 + i] - 1) + 1 for i in range(n_sp)]
    y = np.zeros((N, K, *full))
    for pos in itertools.product(*[range(s) for s in x.shape[2:]]):
        for r in itertools.product(*[range(k) for k in w.shape[2:]]):
            dst = tuple(pos[i] * stride[i] + r[i] * dilation[i] for i in range(n_sp))
            xv = x[(slice(None), slice(None)) + pos]
            for g in range(groups):
                wk = w[(slice(g * cg, (g + 1) * cg), slice(None)) + tuple(r)]  # [cg, kg]
                y[(slice(None), slice(g * kg, (g + 1) * kg)) + dst] += xv[:, g * cg:(g + 1) * cg] @ wk
    crop = tuple(slice(pre[i], full[i] - post[i]) for i in range(n_sp))
    y = y[(slice(None), slice(None)) + crop]
    if b is not None:
        y += b.reshape(1, -1, *([1] * n_sp))
    return y


DECONVS = [
    ((4, 5), (3, 3), (2, 2), (1, 1), (1, 1), (1, 1), 1),
    ((4, 5), (2, 3), (2, 1), (1, 1), (0, 1), (1, 0), 2),
    ((3, 4), (3, 3), (1, 1), (2, 1), (0, 0), (0, 0), 1),  # TensorRT-RTX: no strided + dilated deconv
    ((3, 3, 2), (2, 2, 2), (2, 2, 2), (1, 1, 1), (0, 0, 0), (0, 0, 0), 2),
]


@pytest.mark.parametrize("spatial,kernel,stride,dilation,pre,post,groups", DECONVS)
def test_deconvolution(spatial, kernel, stride, dilation, pre, post, groups):
    c, k = 4, 6
    rng = np.random.default_rng(2)
    w = rng.standard_normal((c, k // groups, *kernel)).astype(np.float32)
    b = rng.standard_normal(k).astype(np.float32)
    net = Net()
    x = net.input("x", torch.float32, (-1, c, *spatial), (1, c, *spatial), (2, c, *spatial))
    layer = net.network.add_deconvolution_nd(x, k, kernel, trt.Weights(w), trt.Weights(b))
    _check_batches_1_and_2(net, layer, (c, *spatial), stride, dilation, pre, post, groups,
                           lambda v: np_deconv(v, w.astype(np.float64), b, stride, dilation, pre, post, groups))


def test_deconvolution_same_upper():
    rng = np.random.default_rng(3)
    w = rng.standard_normal((2, 3, 4, 4)).astype(np.float32)
    net = Net()
    x = net.input("x", torch.float32, (1, 2, 3, 5))
    layer = net.network.add_deconvolution_nd(x, 3, (4, 4), trt.Weights(w), trt.Weights())
    layer.stride_nd = (2, 2)
    layer.padding_mode = P.SAME_UPPER
    net.output(layer.get_output(0))
    net.build()
    v = rand((1, 2, 3, 5))
    # output = input * stride: total crop k - s = 2, split evenly
    ref = np_deconv(v.double().numpy(), w.astype(np.float64), None, (2, 2), (1, 1), (1, 1), (1, 1), 1)
    got = net.run1(x=v)
    assert tuple(got.shape) == (1, 3, 6, 10)
    assert_close(got, ref.astype(np.float32), rtol=1e-4, atol=1e-4)


def np_pool(x, kind, window, stride, pre, post, mode, exclude_padding, blend=0.0):
    n_sp = len(window)
    spatial = x.shape[-n_sp:]
    outs, pads = [], []
    for i in range(n_sp):
        o, p = _out_len(spatial[i], window[i], stride[i], 1, pre[i], post[i], mode)
        outs.append(o)
        pads.append(p)
    lead = x.shape[:-n_sp]
    y = np.zeros((*lead, *outs))
    for pos in itertools.product(*[range(o) for o in outs]):
        lo = [pos[i] * stride[i] - pads[i][0] for i in range(n_sp)]
        hi = [lo[i] + window[i] for i in range(n_sp)]
        clo = [max(l, 0) for l in lo]
        chi = [min(h, spatial[i]) for i, h in enumerate(hi)]
        region = x[(Ellipsis,) + tuple(slice(a, b) for a, b in zip(clo, chi))]
        region = region.reshape(*lead, -1)
        mx = region.max(axis=-1) if region.shape[-1] else np.full(lead, -np.inf)
        s = region.sum(axis=-1)
        if exclude_padding:
            count = region.shape[-1]
        else:
            # window overlap with the padded input [-pre, n + post)
            count = math.prod(
                min(hi[i], spatial[i] + pads[i][1]) - max(lo[i], -pads[i][0]) for i in range(n_sp)
            )
        avg = s / count
        if kind == PT.MAX:
            v = mx
        elif kind == PT.AVERAGE:
            v = avg
        else:
            v = (1 - blend) * mx + blend * avg
        y[(Ellipsis,) + pos] = v
    return y


POOLS = [
    ((8, 8), (2, 2), (2, 2), (0, 0), (0, 0), P.EXPLICIT_ROUND_DOWN),
    ((7, 9), (3, 3), (2, 2), (1, 1), (1, 1), P.EXPLICIT_ROUND_DOWN),
    ((7, 9), (3, 2), (2, 2), (1, 0), (0, 1), P.EXPLICIT_ROUND_UP),
    ((7, 9), (3, 3), (2, 3), (0, 0), (0, 0), P.SAME_UPPER),
    ((7, 9), (2, 4), (3, 2), (0, 0), (0, 0), P.SAME_LOWER),
    ((5, 4, 6), (2, 2, 3), (2, 1, 2), (1, 0, 1), (0, 1, 1), P.EXPLICIT_ROUND_DOWN),
]


@pytest.mark.parametrize("spatial,window,stride,pre,post,mode", POOLS)
@pytest.mark.parametrize(
    "kind,exclude",
    [(PT.MAX, True), (PT.AVERAGE, True), (PT.AVERAGE, False), (PT.MAX_AVERAGE_BLEND, False)],
    ids=["max", "avg-excl", "avg-incl", "blend"],
)
def test_pooling(spatial, window, stride, pre, post, mode, kind, exclude):
    net = Net()
    c = 3
    x = net.input("x", torch.float32, (-1, c, *spatial), (1, c, *spatial), (2, c, *spatial))
    layer = net.network.add_pooling_nd(x, kind, window)
    layer.stride_nd = stride
    layer.pre_padding, layer.post_padding = pre, post
    layer.padding_mode = mode
    layer.average_count_excludes_padding = exclude
    if kind == PT.MAX_AVERAGE_BLEND:
        layer.blend_factor = 0.3
    net.output(layer.get_output(0))
    net.build()
    for n in (1, 2):
        v = rand((n, c, *spatial), seed=n)
        ref = np_pool(v.double().numpy(), kind, window, stride, pre, post, mode, exclude, 0.3)
        assert_close(net.run1(x=v), ref.astype(np.float32), rtol=1e-5, atol=1e-5)


def test_pooling_fp16():
    net = Net()
    x = net.input("x", torch.float16, (1, 2, 6, 6))
    layer = net.network.add_pooling_nd(x, PT.AVERAGE, (3, 3))
    layer.stride_nd = (3, 3)
    net.output(layer.get_output(0))
    net.build()
    v = rand((1, 2, 6, 6), torch.float16)
    ref = np_pool(v.double().numpy(), PT.AVERAGE, (3, 3), (3, 3), (0, 0), (0, 0), P.EXPLICIT_ROUND_DOWN, True)
    got = net.run1(x=v)
    assert got.dtype == torch.float16
    assert_close(got, torch.from_numpy(ref).half(), rtol=2e-3, atol=2e-3)
