"""Converters for shape arithmetic (``trt_dyn.ops.arith``): int64 / float32 elementwise on sizes.

Operands are 0-d or 1-d; a 0-d operand against a 1-d one is lifted to ``[1]`` so TensorRT
broadcasts it like PyTorch. Integer results keep Python semantics: floor division and modulo
round toward -inf (``FLOOR_DIV`` on both flavours), ceil division is ``-((-a) // b)``.
"""

from __future__ import annotations

import functools
from typing import Any, Tuple

import torch

from .._hooks import converting_node
from .._trt import trt
from .common import arg, cast_to, converts, data_tensor, typed_constant
from .errors import fail
from .shape_tensor import assert_differs, host_read, int64_constant, name_layer, pin_float32, shape_binary, to_1d, to_scalar

E = trt.ElementWiseOperation


def _traced_rank(ctx: Any, result: "trt.ITensor", name: str) -> "trt.ITensor":
    """Give ``result`` the rank the node was traced with.

    A size that crosses from a PyTorch segment into an engine arrives as a ``[1]`` tensor where
    the graph has a 0-d one; PyTorch broadcasting then still yields 0-d, so the output is
    reshaped back to 0-d rather than leaking a ``[1]``.
    """
    node = converting_node(ctx)
    value = node.meta.get("val") if node is not None else None
    if isinstance(value, torch.Tensor) and value.dim() == 0 and len(result.shape) == 1:
        return to_scalar(ctx, result, name)
    return result


def _shape_op(op_name: str):
    """Register an arith converter; its result takes the node's traced rank (see _traced_rank)."""

    def register(fn):
        @functools.wraps(fn)
        def convert(ctx: Any, target: Any, args: Any, kwargs: Any, name: str) -> "trt.ITensor":
            return _traced_rank(ctx, fn(ctx, target, args, kwargs, name), name)

        return converts(op_name)(convert)

    return register


def _operand(ctx: Any, target: Any, name: str, value: Any, which: str) -> "trt.ITensor":
    """An operand as an int64 or float32 ITensor of rank 0 or 1."""
    if isinstance(value, torch.Tensor):
        if value.dim() > 1:
            raise fail(ctx, target, name, f"operand '{which}' must be 0-d or 1-d, got {tuple(value.shape)}")
        if not value.dtype.is_floating_point:
            # shape_tensor's constant: one per value on the network, and its value known to the arithmetic
            return int64_constant(ctx, host_read(value, lambda v: v.to(torch.int64).tolist()), name)
        return data_tensor(ctx, value.to(torch.float32), name)
    if not isinstance(value, trt.ITensor):
        raise fail(ctx, target, name, f"operand '{which}' must be a shape tensor, got {type(value).__name__}")
    if len(value.shape) > 1:
        raise fail(ctx, target, name, f"operand '{which}' must be 0-d or 1-d, got {tuple(value.shape)}")
    if value.dtype in (trt.int32, trt.int8):
        return cast_to(ctx, value, trt.int64, name)
    if value.dtype in (trt.float16, trt.bfloat16):
        return cast_to(ctx, value, trt.float32, name)
    if value.dtype not in (trt.int64, trt.float32):
        raise fail(ctx, target, name, f"operand '{which}' has unsupported dtype {value.dtype}")
    return value


def _operands(ctx: Any, target: Any, args: Any, kwargs: Any, name: str,
              force_float: bool = False) -> Tuple["trt.ITensor", "trt.ITensor"]:
    a = _operand(ctx, target, name, arg(args, kwargs, 0, "a"), "a")
    b = _operand(ctx, target, name, arg(args, kwargs, 1, "b"), "b")
    if force_float or a.dtype == trt.float32 or b.dtype == trt.float32:
        a, b = cast_to(ctx, a, trt.float32, name), cast_to(ctx, b, trt.float32, name)
    if len(a.shape) != len(b.shape):
        a, b = to_1d(ctx, a, name), to_1d(ctx, b, name)
    return a, b


