"""Converter for ``interpolate_dyn`` (runtime output size): every mode as aten computes it.

Modes: nearest (1-3 spatial dims), linear (1), bilinear (2), bicubic (2, A = -0.75), trilinear (3).
Each spatial axis is resized in turn: source coordinates come from an index ramp (``IFillLayer``)
with the float32 formulas of aten's CPU kernels, then the input is read with ``IGatherLayer`` and
the taps are weighted:

* nearest: ``min(floor(dst * scale), in - 1)``;
* linear family: ``src = (dst + 0.5) * scale - 0.5`` clamped at 0 (``align_corners=False``) or
  ``dst * (in - 1) / (out - 1)``; taps ``i0 = min(floor(src), in - 1)`` and ``min(i0 + 1, in - 1)``,
  weights ``1 - l, l`` with ``l = clamp(src - i0, 0, 1)``; out == in reads the input unchanged;
* bicubic: the same coordinate without the clamp at 0, four taps ``clamp(i0 - 1 + k, 0, in - 1)``
  weighted by the cubic convolution coefficients of ``t = l``.

``scale`` is ``in / out``, or ``1 / scale_factor`` when ``scales`` are given (``IResizeLayer``
cannot take that scale together with a runtime size). Reduced-precision inputs are computed in
float32 like aten's opmath. Gather, fill, elementwise, unary and select layers exist on TensorRT
and TensorRT-RTX alike.
"""

from __future__ import annotations

import functools
from typing import Any, List, Optional

import numpy as np
import torch

from .._hooks import ConverterPriority
from .._trt import trt
from .common import arg, cast_to, converts, data_tensor, registered, shape_arg, typed_constant
from .creation import linspace_fill
from .errors import fail
from .shape_tensor import (
    as_shape_tensor,
    shape_items,
    assert_compare,
    concat_shapes,
    dim_of,
    shape_compare,
    gather_dims,
    leading_then,
    int64_constant,
    name_layer,
    pin_float32,
    shape_binary,
    shape_clamp,
    shape_of,
    to_1d,
    upper_bound,
)

E = trt.ElementWiseOperation
U = trt.UnaryOperation


def _ew(ctx: Any, a: "trt.ITensor", b: "trt.ITensor", op: Any, name: str) -> "trt.ITensor":
    layer = ctx.net.add_elementwise(a, b, op)
    name_layer(layer, name, str(op).split(".")[-1].lower())
    return pin_float32(ctx, layer).get_output(0)


def _unary(ctx: Any, a: "trt.ITensor", op: Any, name: str) -> "trt.ITensor":
    layer = ctx.net.add_unary(a, op)
    name_layer(layer, name, str(op).split(".")[-1].lower())
    return pin_float32(ctx, layer).get_output(0)


def _f32(ctx: Any, value: float, name: str) -> "trt.ITensor":
    return typed_constant(ctx, float(np.float32(value)), trt.float32, name, rank=1)


def _gather(ctx: Any, tensor: "trt.ITensor", indices: "trt.ITensor", axis: int, name: str) -> "trt.ITensor":
    layer = ctx.net.add_gather(tensor, indices, axis)
    name_layer(layer, name, f"gather_axis{axis}")
    return layer.get_output(0)


def _along(ctx: Any, weights: "trt.ITensor", axis: int, rank: int, name: str) -> "trt.ITensor":
    """A 1-d ramp reshaped to broadcast along ``axis`` of a rank-``rank`` tensor."""
    layer = ctx.net.add_shuffle(weights)
    layer.reshape_dims = tuple(-1 if d == axis else 1 for d in range(rank))
    name_layer(layer, name, "along")
    return layer.get_output(0)


def _select(ctx: Any, condition: "trt.ITensor", a: "trt.ITensor", b: "trt.ITensor", name: str) -> "trt.ITensor":
    layer = ctx.net.add_select(condition, a, b)
    name_layer(layer, name, "select")
    return layer.get_output(0)


