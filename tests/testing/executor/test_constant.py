"""Constant (every weight dtype) and Fill (LINSPACE static and dynamic; RANDOM_* refused)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from trt_dyn._trt import trt
from trt_dyn.testing.executor import UnsupportedLayerError

from ._netutil import Net, TORCH_TO_TRT, assert_close

FO = trt.FillOperation


@pytest.mark.parametrize("np_dtype", [np.float32, np.float16, np.int32, np.int64, np.int8])
def test_constant_dtypes(np_dtype):
    net = Net()
    value = (np.arange(12).reshape(3, 4) - 5).astype(np_dtype)
    c = net.const(value)
    net.output(c)
    if np_dtype != np.int8:  # TensorRT allows int8 constants only as quantized data before a DQ
        net.build()
    got = net.run1()
    assert got.dtype == torch.from_numpy(value).dtype
    assert_close(got, value)


def test_constant_bfloat16_and_scalar():
    net = Net()
    raw = torch.tensor([[1.5, -2.25], [3.0, 0.125]], dtype=torch.bfloat16)
    weights = trt.Weights(trt.bfloat16, raw.view(torch.int16).numpy().ctypes.data, raw.numel())
    keep = raw.view(torch.int16).numpy()
    layer = net.network.add_constant((2, 2), trt.Weights(trt.bfloat16, keep.ctypes.data, keep.size))
    scalar = net.const(np.array(2.5, np.float32))
    net.output(layer.get_output(0), scalar)
    net.build()
    out = list(net.run().values())
    assert out[0].dtype == torch.bfloat16
    assert torch.equal(out[0], raw)
    assert out[1].shape == () and out[1].item() == 2.5
    del weights


def test_constant_cached_across_runs():
    net = Net()
    c = net.const(np.ones((2, 2), np.float32))
    x = net.input("x", torch.float32, (2, 2))
    s = net.network.add_elementwise(x, c, trt.ElementWiseOperation.SUM)
    net.output(s.get_output(0))
    a = net.run1(x=torch.zeros(2, 2))
    b = net.run1(x=torch.ones(2, 2))
    assert_close(a, np.ones((2, 2), np.float32))
    assert_close(b, 2 * np.ones((2, 2), np.float32))


@pytest.mark.parametrize("dtype", [torch.float32, torch.int32, torch.int64])
def test_fill_linspace_static_1d(dtype):
    net = Net()
    layer = net.network.add_fill((6,), FO.LINSPACE, TORCH_TO_TRT[dtype])
    layer.alpha = 3.0
    layer.beta = -2.0
    net.output(layer.get_output(0))
    net.build()
    got = net.run1()
    assert got.dtype == dtype
    assert_close(got, 3.0 + -2.0 * np.arange(6))


@pytest.mark.parametrize("dtype", [torch.float32, torch.int32])
def test_fill_linspace_dynamic(dtype):
    net = Net()
    shape = net.shape_input("shape", 2, lo=(1, 1), hi=(4, 5))
    np_dtype = np.float32 if dtype == torch.float32 else np.int32
    start = net.const(np.array(1, np_dtype))
    delta = net.const(np.array([10, 2], np_dtype))
    layer = net.network.add_fill((1, 1), FO.LINSPACE, TORCH_TO_TRT[dtype])
    layer.set_input(0, shape)
    layer.set_input(1, start)
    layer.set_input(2, delta)
    net.output(layer.get_output(0))
    net.build()
    got = net.run1(shape=torch.tensor([3, 4], dtype=torch.int32))
    i, j = np.meshgrid(np.arange(3), np.arange(4), indexing="ij")
    assert got.dtype == dtype
    assert_close(got, 1 + 10 * i + 2 * j)


@pytest.mark.parametrize("op", [FO.RANDOM_UNIFORM, FO.RANDOM_NORMAL], ids=lambda o: o.name)
def test_fill_random_is_unsupported(op):
    net = Net()
    layer = net.network.add_fill((2, 3), op, trt.float32)
    layer.name = f"rand_{op.name}"
    net.output(layer.get_output(0))
    with pytest.raises(UnsupportedLayerError, match=f"rand_{op.name}"):
        net.run()


def test_fill_linspace_float_from_zero_is_one_float32_product_per_index():
    """alpha 0, beta a float32 ratio (resize's nearest coordinates): each value is fl32(index * beta), the only
    rounding TensorRT's documented alpha + beta * index has when alpha is 0 (in float32, in a wider type rounded
    once, or fused); checked at ratios where that rounding puts a whole index * in / out just below the integer."""
    net = Net()
    shape = net.shape_input("shape", 1, lo=(1,), hi=(64,))
    start = net.const(np.array(0.0, np.float32))
    delta = net.input("delta", torch.float32, (1,))
    layer = net.network.add_fill((1,), FO.LINSPACE, trt.float32)
    layer.set_input(0, shape)
    layer.set_input(1, start)
    layer.set_input(2, delta)
    net.output(layer.get_output(0))
    net.build()
    for size_in, size_out in [(14, 46), (26, 22), (30, 58), (7, 64), (32, 1)]:
        beta = torch.tensor([size_in], dtype=torch.float32) / torch.tensor([size_out], dtype=torch.float32)
        got = net.run1(shape=torch.tensor([size_out], dtype=torch.int32), delta=beta)
        expected = torch.arange(size_out, dtype=torch.float32) * beta
        assert got.dtype == torch.float32 and torch.equal(got, expected), (size_in, size_out)