def _check_divisor(ctx: Any, target: Any, name: str, divisor: Any, divides: bool) -> None:
    """Eager raises ZeroDivisionError: a constant zero divisor is refused at build, a runtime integer
    divisor gets an assertion (shapes making it zero are refused by TensorRT)."""
    if not divides:
        return
    if isinstance(divisor, torch.Tensor) and host_read(divisor, lambda d: bool((d == 0).any())):
        raise fail(ctx, target, name, "division by a constant zero")
    if isinstance(divisor, trt.ITensor) and divisor.dtype in (trt.int64, trt.int32):
        assert_differs(ctx, cast_to(ctx, divisor, trt.int64, name), 0, f"{target}: integer division by zero", name)


def _binary(ctx: Any, a: "trt.ITensor", b: "trt.ITensor", op: Any, name: str, what: str) -> "trt.ITensor":
    if op in _SHAPE_OPS and _integer(a, b):
        return shape_binary(ctx, _SHAPE_OPS[op], a, b, name)
    layer = ctx.net.add_elementwise(a, b, op)
    name_layer(layer, name, what)
    return pin_float32(ctx, layer).get_output(0)


def _zero_like(ctx: Any, tensor: "trt.ITensor", name: str) -> "trt.ITensor":
    return typed_constant(ctx, 0, tensor.dtype, name, rank=len(tensor.shape))


def _floordiv(ctx: Any, a: "trt.ITensor", b: "trt.ITensor", name: str) -> "trt.ITensor":
    if a.dtype == trt.float32:
        quotient = _binary(ctx, a, b, E.DIV, name, "div")
        return _unary(ctx, quotient, trt.UnaryOperation.FLOOR, name)
    return _binary(ctx, a, b, E.FLOOR_DIV, name, "floordiv")


def _unary(ctx: Any, a: "trt.ITensor", op: Any, name: str) -> "trt.ITensor":
    layer = ctx.net.add_unary(a, op)
    name_layer(layer, name, str(op).split(".")[-1].lower())
    return pin_float32(ctx, layer).get_output(0)


_SHAPE_OPS = {E.SUM: "add", E.SUB: "sub", E.PROD: "mul", E.MIN: "min", E.MAX: "max", E.FLOOR_DIV: "floordiv"}


def _integer(a: "trt.ITensor", b: "trt.ITensor") -> bool:
    """int64 sizes: shape_tensor's arithmetic (the same int64 layer, or none when the result is known while
    building) computes them, and keeps their bounds for later checks."""
    return a.dtype == trt.int64 and b.dtype == trt.int64


def _simple(op_name: str, op: Any, divides: bool = False):
    @_shape_op(op_name)
    def convert(ctx: Any, target: Any, args: Any, kwargs: Any, name: str) -> "trt.ITensor":
        if divides:
            _check_divisor(ctx, target, name, arg(args, kwargs, 1, "b"), True)
        a, b = _operands(ctx, target, args, kwargs, name)
        return _binary(ctx, a, b, op, name, op_name)

    convert.__name__ = f"convert_{op_name}"
    convert.__doc__ = f"``{op_name}(a, b)`` -> one elementwise layer ({op})."
    return convert


convert_add_dyn = _simple("add_dyn", E.SUM)
convert_sub_dyn = _simple("sub_dyn", E.SUB)
convert_mul_dyn = _simple("mul_dyn", E.PROD)
convert_min_dyn = _simple("min_dyn", E.MIN)
convert_max_dyn = _simple("max_dyn", E.MAX)


@_shape_op("floordiv_dyn")
def convert_floordiv_dyn(ctx: Any, target: Any, args: Any, kwargs: Any, name: str) -> "trt.ITensor":
    """``floordiv_dyn(a, b)`` -> Python ``a // b`` (ints: FLOOR_DIV; floats: floor(a / b))."""
    _check_divisor(ctx, target, name, arg(args, kwargs, 1, "b"), True)
    a, b = _operands(ctx, target, args, kwargs, name)
    return _floordiv(ctx, a, b, name)


@_shape_op("ceildiv_dyn")
def convert_ceildiv_dyn(ctx: Any, target: Any, args: Any, kwargs: Any, name: str) -> "trt.ITensor":
    """``ceildiv_dyn(a, b)`` -> ``-((-a) // b)``."""
    _check_divisor(ctx, target, name, arg(args, kwargs, 1, "b"), True)
    a, b = _operands(ctx, target, args, kwargs, name)
    negated = _binary(ctx, _zero_like(ctx, a, name), a, E.SUB, name, "neg")
    quotient = _floordiv(ctx, negated, b, name)
    return _binary(ctx, _zero_like(ctx, quotient, name), quotient, E.SUB, name, "neg")