def _source_scale(ctx: Any, in_f: "trt.ITensor", out_f: "trt.ITensor", scale: Optional[float],
                  name: str) -> "trt.ITensor":
    """aten's ``compute_scales_value<float>``: ``(float)(1 / scale)`` if given, else ``in / out``."""
    if scale is not None:
        return _f32(ctx, 1.0 / scale, name)
    return _ew(ctx, in_f, out_f, E.DIV, name)


class _Axis:
    """Per-axis quantities shared by every mode: output ramp, sizes as int64 and float32."""

    def __init__(self, ctx: Any, out_size: "trt.ITensor", in_size: "trt.ITensor", name: str):
        self.in_size, self.out_size, self.name = in_size, out_size, name
        self.index = linspace_fill(ctx, out_size, int64_constant(ctx, 0, name), int64_constant(ctx, 1, name), name)
        self.ramp = cast_to(ctx, self.index, trt.float32, name)
        self.in_f = to_1d(ctx, cast_to(ctx, in_size, trt.float32, name), name)
        self.out_f = to_1d(ctx, cast_to(ctx, out_size, trt.float32, name), name)
        self._ctx = ctx

    @functools.cached_property
    def last(self) -> "trt.ITensor":
        """``in - 1``, the last source index (the modes that clamp to it read it: made on first use, since for a
        static size it is a constant nothing else would read)."""
        return shape_binary(self._ctx, "sub", self.in_size, 1, self.name)

    @property
    def same_size(self) -> "trt.ITensor":
        """``out == in`` as a [1] bool (only the linear modes with a scale read it: made on first use)."""
        return to_1d(self._ctx, shape_compare(self._ctx, "eq", self.out_size, self.in_size, self.name), self.name)


#: out <= 2**22: aten's min(floor(dst * scale), in - 1) never binds for scale = in / out. With u = 2**-24 and round to nearest, the float32
#: scale is at most (in / out)(1 + u)**2 (in rounded to float32 when above 2**24, then the division), dst <= out - 1
#: is exact (< 2**24), so dst * scale rounds to at most in (1 - 1 / out)(1 + u)**3 < in as long as
#: 1 / out > (1 + u)**3 - 1 (about 3u = 1.5 * 2**-23): floor(dst * scale) <= in - 1 for any input size.
_NEAREST_UNCLAMPED = 1 << 22


def _nearest(ctx: Any, x: "trt.ITensor", size: "trt.ITensor", in_shape: "trt.ITensor",
             scales: List[Optional[float]], name: str) -> "trt.ITensor":
    """aten nearest on every spatial axis: ``min(floor(dst * scale), in - 1)`` with aten's float32 ``scale``
    (``(float)in / (float)out``, or ``(float)(1 / scale)`` when given), also when out == in with a scale
    (measured: aten's CPU kernel applies the scale then too).

    Exact by construction, in few layers: the scales of all axes come from one division of the float sizes;
    ``dst * scale`` of all axes is one float LINSPACE fill over the output's spatial shape (see
    :func:`_scaled_indices`); ``floor`` is the float -> int64 cast (TensorRT's cast truncates, the same for these
    non-negative values). The ``min`` is left out on the axes without a given scale when the output sizes are
    known to be at most 2**22 (see :data:`_NEAREST_UNCLAMPED`)."""
    spatial = len(scales)
    in_sizes = gather_dims(ctx, in_shape, list(range(2, 2 + spatial)), name)
    ratio = None
    if any(scale is None for scale in scales):
        ratio = _ew(ctx, cast_to(ctx, in_sizes, trt.float32, name), cast_to(ctx, size, trt.float32, name), E.DIV, name)
    bound = upper_bound(ctx, size)
    bounded = bound is not None and bound <= _NEAREST_UNCLAMPED
    # a given scale is not in / out: its source index can pass the last pixel whatever the sizes
    clamped = [scale is not None or not bounded for scale in scales]
    last = shape_binary(ctx, "sub", in_sizes, 1, name) if any(clamped) else None
    steps = ratio if all(scale is None for scale in scales) else concat_shapes(ctx, [
        _f32(ctx, 1.0 / scale, name) if scale is not None else gather_dims(ctx, ratio, [position], name)
        for position, scale in enumerate(scales)], name)
    for position, source in enumerate(_scaled_indices(ctx, size, steps, name)):
        axis_name = f"{name}/axis{2 + position}"
        index = cast_to(ctx, source, trt.int64, axis_name)
        if clamped[position]:
            index = shape_binary(ctx, "min", index, gather_dims(ctx, last, [position], axis_name), axis_name)
        x = _gather(ctx, x, index, 2 + position, axis_name)
    return x


