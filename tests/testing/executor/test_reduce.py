"""Reduce, SoftMax, TopK, Cumulative, Normalization, NonZero against NumPy."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from trt_dyn._trt import trt
from trt_dyn.testing.executor import UnsupportedLayerError

from ._netutil import Net, TORCH_TO_TRT, assert_close, rand

R = trt.ReduceOperation

NP_REDUCE = {R.SUM: np.sum, R.PROD: np.prod, R.MAX: np.max, R.MIN: np.min, R.AVG: np.mean}


@pytest.mark.parametrize("op", list(NP_REDUCE), ids=lambda o: o.name)
@pytest.mark.parametrize("axes", [0b001, 0b110, 0b101, 0b111])
@pytest.mark.parametrize("keep", [True, False])
def test_reduce_float(op, axes, keep):
    net = Net()
    x = net.input("x", torch.float32, (-1, 3, 4), (1, 3, 4), (4, 3, 4))
    layer = net.network.add_reduce(x, op, axes, keep)
    net.output(layer.get_output(0))
    net.build()
    for n in (1, 3):
        v = rand((n, 3, 4), seed=n, low=0.5, high=1.5)
        axis = tuple(i for i in range(3) if axes >> i & 1)
        ref = NP_REDUCE[op](v.double().numpy(), axis=axis, keepdims=keep)
        assert_close(net.run1(x=v), np.asarray(ref, np.float32), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("op", [R.SUM, R.PROD, R.MAX, R.MIN], ids=lambda o: o.name)
@pytest.mark.parametrize("dtype", [torch.int32, torch.int64])
def test_reduce_int(op, dtype):
    net = Net()
    x = net.input("x", dtype, (2, 5))
    layer = net.network.add_reduce(x, op, 0b10, False)
    net.output(layer.get_output(0))
    net.build()
    v = rand((2, 5), dtype, low=-4, high=4)
    got = net.run1(x=v)
    assert got.dtype == dtype
    assert_close(got, NP_REDUCE[op](v.numpy().astype(np.int64), axis=1))


def test_reduce_fp16_accumulates_in_float32():
    net = Net()
    x = net.input("x", torch.float16, (1, 4096))
    layer = net.network.add_reduce(x, R.SUM, 0b10, True)
    net.output(layer.get_output(0))
    net.build()
    v = torch.full((1, 4096), 1.0, dtype=torch.float16)
    assert net.run1(x=v).item() == 4096.0


@pytest.mark.parametrize("axis", [0, 1, 2])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_softmax(axis, dtype):
    net = Net()
    x = net.input("x", dtype, (-1, 3, 5), (1, 3, 5), (4, 3, 5))
    layer = net.network.add_softmax(x)
    layer.axes = 1 << axis
    net.output(layer.get_output(0))
    net.build()
    for n in (1, 4):
        v = rand((n, 3, 5), dtype, seed=n)
        a = v.double().numpy()
        e = np.exp(a - a.max(axis=axis, keepdims=True))
        ref = e / e.sum(axis=axis, keepdims=True)
        tol = 1e-3 if dtype == torch.float16 else 1e-6
        assert_close(net.run1(x=v), torch.from_numpy(ref).to(dtype), rtol=tol, atol=tol)


@pytest.mark.parametrize("op", [trt.TopKOperation.MAX, trt.TopKOperation.MIN], ids=["MAX", "MIN"])
@pytest.mark.parametrize("axis", [0, 1])
@pytest.mark.parametrize("indices_type", [torch.int32, torch.int64])
def test_topk(op, axis, indices_type):
    net = Net()
    x = net.input("x", torch.float32, (6, 7))
    layer = net.network.add_topk(x, op, 3, 1 << axis)
    layer.indices_type = TORCH_TO_TRT[indices_type]
    net.output(layer.get_output(0), layer.get_output(1))
    net.build()
    v = torch.randperm(42, generator=torch.Generator().manual_seed(axis)).float().reshape(6, 7)
    values, indices = net.run(x=v).values()
    a = v.numpy()
    order = np.argsort(-a if op == trt.TopKOperation.MAX else a, axis=axis, kind="stable")
    ref_idx = np.take(order, np.arange(3), axis=axis)
    assert indices.dtype == indices_type
    assert_close(indices, ref_idx)
    assert_close(values, np.take_along_axis(a, ref_idx, axis=axis))


def test_topk_dynamic_k_and_ties():
    net = Net()
    x = net.input("x", torch.int32, (2, 6))
    k = net.shape_input("k", 0, lo=[1], hi=[6])
    layer = net.network.add_topk(x, trt.TopKOperation.MAX, 1, 2)
    layer.set_input(1, k)
    net.output(layer.get_output(0), layer.get_output(1))
    net.build()
    v = torch.tensor([[3, 1, 3, 2, 3, 0], [5, 5, 4, 4, 6, 6]], dtype=torch.int32)
    values, indices = net.run(x=v, k=torch.tensor(4, dtype=torch.int32)).values()
    assert_close(values, [[3, 3, 3, 2], [6, 6, 5, 5]])
    # TensorRT does not specify the order of ties; the executor keeps input order
    assert_close(indices, [[0, 2, 4, 3], [4, 5, 0, 1]])


@pytest.mark.parametrize("exclusive", [False, True])
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("axis", [0, 1, -1])
@pytest.mark.parametrize("dtype", [torch.float32, torch.int32])
def test_cumulative(exclusive, reverse, axis, dtype):
    net = Net()
    x = net.input("x", dtype, (-1, 5), (1, 5), (4, 5))
    axis_t = net.const(np.array(axis, np.int32))
    layer = net.network.add_cumulative(x, axis_t, trt.CumulativeOperation.SUM, exclusive, reverse)
    net.output(layer.get_output(0))
    net.build()
    v = rand((3, 5), dtype, seed=1)
    a = v.numpy().astype(np.float64)
    if reverse:
        a = np.flip(a, axis)
    c = np.cumsum(a, axis=axis)
    if exclusive:
        c = c - a
    if reverse:
        c = np.flip(c, axis)
    assert_close(net.run1(x=v), torch.from_numpy(c.copy()).to(dtype), rtol=1e-5, atol=1e-5)


def _np_norm(x, axes, eps):
    mean = x.mean(axis=axes, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
    return (x - mean) / np.sqrt(var + eps)


@pytest.mark.parametrize("kind", ["layer", "instance"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_normalization_layer_and_instance(kind, dtype):
    net = Net()
    shape = (2, 4, 3, 5)
    x = net.input("x", dtype, (-1, 4, 3, 5), (1, 4, 3, 5), (3, 4, 3, 5))
    rng = np.random.default_rng(0)
    np_dtype = np.float32 if dtype == torch.float32 else np.float16
    if kind == "layer":
        axes, sb_shape = 0b1100, (1, 1, 3, 5)
    else:
        axes, sb_shape = 0b1100, (1, 4, 1, 1)
    s = rng.standard_normal(sb_shape).astype(np_dtype)
    b = rng.standard_normal(sb_shape).astype(np_dtype)
    layer = net.network.add_normalization_v2(x, net.const(s), net.const(b), axes)
    layer.epsilon = 1e-3
    net.output(layer.get_output(0))
    net.build()
    v = rand(shape, dtype)
    ref = _np_norm(v.double().numpy(), (2, 3), 1e-3) * s.astype(np.float64) + b.astype(np.float64)
    tol = 1e-2 if dtype == torch.float16 else 1e-5
    assert_close(net.run1(x=v), torch.from_numpy(ref).to(dtype), rtol=tol, atol=tol)


@pytest.mark.parametrize("v2", [True, False])
def test_group_normalization(v2):
    n, c, g = 2, 6, 3
    net = Net()
    x = net.input("x", torch.float32, (-1, c, 4, 4), (1, c, 4, 4), (2, c, 4, 4))
    rng = np.random.default_rng(1)
    sb = (1, c, 1, 1) if v2 else (1, g, 1, 1)
    s = rng.standard_normal(sb).astype(np.float32)
    b = rng.standard_normal(sb).astype(np.float32)
    add = net.network.add_normalization_v2 if v2 else net.network.add_normalization
    layer = add(x, net.const(s), net.const(b), 0b1100)
    layer.num_groups = g
    net.output(layer.get_output(0))
    net.build()
    v = rand((n, c, 4, 4)).double().numpy()
    grouped = v.reshape(n, g, c // g, 4, 4)
    normed = _np_norm(grouped, (2, 3, 4), 1e-5)
    if v2:
        ref = normed.reshape(n, c, 4, 4) * s + b
    else:
        ref = (normed * s.reshape(1, g, 1, 1, 1) + b.reshape(1, g, 1, 1, 1)).reshape(n, c, 4, 4)
    assert_close(net.run1(x=torch.from_numpy(v).float()), ref.astype(np.float32), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("dtype", [torch.float32, torch.int32, torch.bool])
@pytest.mark.parametrize("indices_type", [torch.int32, torch.int64])
def test_non_zero(dtype, indices_type):
    net = Net()
    x = net.input("x", dtype, (-1, 4), (1, 4), (5, 4))
    layer = net.network.add_non_zero(x)
    layer.indices_type = TORCH_TO_TRT[indices_type]
    net.output(layer.get_output(0))
    # not built: TensorRT-RTX 1.6 has no NonZero runner for its CPU build target ("no runners")
    v = rand((3, 4), dtype, seed=3, low=-1, high=1)
    if dtype.is_floating_point:
        v = torch.where(v.abs() < 0.4, torch.zeros_like(v), v)
    got = net.run1(x=v)
    assert got.dtype == indices_type
    assert_close(got, np.stack(np.nonzero(v.numpy())))


def test_integer_average_is_unsupported():
    net = Net()
    x = net.input("x", torch.int32, (2, 3))
    layer = net.network.add_reduce(x, R.AVG, 0b10, False)
    layer.name = "int_avg"
    net.output(layer.get_output(0))
    with pytest.raises(UnsupportedLayerError, match="int_avg"):
        net.run(x=torch.ones(2, 3, dtype=torch.int32))