@_shape_op("mod_dyn")
def convert_mod_dyn(ctx: Any, target: Any, args: Any, kwargs: Any, name: str) -> "trt.ITensor":
    """``mod_dyn(a, b)`` -> Python ``a % b`` = ``a - (a // b) * b`` (sign of ``b``)."""
    _check_divisor(ctx, target, name, arg(args, kwargs, 1, "b"), True)
    a, b = _operands(ctx, target, args, kwargs, name)
    quotient = _floordiv(ctx, a, b, name)
    return _binary(ctx, a, _binary(ctx, quotient, b, E.PROD, name, "mul"), E.SUB, name, "sub")


@_shape_op("truediv_dyn")
def convert_truediv_dyn(ctx: Any, target: Any, args: Any, kwargs: Any, name: str) -> "trt.ITensor":
    """``truediv_dyn(a, b)`` -> ``a / b`` in float32."""
    _check_divisor(ctx, target, name, arg(args, kwargs, 1, "b"), True)
    a, b = _operands(ctx, target, args, kwargs, name, force_float=True)
    return _binary(ctx, a, b, E.DIV, name, "truediv")


def _single(ctx: Any, target: Any, args: Any, kwargs: Any, name: str) -> "trt.ITensor":
    return _operand(ctx, target, name, arg(args, kwargs, 0, "a"), "a")


@_shape_op("neg_dyn")
def convert_neg_dyn(ctx: Any, target: Any, args: Any, kwargs: Any, name: str) -> "trt.ITensor":
    """``neg_dyn(a)`` -> ``0 - a`` (same dtype)."""
    a = _single(ctx, target, args, kwargs, name)
    return _binary(ctx, _zero_like(ctx, a, name), a, E.SUB, name, "neg")


@_shape_op("float_dyn")
def convert_float_dyn(ctx: Any, target: Any, args: Any, kwargs: Any, name: str) -> "trt.ITensor":
    """``float_dyn(a)`` -> ``a`` as float32."""
    return cast_to(ctx, _single(ctx, target, args, kwargs, name), trt.float32, name)


def _round_to_int(ctx: Any, target: Any, args: Any, kwargs: Any, name: str, mode: str) -> "trt.ITensor":
    a = _single(ctx, target, args, kwargs, name)
    if a.dtype == trt.int64:
        return a
    if mode == "trunc":
        # Round toward zero: floor for non-negative values, ceil for negative ones.
        floor = _unary(ctx, a, trt.UnaryOperation.FLOOR, name)
        ceil = _unary(ctx, a, trt.UnaryOperation.CEIL, name)
        negative = _binary(ctx, a, _zero_like(ctx, a, name), E.LESS, name, "is_negative")
        layer = ctx.net.add_select(negative, ceil, floor)
        name_layer(layer, name, "trunc")
        rounded = layer.get_output(0)
    else:
        rounded = _unary(ctx, a, trt.UnaryOperation.CEIL if mode == "ceil" else trt.UnaryOperation.FLOOR, name)
    # An integral float32 converts to int64 exactly, whatever the cast's rounding rule.
    return cast_to(ctx, rounded, trt.int64, name)


@_shape_op("int_dyn")
def convert_int_dyn(ctx: Any, target: Any, args: Any, kwargs: Any, name: str) -> "trt.ITensor":
    """``int_dyn(a)`` -> ``a`` truncated toward zero, int64."""
    return _round_to_int(ctx, target, args, kwargs, name, "trunc")


@_shape_op("ceil_dyn")
def convert_ceil_dyn(ctx: Any, target: Any, args: Any, kwargs: Any, name: str) -> "trt.ITensor":
    """``ceil_dyn(a)`` -> ``ceil(a)`` as int64 (identity on ints)."""
    return _round_to_int(ctx, target, args, kwargs, name, "ceil")


@_shape_op("floor_dyn")
def convert_floor_dyn(ctx: Any, target: Any, args: Any, kwargs: Any, name: str) -> "trt.ITensor":
    """``floor_dyn(a)`` -> ``floor(a)`` as int64 (identity on ints)."""
    return _round_to_int(ctx, target, args, kwargs, name, "floor")