def _scaled_indices(ctx: Any, size: "trt.ITensor", steps: "trt.ITensor", name: str) -> List["trt.ITensor"]:
    """``[dst * steps[p] for dst < size[p]]`` (float32) for each axis ``p``: one LINSPACE fill over the whole
    ``size`` with alpha 0 and beta ``steps`` holds ``sum_p steps[p] * i_p``; along axis ``p`` with the other
    indices 0 that is ``steps[p] * i_p`` plus exact zeros, one float32 product as aten's, however the sum is
    ordered. Each axis's line is read by gathering index 0 of the others (sizes are >= 1: asserted)."""
    layer = ctx.net.add_fill((1,), trt.FillOperation.LINSPACE, trt.float32)
    layer.set_input(0, size)
    layer.set_input(1, typed_constant(ctx, 0.0, trt.float32, name))
    layer.set_input(2, steps)
    name_layer(layer, name, "linspace")
    grid = pin_float32(ctx, layer).get_output(0)
    spatial = size.shape[0]
    first = int64_constant(ctx, 0, name)
    lines = []
    for position in range(spatial):
        line = grid
        for other in reversed(range(spatial)):  # from the last axis: the earlier ones keep their numbers
            if other != position:
                line = _gather(ctx, line, first, other, f"{name}/axis{2 + position}")
        lines.append(line)
    return lines


def _source_coordinate(ctx: Any, geometry: _Axis, scale: Optional[float], align_corners: bool, cubic: bool,
                       name: str) -> "trt.ITensor":
    """aten ``area_pixel_compute_source_index`` in float32 (clamped at 0 unless cubic)."""
    one, half, zero = _f32(ctx, 1.0, name), _f32(ctx, 0.5, name), _f32(ctx, 0.0, name)
    if align_corners:
        # (in - 1) / (out - 1), or 0 for a single output (every output reads index 0).
        span_in = _ew(ctx, geometry.in_f, one, E.SUB, name)
        span_out = _ew(ctx, geometry.out_f, one, E.SUB, name)
        several = _ew(ctx, span_out, zero, E.GREATER, name)
        ratio = _ew(ctx, span_in, _ew(ctx, span_out, one, E.MAX, name), E.DIV, name)
        return _ew(ctx, geometry.ramp, _select(ctx, several, ratio, zero, name), E.PROD, name)
    factor = _source_scale(ctx, geometry.in_f, geometry.out_f, scale, name)
    source = _ew(ctx, _ew(ctx, _ew(ctx, geometry.ramp, half, E.SUM, name), factor, E.PROD, name), half, E.SUB, name)
    return source if cubic else _ew(ctx, source, zero, E.MAX, name)


def _index_and_lambda(ctx: Any, geometry: _Axis, source: "trt.ITensor", name: str):
    """aten ``guard_index_and_lambda``: ``i = min(floor(src), in - 1)``, ``l = clamp(src - i, 0, 1)``."""
    floor = cast_to(ctx, _unary(ctx, source, U.FLOOR, name), trt.int64, name)
    index = shape_binary(ctx, "min", floor, geometry.last, name)
    offset = _ew(ctx, source, cast_to(ctx, index, trt.float32, name), E.SUB, name)
    weight = _ew(ctx, _ew(ctx, offset, _f32(ctx, 0.0, name), E.MAX, name), _f32(ctx, 1.0, name), E.MIN, name)
    return index, weight


def _weighted_sum(ctx: Any, x: "trt.ITensor", axis: int, taps: List[Any], name: str) -> "trt.ITensor":
    rank = len(x.shape)
    total = None
    for index, weight in taps:
        term = _ew(ctx, _gather(ctx, x, index, axis, name), _along(ctx, weight, axis, rank, name), E.PROD, name)
        total = term if total is None else _ew(ctx, total, term, E.SUM, name)
    return total


