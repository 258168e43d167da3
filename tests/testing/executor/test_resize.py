"""Resize (NEAREST / LINEAR / CUBIC x coordinate transformations x rounding x selector, scales,
output shapes, shape-tensor input) and GridSample, against direct NumPy loops."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from trt_dyn._trt import trt
from trt_dyn.testing.executor import UnsupportedLayerError

from ._netutil import Net, assert_close, rand

IM = trt.InterpolationMode
CT = trt.ResizeCoordinateTransformation
RM = trt.ResizeRoundMode
RS = trt.ResizeSelector
S = trt.SampleMode


def _coord(x, n_in, n_out, ct, selector, scale=None):
    """TensorRT's coordinate transformations; with a scale (layer.scales) ASYMMETRIC and HALF_PIXEL
    map through 1 / scale, as ONNX Resize with scales, instead of the length ratio."""
    if n_out == 1 and selector == RS.UPPER:
        return 0.0
    if ct == CT.ALIGN_CORNERS:
        return x * (n_in - 1) / (n_out - 1)
    ratio = n_in / n_out if scale is None else 1.0 / scale
    if ct == CT.ASYMMETRIC:
        return x * ratio
    return (x + 0.5) * ratio - 0.5


def _round(c, mode):
    if mode == RM.HALF_UP:
        return math.floor(c + 0.5)
    if mode == RM.HALF_DOWN:
        return math.ceil(c - 0.5)
    if mode == RM.FLOOR:
        return math.floor(c)
    return math.ceil(c)


def _cubic(d, a):
    d = abs(d)
    if d <= 1:
        return (a + 2) * d**3 - (a + 3) * d**2 + 1
    if d < 2:
        return a * d**3 - 5 * a * d**2 + 8 * a * d - 4 * a
    return 0.0


def np_resize(x, out_shape, mode, ct, rounding, selector, a=-0.75, exclude=False, scales=None):
    """Direct N-D reference: for every output element, the weighted taps over all resized axes."""
    axes = [d for d in range(x.ndim) if out_shape[d] != x.shape[d] or (scales is not None and scales[d] != 1)]
    out = np.zeros(out_shape)
    for pos in np.ndindex(*out_shape):
        taps_per_axis = []
        for d in axes:
            n_in, n_out = x.shape[d], out_shape[d]
            c = _coord(pos[d], n_in, n_out, ct, selector, None if scales is None else scales[d])
            if mode == IM.NEAREST and scales is not None and ct != CT.ALIGN_CORNERS:
                # a GPU computes the coordinate in float32: x / scale can round onto an integer
                off = np.float32(0.5 if ct == CT.HALF_PIXEL else 0.0)
                c = float((np.float32(pos[d]) + off) / np.float32(scales[d]) - off)
            if mode == IM.NEAREST:
                taps = [(min(max(_round(c, rounding), 0), n_in - 1), 1.0)]
            else:
                base = math.floor(c)
                t = c - base
                if mode == IM.LINEAR:
                    raw = [(base, 1 - t), (base + 1, t)]
                else:
                    raw = [(base + o, _cubic(t - o, a)) for o in (-1, 0, 1, 2)]
                if exclude:
                    raw = [(i, w if 0 <= i < n_in else 0.0) for i, w in raw]
                    total = sum(w for _, w in raw)
                    raw = [(i, w / total) for i, w in raw]
                taps = [(min(max(i, 0), n_in - 1), w) for i, w in raw]
            taps_per_axis.append(taps)
        value = 0.0
        for combo in itertools.product(*taps_per_axis):
            src = list(pos)
            weight = 1.0
            for d, (i, w) in zip(axes, combo):
                src[d] = i
                weight *= w
            value += weight * x[tuple(src)]
        out[pos] = value
    return out


def _resize_net(in_shape, mode, ct, rounding, selector, out_shape=None, scales=None, dtype=torch.float32,
                cubic_coeff=-0.75, exclude=False):
    net = Net()
    x = net.input("x", dtype, in_shape)
    layer = net.network.add_resize(x)
    layer.resize_mode = mode
    layer.coordinate_transformation = ct
    layer.nearest_rounding = rounding
    layer.selector_for_single_pixel = selector
    layer.cubic_coeff = cubic_coeff
    layer.exclude_outside = exclude
    if scales is not None:
        layer.scales = scales
    else:
        layer.shape = out_shape
    net.output(layer.get_output(0))
    net.build()
    return net


@pytest.mark.parametrize("ct", [CT.ALIGN_CORNERS, CT.ASYMMETRIC, CT.HALF_PIXEL], ids=lambda c: c.name)
@pytest.mark.parametrize("rounding", [RM.HALF_UP, RM.HALF_DOWN, RM.FLOOR, RM.CEIL], ids=lambda r: r.name)
@pytest.mark.parametrize("out_hw", [(7, 9), (2, 3), (1, 5)])
def test_resize_nearest(ct, rounding, out_hw):
    shape = (1, 2, 4, 6)
    out = (1, 2, *out_hw)
    for selector in (RS.FORMULA, RS.UPPER):
        if ct == CT.ALIGN_CORNERS and selector == RS.FORMULA and 1 in out_hw:
            continue
        net = _resize_net(shape, IM.NEAREST, ct, rounding, selector, out_shape=out)
        v = rand(shape)
        ref = np_resize(v.double().numpy(), out, IM.NEAREST, ct, rounding, selector)
        assert_close(net.run1(x=v), ref.astype(np.float32))


LINEAR_CASES = [
    (ct, out_hw, selector)
    for ct in (CT.ALIGN_CORNERS, CT.ASYMMETRIC, CT.HALF_PIXEL)
    for out_hw in ((8, 11), (3, 2), (1, 1))
    for selector in (RS.FORMULA, RS.UPPER)
    # ALIGN_CORNERS + FORMULA with one output pixel divides by zero: refused, tested below
    if not (ct == CT.ALIGN_CORNERS and selector == RS.FORMULA and 1 in out_hw)
]


@pytest.mark.parametrize(
    "ct,out_hw,selector", LINEAR_CASES, ids=[f"{c.name}-{h}x{w}-{s.name}" for c, (h, w), s in LINEAR_CASES]
)
def test_resize_linear(ct, out_hw, selector):
    shape = (2, 1, 5, 6)
    out = (2, 1, *out_hw)
    net = _resize_net(shape, IM.LINEAR, ct, RM.FLOOR, selector, out_shape=out)
    v = rand(shape)
    ref = np_resize(v.double().numpy(), out, IM.LINEAR, ct, RM.FLOOR, selector)
    assert_close(net.run1(x=v), ref.astype(np.float32), rtol=1e-5, atol=1e-5)


def test_resize_trilinear_3d():
    shape = (1, 1, 3, 4, 5)
    out = (1, 1, 5, 3, 8)
    net = _resize_net(shape, IM.LINEAR, CT.HALF_PIXEL, RM.FLOOR, RS.FORMULA, out_shape=out)
    v = rand(shape)
    ref = np_resize(v.double().numpy(), out, IM.LINEAR, CT.HALF_PIXEL, RM.FLOOR, RS.FORMULA)
    assert_close(net.run1(x=v), ref.astype(np.float32), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("ct", [CT.ALIGN_CORNERS, CT.ASYMMETRIC, CT.HALF_PIXEL], ids=lambda c: c.name)
@pytest.mark.parametrize("coeff,exclude", [(-0.75, False), (-0.5, True), (-0.5, False)])
def test_resize_cubic(ct, coeff, exclude):
    shape = (1, 2, 5, 4)
    out = (1, 2, 9, 7)
    net = _resize_net(shape, IM.CUBIC, ct, RM.FLOOR, RS.FORMULA, out_shape=out, cubic_coeff=coeff, exclude=exclude)
    v = rand(shape)
    ref = np_resize(v.double().numpy(), out, IM.CUBIC, ct, RM.FLOOR, RS.FORMULA, a=coeff, exclude=exclude)
    assert_close(net.run1(x=v), ref.astype(np.float32), rtol=1e-5, atol=1e-5)


SCALE_CASES = [[1, 1, 2, 2], [1, 1, 0.5, 1.5], [1, 1, 1.7, 0.8], [1, 1, 2.5, 0.3], [1, 1, 0.3, 1.7]]


@pytest.mark.parametrize("mode", [IM.NEAREST, IM.LINEAR, IM.CUBIC], ids=lambda m: m.name)
@pytest.mark.parametrize("ct", [CT.ASYMMETRIC, CT.HALF_PIXEL, CT.ALIGN_CORNERS], ids=lambda c: c.name)
@pytest.mark.parametrize("scales", SCALE_CASES, ids=lambda s: "x".join(map(str, s[2:])))
def test_resize_scales(scales, ct, mode):
    """Scales set the output size (floor(n * scale)) and, for ASYMMETRIC / HALF_PIXEL, the coordinate
    mapping (1 / scale): with 7 * 1.7 = 11.9 the ratio 7 / 11 would sample elsewhere."""
    shape = (1, 2, 7, 9)
    net = _resize_net(shape, mode, ct, RM.FLOOR, RS.FORMULA, scales=scales)
    v = rand(shape)
    scales32 = [float(np.float32(s)) for s in scales]
    out = tuple(int(math.floor(n * s)) for n, s in zip(shape, scales32))
    ref = np_resize(v.double().numpy(), out, mode, ct, RM.FLOOR, RS.FORMULA, scales=scales32)
    assert_close(net.run1(x=v), ref.astype(np.float32), rtol=1e-5, atol=1e-5)


def test_resize_nearest_scale_on_a_rounding_boundary_is_refused():
    """17 / 1.7 is 10 in real numbers; in float32 a division and a multiplication by the reciprocal
    fall on different sides of it, and TensorRT does not say which it computes."""
    net = _resize_net((1, 1, 12, 3), IM.NEAREST, CT.ASYMMETRIC, RM.FLOOR, RS.FORMULA, scales=[1, 1, 1.7, 1])
    net.network.get_layer(net.network.num_layers - 1).name = "upsample_by_1_7"
    with pytest.raises(UnsupportedLayerError, match=r"upsample_by_1_7.*scale 1.70000005: output index 17"):
        net.run(x=rand((1, 1, 12, 3)))


def test_resize_dynamic_output_shape_input_and_fp16():
    net = Net()
    x = net.input("x", torch.float16, (1, 2, -1, -1), (1, 2, 2, 2), (1, 2, 8, 8))
    size = net.shape_input("size", 4, lo=(1, 2, 1, 1), hi=(1, 2, 16, 16))
    layer = net.network.add_resize(x)
    layer.set_input(1, size)
    layer.resize_mode = IM.NEAREST
    net.output(layer.get_output(0))
    net.build()
    for (h, w), (oh, ow) in [((3, 4), (6, 8)), ((5, 2), (2, 7))]:
        v = rand((1, 2, h, w), torch.float16, seed=h)
        got = net.run1(x=v, size=torch.tensor([1, 2, oh, ow], dtype=torch.int32))
        ref = np_resize(v.double().numpy(), (1, 2, oh, ow), IM.NEAREST, CT.ASYMMETRIC, RM.FLOOR, RS.FORMULA)
        assert got.dtype == torch.float16
        assert_close(got, torch.from_numpy(ref).half())


def test_resize_align_corners_single_pixel_formula_is_refused():
    net = Net()
    x = net.input("x", torch.float32, (1, 1, 4, 4))
    layer = net.network.add_resize(x)
    layer.shape = (1, 1, 1, 4)
    layer.resize_mode = IM.LINEAR
    layer.coordinate_transformation = CT.ALIGN_CORNERS
    layer.selector_for_single_pixel = RS.FORMULA
    layer.name = "ac_single"
    net.output(layer.get_output(0))
    with pytest.raises(UnsupportedLayerError, match="ac_single"):
        net.run(x=rand((1, 1, 4, 4)))


def _np_grid_sample(x, grid, mode, sample, align):
    """Direct reference of torch-style grid sampling (x [N, C, H, W], grid [N, Ho, Wo, 2] = (x, y))."""
    N, C, H, W = x.shape
    _, Ho, Wo, _ = grid.shape
    out = np.zeros((N, C, Ho, Wo))

    def unnorm(g, size):
        return ((g + 1) / 2) * (size - 1) if align else ((g + 1) * size - 1) / 2

    def reflect(c, size):
        if align:
            lo, hi = 0.0, float(size - 1)
        else:
            lo, hi = -0.5, size - 0.5
        span = hi - lo
        if span <= 0:
            return 0.0
        c = abs(c - lo)
        flips, extra = divmod(c, span)
        c = lo + extra if int(flips) % 2 == 0 else hi - extra
        return c

    def prep(c, size):
        if sample == S.CLAMP:
            return min(max(c, 0), size - 1)
        if sample == S.REFLECT:
            return min(max(reflect(c, size), 0), size - 1)
        return c

    def pixel(n, yy, xx):
        if 0 <= yy < H and 0 <= xx < W:
            return x[n, :, yy, xx]
        return np.zeros(C)

    for n, i, j in np.ndindex(N, Ho, Wo):
        cx = prep(unnorm(grid[n, i, j, 0], W), W)
        cy = prep(unnorm(grid[n, i, j, 1], H), H)
        if mode == IM.NEAREST:
            out[n, :, i, j] = pixel(n, int(np.rint(cy)), int(np.rint(cx)))
        else:
            x0, y0 = math.floor(cx), math.floor(cy)
            tx, ty = cx - x0, cy - y0
            out[n, :, i, j] = (
                pixel(n, y0, x0) * (1 - tx) * (1 - ty) + pixel(n, y0, x0 + 1) * tx * (1 - ty)
                + pixel(n, y0 + 1, x0) * (1 - tx) * ty + pixel(n, y0 + 1, x0 + 1) * tx * ty
            )
    return out


@pytest.mark.parametrize("mode", [IM.LINEAR, IM.NEAREST], ids=lambda m: m.name)
@pytest.mark.parametrize("sample", [S.FILL, S.CLAMP, S.REFLECT], ids=lambda s: s.name)
@pytest.mark.parametrize("align", [False, True])
def test_grid_sample(mode, sample, align):
    net = Net()
    x = net.input("x", torch.float32, (2, 3, 5, 6))
    g = net.input("g", torch.float32, (2, 4, 7, 2))
    layer = net.network.add_grid_sample(x, g)
    layer.interpolation_mode = mode
    layer.sample_mode = sample
    layer.align_corners = align
    net.output(layer.get_output(0))
    net.build()
    v = rand((2, 3, 5, 6))
    grid = rand((2, 4, 7, 2), seed=3, low=-1.4, high=1.4)
    ref = _np_grid_sample(v.double().numpy(), grid.double().numpy(), mode, sample, align)
    assert_close(net.run1(x=v, g=grid), ref.astype(np.float32), rtol=1e-5, atol=1e-5)


def test_grid_sample_cubic_matches_bicubic_definition():
    net = Net()
    x = net.input("x", torch.float32, (1, 1, 5, 5))
    g = net.input("g", torch.float32, (1, 1, 3, 2))
    layer = net.network.add_grid_sample(x, g)
    layer.interpolation_mode = IM.CUBIC
    layer.sample_mode = S.CLAMP
    layer.align_corners = True
    net.output(layer.get_output(0))
    net.build()
    v = rand((1, 1, 5, 5))
    grid = torch.tensor([[[[0.0, 0.0], [0.3, -0.6], [-0.9, 0.45]]]])
    a = v.double().numpy()[0, 0]
    ref = []
    for gx, gy in grid[0, 0].double().numpy():
        cx, cy = (gx + 1) / 2 * 4, (gy + 1) / 2 * 4
        x0, y0 = math.floor(cx), math.floor(cy)
        total = 0.0
        for dy in (-1, 0, 1, 2):
            for dx in (-1, 0, 1, 2):
                yy, xx = min(max(y0 + dy, 0), 4), min(max(x0 + dx, 0), 4)
                total += a[yy, xx] * _cubic(cy - (y0 + dy), -0.75) * _cubic(cx - (x0 + dx), -0.75)
        ref.append(total)
    assert_close(net.run1(x=v, g=grid), np.array(ref, np.float32).reshape(1, 1, 1, 3), rtol=1e-5, atol=1e-5)
