"""Converter of interpolate_dyn: nearest (1-3 spatial dims) and bilinear, runtime sizes and scales;
torch_tensorrt's IResizeLayer path for non-integer scale factors."""

import pytest
import torch

from trt_dyn._trt import trt

from trt_dyn.testing.harness import run_converter_test

ops = torch.ops.trt_dyn


class Resize2d(torch.nn.Module):
    def forward(self, x):
        h, w = ops.sym_size_dyn(x, 2), ops.sym_size_dyn(x, 3)
        double = ops.shape_cat_dyn([ops.mul_dyn(h, ops.const_scalar(2)), ops.mul_dyn(w, ops.const_scalar(2))])
        odd = ops.shape_cat_dyn([ops.add_dyn(h, ops.const_scalar(3)), ops.floordiv_dyn(ops.add_dyn(w, ops.const_scalar(1)), ops.const_scalar(2))])
        fixed = ops.const([5, 7])
        by_scale = ops.shape_cat_dyn([
            ops.floor_dyn(ops.mul_dyn(ops.float_dyn(h), ops.const_scalar(1.5))),
            ops.floor_dyn(ops.mul_dyn(ops.float_dyn(w), ops.const_scalar(0.75))),
        ])
        return (
            ops.interpolate_dyn(x, double),
            ops.interpolate_dyn(x, odd),
            ops.interpolate_dyn(x, fixed),
            ops.interpolate_dyn(x, by_scale, scales=[1.5, 0.75]),
            ops.interpolate_dyn(x, odd, "bilinear"),
            ops.interpolate_dyn(x, double, "bilinear", True),
            ops.interpolate_dyn(x, fixed, "bilinear", True),
            ops.interpolate_dyn(x, by_scale, "bilinear", False, [1.5, 0.75]),
            ops.interpolate_dyn(x, odd, "bicubic"),
            ops.interpolate_dyn(x, double, "bicubic", True),
            ops.interpolate_dyn(x, fixed, "bicubic"),
            ops.interpolate_dyn(x, by_scale, "bicubic", False, [1.5, 0.75]),
        )


def test_resize_2d_nearest_and_bilinear():
    run_converter_test(Resize2d(), (torch.randn(1, 2, 5, 6),), {"x": {2: (2, 9), 3: (2, 11)}})


class Resize1d3d(torch.nn.Module):
    def forward(self, x, y):
        l = ops.sym_size_dyn(x, 2)
        d = ops.sym_size_dyn(y, 4)
        longer = ops.shape_cat_dyn([ops.add_dyn(l, ops.const_scalar(4))])
        same = ops.shape_cat_dyn([l])
        volume = ops.shape_cat_dyn([ops.const([3]), d, ops.mul_dyn(d, ops.const_scalar(2))])
        return (
            ops.interpolate_dyn(x, longer),
            ops.interpolate_dyn(x, longer, "linear"),
            ops.interpolate_dyn(x, longer, "linear", True),
            # out == in with a scale: aten's linear reads the input unchanged, nearest still scales
            ops.interpolate_dyn(x, same, "linear", False, [1.2]),
            ops.interpolate_dyn(x, same, "nearest", False, [1.2]),
            ops.interpolate_dyn(y, volume),
            ops.interpolate_dyn(y, volume, "trilinear"),
            ops.interpolate_dyn(y, volume, "trilinear", True),
        )


def test_resize_1d_and_3d_modes():
    run_converter_test(Resize1d3d(), (torch.randn(2, 3, 6), torch.randn(1, 2, 2, 3, 4)),
                       {"x": {2: (1, 10)}, "y": {4: (1, 5)}})


def test_resize_half_precision_input():
    run_converter_test(Resize2d(), (torch.randn(1, 2, 5, 6).half(),), {"x": {2: (2, 9), 3: (2, 11)}},
                       tolerances={torch.float16: (1e-2, 1e-2)})


class InterpolateByScale(torch.nn.Module):
    """F.interpolate with a non-integer scale_factor in every mode: torch_tensorrt's converter builds
    an IResizeLayer with scales, which TensorRT maps through 1 / scale (not the length ratio)."""

    def __init__(self, scale):
        super().__init__()
        self.scale = scale

    def forward(self, x):
        F = torch.nn.functional
        return (
            F.interpolate(x, scale_factor=self.scale, mode="nearest"),
            F.interpolate(x, scale_factor=self.scale, mode="bilinear", align_corners=False),
            F.interpolate(x, scale_factor=self.scale, mode="bicubic", align_corners=False),
        )