def _linear_axis(ctx: Any, x: "trt.ITensor", axis: int, geometry: _Axis, scale: Optional[float],
                 align_corners: bool, name: str) -> "trt.ITensor":
    """aten ``compute_source_index_and_lambda``: two taps ``i0``, ``min(i0 + 1, in - 1)``."""
    source = _source_coordinate(ctx, geometry, scale, align_corners, False, name)
    if scale is not None and not align_corners:
        # aten reads the input unchanged when out == in, whatever the scale says.
        source = _select(ctx, geometry.same_size, geometry.ramp, source, name)
    low, upper_weight = _index_and_lambda(ctx, geometry, source, name)
    high = shape_binary(ctx, "min", shape_binary(ctx, "add", low, 1, name), geometry.last, name)
    lower_weight = _ew(ctx, _f32(ctx, 1.0, name), upper_weight, E.SUB, name)
    return _weighted_sum(ctx, x, axis, [(low, lower_weight), (high, upper_weight)], name)


_CUBIC_A = -0.75


def _cubic_axis(ctx: Any, x: "trt.ITensor", axis: int, geometry: _Axis, scale: Optional[float],
                align_corners: bool, name: str) -> "trt.ITensor":
    """aten bicubic (A = -0.75): taps ``clamp(i - 1 + k, 0, in - 1)`` for k = 0..3, weights from
    ``get_cubic_upsample_coefficients(t)``."""
    source = _source_coordinate(ctx, geometry, scale, align_corners, True, name)
    index, t = _index_and_lambda(ctx, geometry, source, name)
    a = _f32(ctx, _CUBIC_A, name)
    one = _f32(ctx, 1.0, name)

    def near(d: "trt.ITensor") -> "trt.ITensor":  # ((A + 2) d - (A + 3)) d d + 1, for |d| <= 1
        inner = _ew(ctx, _ew(ctx, _f32(ctx, _CUBIC_A + 2, name), d, E.PROD, name), _f32(ctx, _CUBIC_A + 3, name), E.SUB, name)
        return _ew(ctx, _ew(ctx, _ew(ctx, inner, d, E.PROD, name), d, E.PROD, name), one, E.SUM, name)

    def far(d: "trt.ITensor") -> "trt.ITensor":  # ((A d - 5 A) d + 8 A) d - 4 A, for 1 < |d| < 2
        first = _ew(ctx, _ew(ctx, a, d, E.PROD, name), _f32(ctx, 5 * _CUBIC_A, name), E.SUB, name)
        second = _ew(ctx, _ew(ctx, first, d, E.PROD, name), _f32(ctx, 8 * _CUBIC_A, name), E.SUM, name)
        return _ew(ctx, _ew(ctx, second, d, E.PROD, name), _f32(ctx, 4 * _CUBIC_A, name), E.SUB, name)

    rest = _ew(ctx, one, t, E.SUB, name)
    weights = [far(_ew(ctx, t, one, E.SUM, name)), near(t), near(rest), far(_ew(ctx, rest, one, E.SUM, name))]
    taps = []
    for k, weight in enumerate(weights):
        tap = shape_clamp(ctx, shape_binary(ctx, "add", index, k - 1, name), 0, geometry.last, name)
        taps.append((tap, weight))
    return _weighted_sum(ctx, x, axis, taps, name)


