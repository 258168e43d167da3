"""Converters for factories with runtime sizes (``trt_dyn.ops.creation``).

``full``-like ops broadcast a one-element constant to the shape tensor with a stride-0
``ISliceLayer`` (any dtype, bool included); ``arange``/``linspace`` are ``IFillLayer`` LINSPACE
with runtime start/step inputs. Output dtypes are read from the node's traced value, i.e. the op's
own dtype inference (``torch.full`` rules, default dtype, ``self.dtype`` for ``new_*``).
"""

from __future__ import annotations

from typing import Any

import torch

from .._trt import trt
from .common import arg, cast_to, converts, host_int, output_dtype, trt_dtype, typed_constant
from .errors import fail
from .shape_tensor import (
    assert_differs,
    ceildiv,
    assert_compare,
    as_shape_tensor,
    cast_int64,
    host_read,
    int64_constant,
    name_layer,
    pin_float32,
    shape_binary,
    to_1d,
    to_scalar,
)

E = trt.ElementWiseOperation


def filled(ctx: Any, shape: "trt.ITensor", value: Any, dtype: "trt.DataType", name: str) -> "trt.ITensor":
    """A tensor of runtime ``shape`` (1-d int64, static length) holding ``value`` everywhere."""
    return broadcast_one(ctx, typed_constant(ctx, value, dtype, name, rank=shape.shape[0]), shape, name)


def broadcast_one(ctx: Any, one: "trt.ITensor", shape: "trt.ITensor", name: str) -> "trt.ITensor":
    """``one`` (one element, rank = the length of ``shape``) repeated to the runtime ``shape``."""
    rank = shape.shape[0]
    if rank == 0:
        return one
    layer = ctx.net.add_slice(one, [0] * rank, [1] * rank, [0] * rank)
    layer.set_input(2, shape)
    name_layer(layer, name, "fill")
    return layer.get_output(0)


def _full(ctx: Any, target: Any, name: str, shape_value: Any, fill_value: Any) -> "trt.ITensor":
    shape = as_shape_tensor(ctx, shape_value, f"{name}/shape")
    if shape.shape[0] < 0:
        raise fail(ctx, target, name, "the shape tensor must have a static length")
    dtype = output_dtype(ctx, target, name)
    if isinstance(fill_value, complex):
        raise fail(ctx, target, name, "complex fill values are not supported by TensorRT")
    if shape.shape[0] > 0:
        assert_compare(ctx, "gt", shape, -1, f"{target}: negative size", name)
    return filled(ctx, shape, fill_value, trt_dtype(ctx, target, name, dtype), name)


@converts("full_dyn")
def convert_full_dyn(ctx: Any, target: Any, args: Any, kwargs: Any, name: str) -> "trt.ITensor":
    """``full_dyn(shape, fill_value, dtype, device)`` -> broadcast constant."""
    return _full(ctx, target, name, arg(args, kwargs, 0, "shape"), arg(args, kwargs, 1, "fill_value"))


@converts("full_value_dyn")
def convert_full_value_dyn(ctx: Any, target: Any, args: Any, kwargs: Any, name: str) -> "trt.ITensor":
    """``full_value_dyn(shape, fill_value, dtype, device)`` -> the 0-d fill, cast, broadcast to ``shape``."""
    fill = _number(ctx, target, name, arg(args, kwargs, 1, "fill_value"), "fill_value")
    shape = as_shape_tensor(ctx, arg(args, kwargs, 0, "shape"), f"{name}/shape")
    dtype = trt_dtype(ctx, target, name, output_dtype(ctx, target, name))
    fill = cast_to(ctx, fill, dtype, name)
    if shape.shape[0] > 0:
        assert_compare(ctx, "gt", shape, -1, f"{target}: negative size", name)
        reshape = ctx.net.add_shuffle(fill)
        reshape.reshape_dims = (1,) * shape.shape[0]
        name_layer(reshape, name, "fill_rank")
        fill = reshape.get_output(0)
    return broadcast_one(ctx, fill, shape, name)