@pytest.mark.parametrize("dynamic", [False, True], ids=["static", "dynamic"])
@pytest.mark.parametrize("scale", [1.7, 2.5, 0.3])
def test_interpolate_non_integer_scale_factor_matches_eager(scale, dynamic):
    """n * scale is not whole at any of these sizes (7 * 1.7 = 11.9, 9 * 2.5 = 22.5, 10 * 0.3 = 3)."""
    from torch.export import Dim

    from trt_dyn.testing.compile_cpu import compile_cpu
    from trt_dyn.testing.harness import compare_outputs

    model = InterpolateByScale(scale)
    example = torch.randn(1, 2, 7, 9)
    shapes = {"x": {2: Dim("h", min=7, max=10)}} if dynamic else None
    program = torch.export.export(model, (example,), dynamic_shapes=shapes)
    compiled = compile_cpu(program, min_block_size=1)
    assert compiled.pytorch_nodes == []
    network = compiled.engines[0].network
    resize_layers = [network.get_layer(i) for i in range(network.num_layers)
                     if network.get_layer(i).type == trt.LayerType.RESIZE]
    assert len(resize_layers) == 3  # the scale path under test, not a gather decomposition
    for h in ((7, 8, 10) if dynamic else (7,)):
        x = torch.randn(1, 2, h, 9, generator=torch.Generator().manual_seed(h))
        compare_outputs(compiled(x), model(x), where=f"scale {scale}, h {h}")


class AntialiasedResize(torch.nn.Module):
    """timm's position-embedding resample: a fixed grid to the input's (dynamic) size, antialiased bicubic and
    bilinear; both down- (filter widened) and upsampling."""

    def __init__(self):
        super().__init__()
        self.grid = torch.nn.Parameter(torch.randn(1, 3, 14, 14))

    def forward(self, x):
        size = (x.shape[2], x.shape[3])
        return (
            torch.nn.functional.interpolate(self.grid, size=size, mode="bicubic", antialias=True),
            torch.nn.functional.interpolate(self.grid, size=size, mode="bilinear", antialias=True),
            torch.nn.functional.interpolate(x, size=(9, 20), mode="bicubic", antialias=True),
        )


def test_antialiased_resize_to_dynamic_size():
    """aten._upsample_bicubic2d_aa / _bilinear2d_aa with a symbolic output size (no dyn variant before)."""
    run_converter_test(AntialiasedResize(), (torch.randn(1, 2, 10, 24),), {"x": {2: (4, 30), 3: (5, 40)}})


class ResizeToOthersSize(torch.nn.Module):
    """Linear modes and bicubic to a run-time size read from another input, down to and up from one pixel."""

    def forward(self, x, other):
        size = ops.shape_cat_dyn([ops.sym_size_dyn(other, 2), ops.sym_size_dyn(other, 3)])
        return (
            ops.interpolate_dyn(x, size, "bilinear"),
            ops.interpolate_dyn(x, size, "bilinear", True),
            ops.interpolate_dyn(x, size, "bicubic"),
            ops.interpolate_dyn(x, size, "bicubic", True),
        )


def test_linear_and_bicubic_to_a_size_are_one_resize_layer_matching_eager():
    """One IResizeLayer each (the gathers were ~40 layers per interpolate); eager's values at 1-pixel
    inputs and outputs (align_corners reads pixel 0 there), odd sizes, up- and downsampling."""
    result = run_converter_test(
        ResizeToOthersSize(), (torch.randn(1, 3, 5, 7), torch.randn(1, 1, 9, 4)),
        {"x": {2: (1, 12), 3: (1, 12)}, "other": {2: (1, 12), 3: (1, 12)}},
        extra_points=[{"x": (1, 3, 1, 1), "other": (1, 1, 7, 5)}, {"x": (1, 3, 9, 11), "other": (1, 1, 1, 1)},
                      {"x": (1, 3, 6, 1), "other": (1, 1, 1, 12)}],
    )
    (engine,) = result.compiled.engines
    types = [engine.network.get_layer(i).type for i in range(engine.network.num_layers)]
    # gathers left: the two sizes of `other` (the per-axis tap gathers are gone; x's leading dims are one slice)
    assert types.count(trt.LayerType.RESIZE) == 4 and types.count(trt.LayerType.GATHER) <= 2


class NearestToOthersSize(torch.nn.Module):
    def forward(self, x, other):
        return torch.nn.functional.interpolate(x, size=other.shape[-2:], mode="nearest")