def _resize_layer(ctx: Any, x: "trt.ITensor", size: "trt.ITensor", mode: str, align_corners: bool,
                  name: str) -> "trt.ITensor":
    """The linear modes and bicubic resized to a run-time ``size`` (no scales): one ``IResizeLayer``.

    Its coordinate formulas are aten's: ``(dst + 0.5) * in / out - 0.5`` (HALF_PIXEL) or ``dst * (in - 1) /
    (out - 1)`` (ALIGN_CORNERS, and index 0 for a single output, the UPPER selector), taps outside the input
    read the edge (aten clamps the coordinate at 0, or the tap index for bicubic: the same values), bicubic
    with A = -0.75. Only where the two compute the coordinate in a different float order can they differ,
    and these modes are continuous in the coordinate, so by float rounding only; nearest is not (one ulp
    picks another pixel) and keeps aten's exact float32 formula with gathers, as do explicit scales, which
    ``IResizeLayer`` cannot take together with a run-time size."""
    layer = ctx.net.add_resize(x)
    layer.set_input(1, leading_then(ctx, x, 2, size, name))
    layer.resize_mode = trt.InterpolationMode.CUBIC if mode == "bicubic" else trt.InterpolationMode.LINEAR
    if align_corners:
        layer.coordinate_transformation = trt.ResizeCoordinateTransformation.ALIGN_CORNERS
        layer.selector_for_single_pixel = trt.ResizeSelector.UPPER
    else:
        layer.coordinate_transformation = trt.ResizeCoordinateTransformation.HALF_PIXEL
        layer.selector_for_single_pixel = trt.ResizeSelector.FORMULA
    layer.cubic_coeff = _CUBIC_A
    layer.exclude_outside = False
    name_layer(layer, name, f"resize_{mode}")
    return pin_float32(ctx, layer).get_output(0)


#: mode -> number of spatial dims it needs (None: 1 to 3)
_MODES = {"nearest": None, "linear": 1, "bilinear": 2, "bicubic": 2, "trilinear": 3}


@converts("interpolate_dyn")
def convert_interpolate_dyn(ctx: Any, target: Any, args: Any, kwargs: Any, name: str) -> "trt.ITensor":
    """``interpolate_dyn(self, size, mode, align_corners, scales)`` -> per-axis gathers (see module doc)."""
    x = data_tensor(ctx, arg(args, kwargs, 0, "self"), name)
    size = shape_arg(ctx, target, name, arg(args, kwargs, 1, "size"), "size")
    mode = arg(args, kwargs, 2, "mode", "nearest")
    align_corners = bool(arg(args, kwargs, 3, "align_corners", False))
    scales: Optional[List[float]] = arg(args, kwargs, 4, "scales", None)
    rank = len(x.shape)
    spatial = size.shape[0]
    if mode not in _MODES:
        raise fail(ctx, target, name, f"mode '{mode}' is not implemented ({', '.join(_MODES)})")
    wanted = _MODES[mode]
    if rank != spatial + 2 or not 1 <= spatial <= 3 or (wanted is not None and spatial != wanted):
        raise fail(ctx, target, name, f"{mode} on a rank-{rank} input with a size of length {spatial}")
    if scales is not None and len(scales) != spatial:
        raise fail(ctx, target, name, f"scales {scales} must have {spatial} entries")
    interpolating = mode != "nearest"
    if interpolating and x.dtype not in (trt.float32, trt.float16, trt.bfloat16):
        raise fail(ctx, target, name, f"{mode} needs a floating input, got {x.dtype}")
    assert_compare(ctx, "gt", size, 0, "interpolate: output sizes must be positive", name)
    original = x.dtype
    if interpolating:
        # aten accumulates reduced-precision inputs in float32 (opmath) too.
        x = cast_to(ctx, x, trt.float32, name)
    if interpolating and scales is None:
        return cast_to(ctx, _resize_layer(ctx, x, size, mode, align_corners, name), original, name)
    in_shape = shape_of(ctx, x, name)
    per_axis = [None if scales is None or scales[position] is None else float(scales[position])
                for position in range(spatial)]
    for scale in per_axis:
        if scale is not None and scale <= 0:
            raise fail(ctx, target, name, f"scale {scale} must be positive")
    if mode == "nearest":
        return _nearest(ctx, x, size, in_shape, per_axis, name)
    for position, scale in enumerate(per_axis):
        axis = 2 + position
        axis_name = f"{name}/axis{axis}"
        geometry = _Axis(ctx, gather_dims(ctx, size, position, axis_name), gather_dims(ctx, in_shape, axis, axis_name),
                         axis_name)
        if mode == "bicubic":
            x = _cubic_axis(ctx, x, axis, geometry, scale, align_corners, axis_name)
        else:
            x = _linear_axis(ctx, x, axis, geometry, scale, align_corners, axis_name)
    return cast_to(ctx, x, original, name)