@converts("zeros_dyn")
def convert_zeros_dyn(ctx: Any, target: Any, args: Any, kwargs: Any, name: str) -> "trt.ITensor":
    """``zeros_dyn(shape, dtype, device)`` -> broadcast 0."""
    return _full(ctx, target, name, arg(args, kwargs, 0, "shape"), 0)


@converts("ones_dyn")
def convert_ones_dyn(ctx: Any, target: Any, args: Any, kwargs: Any, name: str) -> "trt.ITensor":
    """``ones_dyn(shape, dtype, device)`` -> broadcast 1."""
    return _full(ctx, target, name, arg(args, kwargs, 0, "shape"), 1)


@converts("new_full_dyn")
def convert_new_full_dyn(ctx: Any, target: Any, args: Any, kwargs: Any, name: str) -> "trt.ITensor":
    """``new_full_dyn(self, shape, fill_value, dtype)`` -> broadcast constant (dtype of self by default)."""
    return _full(ctx, target, name, arg(args, kwargs, 1, "shape"), arg(args, kwargs, 2, "fill_value"))


@converts("new_zeros_dyn")
def convert_new_zeros_dyn(ctx: Any, target: Any, args: Any, kwargs: Any, name: str) -> "trt.ITensor":
    """``new_zeros_dyn(self, shape, dtype)`` -> broadcast 0."""
    return _full(ctx, target, name, arg(args, kwargs, 1, "shape"), 0)


@converts("new_ones_dyn")
def convert_new_ones_dyn(ctx: Any, target: Any, args: Any, kwargs: Any, name: str) -> "trt.ITensor":
    """``new_ones_dyn(self, shape, dtype)`` -> broadcast 1."""
    return _full(ctx, target, name, arg(args, kwargs, 1, "shape"), 1)


def _number(ctx: Any, target: Any, name: str, value: Any, what: str) -> "trt.ITensor":
    """A 0-d int64 or float32 ITensor from a 0-d shape value (ITensor or frozen constant)."""
    if isinstance(value, torch.Tensor):
        if value.dim() != 0:
            raise fail(ctx, target, name, f"'{what}' must be 0-d, got shape {tuple(value.shape)}")
        if value.dtype.is_floating_point:
            return typed_constant(ctx, host_read(value, float), trt.float32, f"{name}/{what}")
        return int64_constant(ctx, host_read(value, int), f"{name}/{what}")
    if not isinstance(value, trt.ITensor):
        raise fail(ctx, target, name, f"'{what}' must be a 0-d shape tensor, got {type(value).__name__}")
    if value.dtype in (trt.float32, trt.float16, trt.bfloat16):
        return to_scalar(ctx, cast_to(ctx, value, trt.float32, name), name)
    return to_scalar(ctx, cast_int64(ctx, value, f"{name}/{what}"), f"{name}/{what}")


def _elementwise(ctx: Any, a: "trt.ITensor", b: "trt.ITensor", op: Any, name: str) -> "trt.ITensor":
    layer = ctx.net.add_elementwise(a, b, op)
    name_layer(layer, name, str(op).split(".")[-1].lower())
    return pin_float32(ctx, layer).get_output(0)


def linspace_fill(ctx: Any, length: "trt.ITensor", start: "trt.ITensor", step: Any,
                  name: str) -> "trt.ITensor":
    """``start + i * step`` for ``i < length`` (0-d int64 length; start/step 0-d of one dtype, or an int step with an
    int64 start)."""
    layer = ctx.net.add_fill((1,), trt.FillOperation.LINSPACE, start.dtype)
    layer.set_input(0, to_1d(ctx, length, name))
    layer.set_input(1, start)
    layer.set_input(2, int64_constant(ctx, [step], name) if isinstance(step, int) else to_1d(ctx, step, name))
    name_layer(layer, name, "linspace")
    return pin_float32(ctx, layer).get_output(0)