def _float_rounding_pairs(max_in: int, max_out: int):
    """(in, out) where aten's float32 ``floor(dst * ((float)in / out))`` reads another pixel than the exact
    ``dst * in // out`` for some ``dst`` (``dst * in / out`` whole, ``fl(in / out)`` below the ratio)."""
    pairs = []
    for size_in in range(1, max_in + 1):
        for size_out in range(1, max_out + 1):
            scale = torch.tensor(size_in, dtype=torch.float32) / torch.tensor(size_out, dtype=torch.float32)
            dst = torch.arange(size_out)
            if not torch.equal(torch.floor(dst.float() * scale).long(), dst * size_in // size_out):
                pairs.append((size_in, size_out))
    return pairs


def test_nearest_to_a_size_reads_aten_float32_pixels_where_rounding_matters():
    """Every (in, out) pair up to 32 -> 64 where one float32 ulp of the coordinate picks another pixel (found by
    search: the exact index is wrong there), on both axes: the engine's pixels are eager's, bit for bit."""
    pairs = _float_rounding_pairs(32, 64)
    assert len(pairs) >= 4, pairs  # the search finds the cases this test is about
    points = [{"x": (1, 2, pairs[i][0], pairs[(i + 1) % len(pairs)][0]),
               "other": (1, 1, pairs[i][1], pairs[(i + 1) % len(pairs)][1])} for i in range(len(pairs))]
    result = run_converter_test(NearestToOthersSize(), (torch.randn(1, 2, 5, 7), torch.randn(1, 1, 9, 4)),
                                {"x": {2: (1, 32), 3: (1, 32)}, "other": {2: (1, 64), 3: (1, 64)}},
                                extra_points=points)
    (engine,) = result.compiled.engines
    types = [engine.network.get_layer(i).type for i in range(engine.network.num_layers)]
    # one float fill over both axes gives dst * scale; the float -> int64 cast is the floor (no unary layer)
    assert types.count(trt.LayerType.FILL) == 1 and trt.LayerType.UNARY not in types, types
    generator = torch.Generator().manual_seed(16)
    for point in points:
        x, other = torch.randn(point["x"], generator=generator), torch.randn(point["other"], generator=generator)
        expected = NearestToOthersSize()(x, other)
        got = result.compiled(x, other)
        assert torch.equal(got[0] if isinstance(got, (tuple, list)) else got, expected), point
        exact = [torch.arange(size_out) * size_in // size_out for size_in, size_out in zip(x.shape[2:], other.shape[2:])]
        # the exact (rational) pixels are not eager's here: the test tells the float32 formula from exact math
        assert not torch.equal(x[:, :, exact[0]][:, :, :, exact[1]], expected), point


class NearestScaledToOthersSize(torch.nn.Module):
    """Scales that do not match the sizes (another input's): sources past the input's end, read at its last pixel."""

    def forward(self, x, other):
        size = ops.shape_cat_dyn([ops.sym_size_dyn(other, 2), ops.sym_size_dyn(other, 3)])
        return ops.interpolate_dyn(x, size, "nearest", False, [1.0, 0.5]), ops.interpolate_dyn(x, size)


def test_nearest_with_scales_keeps_the_clamp_where_sizes_are_bounded():
    """The output sizes are bounded by the profile (so ``in / out`` never needs the clamp), a given scale still
    does: eager's values where 1 / scale * dst passes the last input pixel."""
    result = run_converter_test(NearestScaledToOthersSize(), (torch.randn(1, 2, 5, 7), torch.randn(1, 1, 9, 4)),
                                {"x": {2: (1, 12), 3: (1, 12)}, "other": {2: (1, 16), 3: (1, 16)}},
                                extra_points=[{"x": (1, 2, 3, 4), "other": (1, 1, 16, 16)}])
    (engine,) = result.compiled.engines
    types = [engine.network.get_layer(i).type for i in range(engine.network.num_layers)]
    # elementwise: the division and the in - 1 both resizes share, a clamp per axis of the scaled one only
    assert types.count(trt.LayerType.FILL) == 2 and types.count(trt.LayerType.ELEMENTWISE) == 4, types  # a fill each


def test_fpn_top_down_reads_the_lateral_size_once_and_resizes_to_its_shape():
    """FPN's ``interpolate(top, size=lateral.shape[-2:])``: the size is one slice of lateral's shape (not a gather,
    reshape and concatenation per entry), the nearest source pixels of both axes come from one fill, and the bilinear
    resize, whose batch and channels equal lateral's in the profile, takes lateral's shape as its output shape.
    19 layers is 1.46x the ONNX route's 13 (issue 16 asks <= 1.5x)."""
    from sibling_tests import load_test_module

    patterns = load_test_module("lowering/test_patterns.py", "_resize_patterns")
    result = run_converter_test(
        patterns.FpnTopDown(), (torch.randn(1, 4, 20, 26), torch.randn(1, 4, 10, 13)),
        {"lateral": {2: (2, 64), 3: (2, 64)}, "top": {2: (1, 32), 3: (1, 32)}},
        extra_points=[{"lateral": (1, 4, 17, 9), "top": (1, 4, 9, 5)}, {"lateral": (1, 4, 5, 63), "top": (1, 4, 3, 31)},
                      {"lateral": (1, 4, 64, 2), "top": (1, 4, 1, 32)}],
    )
    (engine,) = result.compiled.engines
    types = [engine.network.get_layer(i).type for i in range(engine.network.num_layers)]
    assert trt.LayerType.CONCATENATION not in types and trt.LayerType.SHUFFLE not in types, types
    # nearest: one fill of both axes' coordinates, a gather reading each axis's line of it, a gather of the input
    assert types.count(trt.LayerType.SHAPE) == 2 and types.count(trt.LayerType.FILL) == 1, types
    assert types.count(trt.LayerType.GATHER) == 4 and len(types) <= 19, types
