"""Scale layer: UNIFORM / CHANNEL / ELEMENTWISE with shift, scale and power (each optional)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from trt_dyn._trt import trt

from ._netutil import Net, assert_close, rand

SM = trt.ScaleMode


@pytest.mark.parametrize("mode", [SM.UNIFORM, SM.CHANNEL, SM.ELEMENTWISE], ids=lambda m: m.name)
@pytest.mark.parametrize("parts", ["scale", "shift", "power", "all"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_scale(mode, parts, dtype):
    shape = (2, 3, 4, 5)
    coeff_shape = {SM.UNIFORM: (1,), SM.CHANNEL: (3,), SM.ELEMENTWISE: (3, 4, 5)}[mode]
    np_dtype = np.float32 if dtype == torch.float32 else np.float16
    rng = np.random.default_rng(0)
    scale = rng.uniform(0.5, 1.5, coeff_shape).astype(np_dtype)
    shift = rng.uniform(0.5, 1.0, coeff_shape).astype(np_dtype)
    power = rng.uniform(1.0, 2.0, coeff_shape).astype(np_dtype)
    use = {"scale": parts in ("scale", "all"), "shift": parts in ("shift", "all"), "power": parts in ("power", "all")}
    empty = trt.Weights(trt.float32 if dtype == torch.float32 else trt.float16)
    net = Net()
    x = net.input("x", dtype, (-1, 3, 4, 5), (1, 3, 4, 5), (3, 3, 4, 5))
    layer = net.network.add_scale(
        x, mode,
        trt.Weights(shift) if use["shift"] else empty,
        trt.Weights(scale) if use["scale"] else empty,
        trt.Weights(power) if use["power"] else empty,
    )
    net.output(layer.get_output(0))
    net.build()
    v = rand(shape, dtype, low=0.1, high=2.0)
    bshape = {SM.UNIFORM: (1, 1, 1, 1), SM.CHANNEL: (1, 3, 1, 1), SM.ELEMENTWISE: (1, 3, 4, 5)}[mode]
    ref = v.double().numpy()
    if use["scale"]:
        ref = ref * scale.astype(np.float64).reshape(bshape)
    if use["shift"]:
        ref = ref + shift.astype(np.float64).reshape(bshape)
    if use["power"]:
        ref = ref ** power.astype(np.float64).reshape(bshape)
    tol = 1e-2 if dtype == torch.float16 else 1e-5
    assert_close(net.run1(x=v), torch.from_numpy(ref).to(dtype), rtol=tol, atol=tol)


def test_scale_channel_axis():
    net = Net()
    x = net.input("x", torch.float32, (2, 4, 3))
    scale = np.array([2.0, 3.0, 4.0], np.float32)
    layer = net.network.add_scale_nd(x, SM.CHANNEL, trt.Weights(), trt.Weights(scale), trt.Weights(), 2)
    net.output(layer.get_output(0))
    net.build()
    v = rand((2, 4, 3))
    assert_close(net.run1(x=v), v.numpy() * scale)
