"""Converters for the shape producers of ``trt_dyn.ops.shape``: size/sym_size/numel, const, shape_cat.

Shapes are read with ``IShapeLayer`` (int64) and stay shape tensors; nothing is unwrapped to ints.
"""

from __future__ import annotations

from typing import Any

import torch

from .._hooks import converting_node
from .._trt import trt
from .common import arg, converts, data_tensor, typed_constant
from .errors import fail
from .shape_tensor import (
    host_tensor,
    as_shape_tensor,
    cast_int64,
    dim_of,
    int64_constant,
    shape_binary,
    shape_items,
    shape_of,
    to_scalar,
)


@converts("size_dyn")
def convert_size_dyn(ctx: Any, target: Any, args: Any, kwargs: Any, name: str) -> "trt.ITensor":
    """``size_dyn(self)`` -> the 1-d int64 shape of ``self``."""
    return shape_of(ctx, data_tensor(ctx, arg(args, kwargs, 0, "self"), name), name)


@converts("sym_size_dyn")
def convert_sym_size_dyn(ctx: Any, target: Any, args: Any, kwargs: Any, name: str) -> "trt.ITensor":
    """``sym_size_dyn(self, dim)`` -> ``self.size(dim)`` as a 0-d int64."""
    tensor = data_tensor(ctx, arg(args, kwargs, 0, "self"), name)
    dim = arg(args, kwargs, 1, "dim")
    return dim_of(ctx, tensor, dim, name)


@converts("sym_sizes_dyn")
def convert_sym_sizes_dyn(ctx: Any, target: Any, args: Any, kwargs: Any, name: str) -> "trt.ITensor":
    """``sym_sizes_dyn(self, dims)`` -> ``[self.size(d) for d in dims]`` as a 1-d int64 (see :func:`shape_items`)."""
    tensor = data_tensor(ctx, arg(args, kwargs, 0, "self"), name)
    return as_shape_tensor(ctx, shape_items(ctx, tensor, name, list(arg(args, kwargs, 1, "dims"))), name)


@converts("symint_dyn")
def convert_symint_dyn(ctx: Any, target: Any, args: Any, kwargs: Any, name: str) -> "trt.ITensor":
    """``symint_dyn(value)`` -> the engine's int64 shape input (declared ``[1]`` by torch_tensorrt) as a 0-d int64."""
    value = arg(args, kwargs, 0, "value")
    if not isinstance(value, trt.ITensor):
        raise fail(ctx, target, name, f"expected the int graph input as a shape input, got {value!r}")
    return to_scalar(ctx, cast_int64(ctx, value, name), name)


@converts("numel_dyn")
def convert_numel_dyn(ctx: Any, target: Any, args: Any, kwargs: Any, name: str) -> "trt.ITensor":
    """``numel_dyn(self)`` -> product of the dims as a 0-d int64 (1 for a 0-d tensor)."""
    tensor = data_tensor(ctx, arg(args, kwargs, 0, "self"), name)
    # A chain of products over the (statically known) rank: IReduceLayer on int64 is not
    # available on every TensorRT flavour.
    total: Any = 1
    for dim in range(len(tensor.shape)):
        size = dim_of(ctx, tensor, dim, name)
        total = size if isinstance(total, int) else shape_binary(ctx, "mul", total, size, name)
    if isinstance(total, int):
        return int64_constant(ctx, total, name)
    return total


@converts("const")
def convert_const(ctx: Any, target: Any, args: Any, kwargs: Any, name: str) -> "trt.ITensor":
    """``const(values)`` -> a 1-d int64 constant."""
    values = arg(args, kwargs, 0, "values")
    return int64_constant(ctx, [int(v) for v in values], name)


def _only_trt_dyn_users(ctx: Any) -> bool:
    """Whether every user of the node being converted is a trt_dyn op: those freeze a host value through
    shape_tensor's memo (one constant per value and shape on the network); torch_tensorrt's converters and the
    graph output would each freeze their own copy, so for them the one shared constant is built here."""
    node = converting_node(ctx)
    if node is None:
        return False
    return all(isinstance(user.target, torch._ops.OpOverload) and user.target.namespace == "trt_dyn"
               for user in node.users)


@converts("const_scalar")
def convert_const_scalar(ctx: Any, target: Any, args: Any, kwargs: Any, name: str) -> Any:
    """``const_scalar(value)`` -> a 0-d int64 host tensor for an int (frozen by its consumers), a 0-d float32
    constant for a float."""
    value = arg(args, kwargs, 0, "value")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise fail(ctx, target, name, f"expected an int or float, got {value!r}")
    if isinstance(value, int) and _only_trt_dyn_users(ctx):
        # a host value (as a get_attr constant is), frozen into a layer by the consumer that reads it, at the shape
        # it reads it: built here, it would stay unread wherever the consumer folds it (an arange step of 1, a
        # slice start of 0, x + 0) or reads it reshaped (a fresh [1] constant); consumers read it with host_read, which
        # also works inside the torch.compile backend's fake mode
        return host_tensor(value, torch.int64)
    if isinstance(value, int):
        return int64_constant(ctx, value, name)
    return typed_constant(ctx, value, trt.float32, name)


@converts("shape_cat_dyn")
def convert_shape_cat_dyn(ctx: Any, target: Any, args: Any, kwargs: Any, name: str) -> "trt.ITensor":
    """``shape_cat_dyn(parts)`` -> the 0-d/1-d parts concatenated into one 1-d int64 shape."""
    parts = list(arg(args, kwargs, 0, "parts"))
    return as_shape_tensor(ctx, parts, name)


__all__ = [
    "convert_const",
    "convert_const_scalar",
    "convert_numel_dyn",
    "convert_shape_cat_dyn",
    "convert_size_dyn",
    "convert_sym_size_dyn",
    "convert_sym_sizes_dyn",
]