# ----------------------------------------------------------------------------------------------
# antialiased resize (aten._upsample_{bilinear,bicubic}2d_aa): separable weight matrices

#: mode -> (filter support at scale 1, filter) of aten's antialiased kernels (bicubic: Keys, a = -0.5)
_AA_MODES = ("bilinear", "bicubic")


def _f32_2d(ctx: Any, value: float, name: str) -> "trt.ITensor":
    return typed_constant(ctx, float(np.float32(value)), trt.float32, name, rank=2)


def _aa_filter(ctx: Any, t: "trt.ITensor", mode: str, name: str) -> "trt.ITensor":
    """aten's ``aa_filter`` of ``|t|``: triangle (bilinear) or the a = -0.5 cubic (bicubic), 0 outside."""
    x = _unary(ctx, t, U.ABS, name)
    zero, one, two = _f32_2d(ctx, 0.0, name), _f32_2d(ctx, 1.0, name), _f32_2d(ctx, 2.0, name)
    inside_one = _ew(ctx, x, one, E.LESS, name)
    if mode == "bilinear":
        return _select(ctx, inside_one, _ew(ctx, one, x, E.SUB, name), zero, name)
    a = -0.5
    x2 = _ew(ctx, x, x, E.PROD, name)
    # |x| < 1: ((a + 2) x - (a + 3)) x^2 + 1
    near = _ew(ctx, _ew(ctx, _ew(ctx, _ew(ctx, x, _f32_2d(ctx, a + 2.0, name), E.PROD, name),
                                 _f32_2d(ctx, a + 3.0, name), E.SUB, name), x2, E.PROD, name), one, E.SUM, name)
    # 1 <= |x| < 2: (((x - 5) x + 8) x - 4) a
    far = _ew(ctx, _ew(ctx, x, _f32_2d(ctx, 5.0, name), E.SUB, name), x, E.PROD, name)
    far = _ew(ctx, _ew(ctx, far, _f32_2d(ctx, 8.0, name), E.SUM, name), x, E.PROD, name)
    far = _ew(ctx, _ew(ctx, far, _f32_2d(ctx, 4.0, name), E.SUB, name), _f32_2d(ctx, a, name), E.PROD, name)
    inside_two = _ew(ctx, x, two, E.LESS, name)
    return _select(ctx, inside_one, near, _select(ctx, inside_two, far, zero, name), name)


def _aa_weights(ctx: Any, geometry: _Axis, mode: str, name: str) -> "trt.ITensor":
    """(out, in) float32 matrix of aten's antialiased weights for one axis, rows normalized to sum 1.

    aten: ``scale = in / out``, ``center_i = scale (i + 0.5)``, ``s = max(scale, 1)``, weight of source ``j``
    ``filter((j + 0.5 - center_i) / s)`` over ``j`` in ``[center - support + 0.5, center + support + 0.5)``
    clipped to the input; outside that window the filter is already 0, so a dense matrix is the same.
    """
    one, half = _f32(ctx, 1.0, name), _f32(ctx, 0.5, name)
    scale = _ew(ctx, geometry.in_f, geometry.out_f, E.DIV, name)
    stretch = _ew(ctx, scale, one, E.MAX, name)
    center = _ew(ctx, _ew(ctx, geometry.ramp, half, E.SUM, name), scale, E.PROD, name)
    sources = linspace_fill(ctx, geometry.in_size, int64_constant(ctx, 0, name), int64_constant(ctx, 1, name), name)
    sources = _ew(ctx, cast_to(ctx, sources, trt.float32, name), half, E.SUM, name)
    offset = _ew(ctx, _along(ctx, sources, 1, 2, name), _along(ctx, center, 0, 2, name), E.SUB, name)
    weights = _aa_filter(ctx, _ew(ctx, offset, _along(ctx, stretch, 0, 2, name), E.DIV, name), mode, name)
    total = ctx.net.add_reduce(weights, trt.ReduceOperation.SUM, 1 << 1, True)
    name_layer(total, name, "aa_total")
    return _ew(ctx, weights, pin_float32(ctx, total).get_output(0), E.DIV, name)


