"""Converter for ``interpolate_dyn`` (runtime output size): nearest and bilinear, as aten computes them.

The source coordinates are computed per spatial axis from an index ramp (``IFillLayer``) with the
same float32 formulas aten's CPU/CUDA kernels use, then the input is read with ``IGatherLayer``:

* nearest: ``min(floor(dst * scale), in - 1)`` with ``scale = in / out``, or ``1 / scale_factor``
  when ``scales`` are given (``IResizeLayer`` cannot take that scale together with a runtime size);
* bilinear: ``src = (dst + 0.5) * scale - 0.5`` clamped at 0 (``align_corners=False``) or
  ``dst * (in - 1) / (out - 1)`` (``align_corners=True``); neighbours ``i0 = floor(src)``,
  ``i1 = min(i0 + 1, in - 1)``, weights ``1 - l, l`` with ``l = src - i0``.

Gather, fill, elementwise and unary layers exist on TensorRT and TensorRT-RTX alike.
"""

from __future__ import annotations

from typing import Any, List, Optional

import numpy as np

from .._trt import trt
from .common import arg, cast_to, converts, data_tensor, typed_constant
from .creation import linspace_fill
from .errors import fail
from .shape_tensor import (
    ShapeValueError,
    assert_shape,
    shape_compare,
    as_shape_tensor,
    gather_dims,
    int64_constant,
    name_layer,
    pin_float32,
    shape_binary,
    shape_of,
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


def _source_scale(ctx: Any, in_f: "trt.ITensor", out_f: "trt.ITensor", scale: Optional[float],
                  name: str) -> "trt.ITensor":
    """aten's ``compute_scales_value<float>``: ``(float)(1 / scale)`` if given, else ``in / out``."""
    if scale is not None:
        return _f32(ctx, 1.0 / scale, name)
    return _ew(ctx, in_f, out_f, E.DIV, name)


def _nearest_axis(ctx: Any, x: "trt.ITensor", axis: int, out_size: "trt.ITensor", in_size: "trt.ITensor",
                  scale: Optional[float], name: str) -> "trt.ITensor":
    ramp = cast_to(ctx, linspace_fill(ctx, out_size, int64_constant(ctx, 0, name), int64_constant(ctx, 1, name), name),
                   trt.float32, name)
    in_f = _to1(ctx, cast_to(ctx, in_size, trt.float32, name), name)
    out_f = _to1(ctx, cast_to(ctx, out_size, trt.float32, name), name)
    factor = _source_scale(ctx, in_f, out_f, scale, name)
    source = cast_to(ctx, _unary(ctx, _ew(ctx, ramp, factor, E.PROD, name), U.FLOOR, name), trt.int64, name)
    index = shape_binary(ctx, "min", source, shape_binary(ctx, "sub", in_size, 1, name), name)
    return _gather(ctx, x, index, axis, name)


def _to1(ctx: Any, tensor: "trt.ITensor", name: str) -> "trt.ITensor":
    if len(tensor.shape) == 1:
        return tensor
    layer = ctx.net.add_shuffle(tensor)
    layer.reshape_dims = (1,)
    name_layer(layer, name, "to_1d")
    return layer.get_output(0)


def _bilinear_axis(ctx: Any, x: "trt.ITensor", axis: int, out_size: "trt.ITensor", in_size: "trt.ITensor",
                   scale: Optional[float], align_corners: bool, name: str) -> "trt.ITensor":
    rank = len(x.shape)
    ramp = cast_to(ctx, linspace_fill(ctx, out_size, int64_constant(ctx, 0, name), int64_constant(ctx, 1, name), name),
                   trt.float32, name)
    in_f = _to1(ctx, cast_to(ctx, in_size, trt.float32, name), name)
    out_f = _to1(ctx, cast_to(ctx, out_size, trt.float32, name), name)
    one, half, zero = _f32(ctx, 1.0, name), _f32(ctx, 0.5, name), _f32(ctx, 0.0, name)
    if align_corners:
        # (in - 1) / (out - 1), or 0 for a single output (every output reads index 0).
        span_in = _ew(ctx, in_f, one, E.SUB, name)
        span_out = _ew(ctx, out_f, one, E.SUB, name)
        single = _ew(ctx, span_out, zero, E.GREATER, name)
        safe_out = _ew(ctx, span_out, one, E.MAX, name)
        ratio = _ew(ctx, span_in, safe_out, E.DIV, name)
        select = ctx.net.add_select(single, ratio, zero)
        name_layer(select, name, "align_scale")
        source = _ew(ctx, ramp, select.get_output(0), E.PROD, name)
    else:
        factor = _source_scale(ctx, in_f, out_f, scale, name)
        shifted = _ew(ctx, _ew(ctx, _ew(ctx, ramp, half, E.SUM, name), factor, E.PROD, name), half, E.SUB, name)
        source = _ew(ctx, shifted, zero, E.MAX, name)
    floor = _unary(ctx, source, U.FLOOR, name)
    last = shape_binary(ctx, "sub", in_size, 1, name)
    low = shape_binary(ctx, "min", cast_to(ctx, floor, trt.int64, name), last, name)
    high = shape_binary(ctx, "min", shape_binary(ctx, "add", low, 1, name), last, name)
    upper_weight = _ew(ctx, _ew(ctx, _ew(ctx, source, cast_to(ctx, low, trt.float32, name), E.SUB, name),
                                zero, E.MAX, name), one, E.MIN, name)
    lower_weight = _ew(ctx, one, upper_weight, E.SUB, name)
    near = _ew(ctx, _gather(ctx, x, low, axis, name), _along(ctx, lower_weight, axis, rank, name), E.PROD, name)
    far = _ew(ctx, _gather(ctx, x, high, axis, name), _along(ctx, upper_weight, axis, rank, name), E.PROD, name)
    return _ew(ctx, near, far, E.SUM, name)


@converts("interpolate_dyn")
def convert_interpolate_dyn(ctx: Any, target: Any, args: Any, kwargs: Any, name: str) -> "trt.ITensor":
    """``interpolate_dyn(self, size, mode, align_corners, scales)`` -> per-axis gathers (see module doc)."""
    x = data_tensor(ctx, arg(args, kwargs, 0, "self"), name)
    try:
        size = as_shape_tensor(ctx, arg(args, kwargs, 1, "size"), f"{name}/size")
    except ShapeValueError as err:
        raise fail(ctx, target, name, str(err)) from err
    mode = arg(args, kwargs, 2, "mode", "nearest")
    align_corners = bool(arg(args, kwargs, 3, "align_corners", False))
    scales: Optional[List[float]] = arg(args, kwargs, 4, "scales", None)
    rank = len(x.shape)
    spatial = size.shape[0]
    if mode not in ("nearest", "bilinear"):
        raise fail(ctx, target, name, f"mode '{mode}' is not implemented (nearest, bilinear)")
    if spatial < 1 or rank != spatial + 2 or (mode == "bilinear" and spatial != 2) or spatial > 3:
        raise fail(ctx, target, name, f"{mode} on a rank-{rank} input with a size of length {spatial}")
    if scales is not None and len(scales) != spatial:
        raise fail(ctx, target, name, f"scales {scales} must have {spatial} entries")
    if x.dtype not in (trt.float32, trt.float16, trt.bfloat16) and mode == "bilinear":
        raise fail(ctx, target, name, f"bilinear needs a floating input, got {x.dtype}")
    assert_shape(ctx, shape_compare(ctx, "gt", size, 0, name), "interpolate: output sizes must be positive", name)
    original = x.dtype
    if mode == "bilinear":
        x = cast_to(ctx, x, trt.float32, name)
    in_shape = shape_of(ctx, x, name)
    for position in range(spatial):
        axis = 2 + position
        out_size = gather_dims(ctx, size, position, name)
        in_size = gather_dims(ctx, in_shape, axis, name)
        scale = None if scales is None or scales[position] is None else float(scales[position])
        if scale is not None and scale <= 0:
            raise fail(ctx, target, name, f"scale {scale} must be positive")
        if mode == "nearest":
            x = _nearest_axis(ctx, x, axis, out_size, in_size, scale, f"{name}/axis{axis}")
        else:
            x = _bilinear_axis(ctx, x, axis, out_size, in_size, scale, align_corners, f"{name}/axis{axis}")
    return cast_to(ctx, x, original, name)