@converts("arange_dyn")
def convert_arange_dyn(ctx: Any, target: Any, args: Any, kwargs: Any, name: str) -> "trt.ITensor":
    """``arange_dyn(start, end, step, dtype, device)`` -> LINSPACE fill of length
    ``max(ceil((end - start) / step), 0)`` (exact integer arithmetic when all three are integers)."""
    start, end = (_number(ctx, target, name, arg(args, kwargs, i, key), key) for i, key in enumerate(("start", "end")))
    raw_step = arg(args, kwargs, 2, "step")
    dtype = trt_dtype(ctx, target, name, output_dtype(ctx, target, name))
    if isinstance(raw_step, torch.Tensor) and host_read(raw_step, float) == 0:
        raise fail(ctx, target, name, "step must be non-zero")
    # a known integer step stays an int: the arithmetic folds it (a step of 1 divides nothing) and the fill reads it
    # as its own [1] constant, so no 0-d constant of it is built to be left unread
    known_step = host_int(raw_step)
    step = known_step if known_step is not None else _number(ctx, target, name, raw_step, "step")
    if start.dtype == trt.int64 and end.dtype == trt.int64 and (known_step is not None or step.dtype == trt.int64):
        span = shape_binary(ctx, "sub", end, start, name)
        assert_differs(ctx, step, 0, "arange: step is zero", name)
        length = ceildiv(ctx, span, step, name)
        # torch.arange rejects bounds that disagree with the step's sign (it never returns empty then).
        assert_compare(ctx, "gt", length, -1,
                       "arange: upper bound and lower bound inconsistent with step sign", name)
        return cast_to(ctx, linspace_fill(ctx, length, start, step, name), dtype, name)
    if known_step is not None:
        step = _number(ctx, target, name, raw_step, "step")
    start, end, step = (cast_to(ctx, t, trt.float32, name) for t in (start, end, step))
    count = _elementwise(ctx, _elementwise(ctx, end, start, E.SUB, name), step, E.DIV, name)
    ceil = ctx.net.add_unary(count, trt.UnaryOperation.CEIL)
    name_layer(ceil, name, "ceil")
    pin_float32(ctx, ceil)
    length = shape_binary(ctx, "max", cast_to(ctx, ceil.get_output(0), trt.int64, name), 0, name)
    return cast_to(ctx, linspace_fill(ctx, length, start, step, name), dtype, name)


@converts("linspace_dyn")
def convert_linspace_dyn(ctx: Any, target: Any, args: Any, kwargs: Any, name: str) -> "trt.ITensor":
    """``linspace_dyn(start, end, steps, dtype, device)`` -> LINSPACE fill with step
    ``(end - start) / max(steps - 1, 1)`` in float32 (floating output dtypes only)."""
    dtype = output_dtype(ctx, target, name)
    if not dtype.is_floating_point:
        raise fail(ctx, target, name, f"integer output dtype {dtype} is not implemented (float dtypes only)")
    start = cast_to(ctx, _number(ctx, target, name, arg(args, kwargs, 0, "start"), "start"), trt.float32, name)
    end = cast_to(ctx, _number(ctx, target, name, arg(args, kwargs, 1, "end"), "end"), trt.float32, name)
    steps = _number(ctx, target, name, arg(args, kwargs, 2, "steps"), "steps")
    if steps.dtype != trt.int64:
        raise fail(ctx, target, name, "'steps' must be an integer shape value")
    assert_compare(ctx, "gt", steps, -1, "linspace: number of steps must be non-negative", name)
    intervals = cast_to(ctx, shape_binary(ctx, "max", shape_binary(ctx, "sub", steps, 1, name), 1, name),
                        trt.float32, name)
    step = _elementwise(ctx, _elementwise(ctx, end, start, E.SUB, name), intervals, E.DIV, name)
    values = linspace_fill(ctx, steps, start, step, name)
    return cast_to(ctx, values, trt_dtype(ctx, target, name, dtype), name)