def _matmul(ctx: Any, a: "trt.ITensor", a_op: Any, b: "trt.ITensor", b_op: Any, name: str) -> "trt.ITensor":
    layer = ctx.net.add_matrix_multiply(a, a_op, b, b_op)
    name_layer(layer, name, "aa_matmul")
    return pin_float32(ctx, layer).get_output(0)


@converts("interpolate_aa_dyn")
def convert_interpolate_aa_dyn(ctx: Any, target: Any, args: Any, kwargs: Any, name: str) -> "trt.ITensor":
    """``interpolate_aa_dyn(self, size, mode, align_corners)`` -> ``W_h @ x @ W_w^T`` with aten's AA weights."""
    return _antialiased(ctx, target, name, arg(args, kwargs, 0, "self"), arg(args, kwargs, 1, "size"),
                        arg(args, kwargs, 2, "mode", "bicubic"), arg(args, kwargs, 3, "align_corners", False))


def _static_size_aa(mode: str):
    # upstream has no converter for aten's antialiased resizes; with a static output size (e.g. a dynamic image
    # resized to a fixed size) no dyn rewrite happens, so the aten op is converted the same way directly
    def convert(ctx: Any, target: Any, args: Any, kwargs: Any, name: str) -> "trt.ITensor":
        if arg(args, kwargs, 3, "scales_h") is not None or arg(args, kwargs, 4, "scales_w") is not None:
            raise fail(ctx, target, name, "explicit scales are not implemented for antialiased resize")
        return _antialiased(ctx, target, name, arg(args, kwargs, 0, "self"), arg(args, kwargs, 1, "output_size"),
                            mode, arg(args, kwargs, 2, "align_corners", False))

    return convert


for _mode, _aten in (("bicubic", torch.ops.aten._upsample_bicubic2d_aa.default),
                     ("bilinear", torch.ops.aten._upsample_bilinear2d_aa.default)):
    registered(_aten, priority=ConverterPriority.HIGH)(
        _static_size_aa(_mode))


def _antialiased(ctx: Any, target: Any, name: str, x: Any, size: Any, mode: str, align_corners: Any) -> "trt.ITensor":
    x = data_tensor(ctx, x, name)
    size = shape_arg(ctx, target, name, size, "size")
    if mode not in _AA_MODES:
        raise fail(ctx, target, name, f"antialiased mode '{mode}' is not implemented ({', '.join(_AA_MODES)})")
    if bool(align_corners):
        raise fail(ctx, target, name, "antialiased resize with align_corners=True is not implemented")
    if len(x.shape) != 4 or size.shape[0] != 2:
        raise fail(ctx, target, name, f"antialiased {mode} needs a rank-4 input and 2 sizes")
    if x.dtype not in (trt.float32, trt.float16, trt.bfloat16):
        raise fail(ctx, target, name, f"antialiased {mode} needs a floating input, got {x.dtype}")
    assert_compare(ctx, "gt", size, 0, "interpolate: output sizes must be positive", name)
    original = x.dtype
    x = cast_to(ctx, x, trt.float32, name)
    matrices = []
    for axis in (2, 3):
        axis_name = f"{name}/axis{axis}"
        # each input size on its own (a constant when static): the whole shape as a constant would be read by nobody
        geometry = _Axis(ctx, gather_dims(ctx, size, axis - 2, axis_name), dim_of(ctx, x, axis, axis_name), axis_name)
        weights = _aa_weights(ctx, geometry, mode, axis_name)
        matrix = ctx.net.add_shuffle(weights)  # (1, 1, out, in): broadcast over batch and channels
        matrix.set_input(1, as_shape_tensor(ctx, [1, 1, *shape_items(ctx, weights, axis_name)], axis_name))
        name_layer(matrix, axis_name, "aa_rank4")
        matrices.append(matrix.get_output(0))
    M = trt.MatrixOperation
    x = _matmul(ctx, x, M.NONE, matrices[1], M.TRANSPOSE, name)   # (N, C, Hin, Wout)
    x = _matmul(ctx, matrices[0], M.NONE, x, M.NONE, name)        # (N, C, Hout, Wout)
    return cast_to(ctx, x, original, name)
