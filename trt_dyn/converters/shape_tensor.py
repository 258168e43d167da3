"""Shape tensors for converters: freeze Python ints and ITensors into one 1-d int64 ITensor.

Every ``trt_dyn::*_dyn`` op carries sizes as int64 tensors, so in a TensorRT network a shape is an
int64 *shape tensor*: computed at run time from ``IShapeLayer`` outputs, never unwrapped into Python
ints. The helpers here are the one place that decides how such tensors are made and combined.

Conventions (stable API, used by every converter in this package and by other engineers):

* A **shape** is a 1-d int64 ITensor (``[n]``). A **scalar size** is a 0-d int64 ITensor.
* ``value`` arguments accept, freely mixed: Python ``int`` / ``bool`` (not ``float``), ``torch.Tensor``
  or ``numpy`` integer arrays of rank 0 or 1 (frozen ``get_attr`` constants), and integer ITensors of
  rank 0 or 1 (int32 ITensors, e.g. from torch_tensorrt's ``sym_size`` converter, are cast to int64).
* ``name`` is the FX node name (plus a suffix); every layer added is named after it.

Both TensorRT flavours accept int64 shape tensors for ``IShuffleLayer`` reshape dims,
``ISliceLayer`` start/size/stride, ``IFillLayer`` dims, ``IResizeLayer`` output shape and
elementwise/gather/concatenation, which is all these helpers use.
"""

from __future__ import annotations

import itertools
from typing import Any, List, Optional, Sequence, Union

import numpy as np
import torch

from .._trt import trt

_layer_ids = itertools.count()

ShapeLike = Union[int, Sequence[Any], torch.Tensor, np.ndarray, "trt.ITensor"]

_INTEGER_TRT = (trt.int32, trt.int64, trt.int8) if hasattr(trt, "int8") else (trt.int32, trt.int64)


class ShapeValueError(TypeError):
    """A value cannot be used as a shape: wrong type, rank or dtype. Names the offending value."""


def name_layer(layer: "trt.ILayer", name: str, what: str) -> "trt.ILayer":
    """Give ``layer`` a unique, readable name: ``<node>/<what>#<n>``; returns the layer."""
    layer.name = f"{name}/{what}#{next(_layer_ids)}"
    return layer


def pin_float32(ctx: Any, layer: "trt.ILayer") -> "trt.ILayer":
    """Keep a float32 index/weight computation in float32 on weakly typed networks.

    Strongly typed networks (always the case on TensorRT-RTX) already compute in the declared
    types; a weakly typed one built with fp16 enabled could otherwise pick fp16 for coordinate
    arithmetic and read the wrong pixels.
    """
    flag = trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED
    if ctx.net.get_flag(flag):
        return layer
    for index in range(layer.num_outputs):
        if layer.get_output(index).dtype == trt.float32:
            layer.precision = trt.float32
            layer.set_output_type(index, trt.float32)
    return layer


def host_tensor(values: Any, dtype: torch.dtype, shape: Optional[Sequence[int]] = None) -> torch.Tensor:
    """``torch.tensor(values, dtype=dtype)`` (reshaped to ``shape``) with real data even inside a fake mode:
    torch_tensorrt's torch.compile backend converts with its FakeTensorMode active, and a constant layer needs
    the bytes."""
    from torch._subclasses.fake_tensor import unset_fake_temporarily

    with unset_fake_temporarily():
        tensor = torch.tensor(values, dtype=dtype)
        return tensor if shape is None else tensor.reshape(shape)


def int64_constant(ctx: Any, values: Union[int, Sequence[int]], name: str) -> "trt.ITensor":
    """An int64 constant: 0-d for a Python int, 1-d for a list (empty lists allowed)."""
    from torch_tensorrt.dynamo.conversion.converter_utils import create_constant

    array = host_tensor(values, torch.int64)
    return create_constant(
        ctx, array, f"{name}/const#{next(_layer_ids)}", torch.int64, min_rank=array.dim()
    )


def cast_int64(ctx: Any, tensor: "trt.ITensor", name: str) -> "trt.ITensor":
    """``tensor`` as int64 (a Cast layer only when needed); only integer tensors are accepted."""
    if tensor.dtype == trt.int64:
        return tensor
    if tensor.dtype not in _INTEGER_TRT:
        raise ShapeValueError(f"{name}: a shape value must be an integer tensor, got {tensor.dtype}")
    layer = ctx.net.add_cast(tensor, trt.int64)
    name_layer(layer, name, "cast_int64")
    return layer.get_output(0)


def to_1d(ctx: Any, tensor: "trt.ITensor", name: str) -> "trt.ITensor":
    """A 0-d ITensor reshaped to ``[1]``; 1-d tensors are returned unchanged."""
    rank = len(tensor.shape)
    if rank == 1:
        return tensor
    if rank != 0:
        raise ShapeValueError(f"{name}: expected a 0-d or 1-d shape value, got rank {rank}")
    layer = ctx.net.add_shuffle(tensor)
    layer.reshape_dims = (1,)
    name_layer(layer, name, "to_1d")
    return layer.get_output(0)


def to_scalar(ctx: Any, tensor: "trt.ITensor", name: str) -> "trt.ITensor":
    """A ``[1]`` ITensor reshaped to 0-d; 0-d tensors are returned unchanged."""
    rank = len(tensor.shape)
    if rank == 0:
        return tensor
    if rank != 1 or tensor.shape[0] not in (1, -1):
        raise ShapeValueError(f"{name}: expected one size, got a tensor of shape {tuple(tensor.shape)}")
    layer = ctx.net.add_shuffle(tensor)
    layer.reshape_dims = trt.Dims()
    name_layer(layer, name, "to_scalar")
    return layer.get_output(0)


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, float)


def _frozen_ints(value: Any, name: str) -> Optional[List[int]]:
    """Python ints for a constant value (list for rank 1, one-item list for rank 0), else None."""
    if _is_int(value):
        return [int(value)]
    if isinstance(value, (torch.Tensor, np.ndarray)):
        array = value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else value
        if array.dtype.kind not in "iub":
            raise ShapeValueError(f"{name}: shape constant must be integer, got {array.dtype}")
        if array.ndim > 1:
            raise ShapeValueError(f"{name}: shape constant must be 0-d or 1-d, got {array.shape}")
        return [int(v) for v in array.reshape(-1)]
    return None


def as_shape_tensor(ctx: Any, value: ShapeLike, name: str) -> "trt.ITensor":
    """Freeze ``value`` into one 1-d int64 shape ITensor (the RFC's ShapeTensorOrFreeze).

    ``value`` may be an int, an int list/tuple, a 0-d/1-d integer torch/numpy constant, a 0-d/1-d
    integer ITensor, or a list/tuple mixing all of these; list items are concatenated in order
    (a 1-d ITensor item contributes all its entries). Runs of Python ints become one constant.
    Floats, booleans-as-tensors of other rank, ``None`` and SymInts raise :class:`ShapeValueError`.
    """
    if isinstance(value, trt.ITensor):
        return to_1d(ctx, cast_int64(ctx, value, name), name)
    frozen = _frozen_ints(value, name)
    if frozen is not None:
        return int64_constant(ctx, frozen, name)
    if not isinstance(value, (list, tuple)):
        raise ShapeValueError(
            f"{name}: cannot use {type(value).__name__} {value!r} as a shape; expected ints, "
            "integer tensors or ITensors"
        )
    parts: List["trt.ITensor"] = []
    pending: List[int] = []
    for index, item in enumerate(value):
        if isinstance(item, trt.ITensor):
            if pending:
                parts.append(int64_constant(ctx, pending, name))
                pending = []
            parts.append(as_shape_tensor(ctx, item, f"{name}[{index}]"))
            continue
        if isinstance(item, (list, tuple)):
            raise ShapeValueError(f"{name}[{index}]: nested lists are not shapes")
        ints = _frozen_ints(item, f"{name}[{index}]")
        if ints is None:
            raise ShapeValueError(
                f"{name}[{index}]: cannot use {type(item).__name__} {item!r} in a shape; expected "
                "an int, an integer tensor or an ITensor"
            )
        pending.extend(ints)
    if pending or not parts:
        parts.append(int64_constant(ctx, pending, name))
    return concat_shapes(ctx, parts, name)


def as_scalar_tensor(ctx: Any, value: Any, name: str) -> "trt.ITensor":
    """One size as a 0-d int64 ITensor (from an int, a 0-d/[1] constant or ITensor)."""
    if isinstance(value, trt.ITensor):
        return to_scalar(ctx, cast_int64(ctx, value, name), name)
    frozen = _frozen_ints(value, name)
    if frozen is None or len(frozen) != 1:
        raise ShapeValueError(f"{name}: expected one integer size, got {value!r}")
    return int64_constant(ctx, frozen[0], name)


def concat_shapes(ctx: Any, parts: Sequence["trt.ITensor"], name: str) -> "trt.ITensor":
    """Concatenate 1-d int64 shape tensors along axis 0 (a single part is returned as is)."""
    parts = list(parts)
    if len(parts) == 1:
        return parts[0]
    layer = ctx.net.add_concatenation(parts)
    layer.axis = 0
    name_layer(layer, name, "concat_shape")
    return layer.get_output(0)


def shape_of(ctx: Any, tensor: "trt.ITensor", name: str) -> "trt.ITensor":
    """The run-time shape of ``tensor`` as a 1-d int64 ITensor (length = rank)."""
    layer = ctx.net.add_shape(tensor)
    name_layer(layer, name, "shape")
    return cast_int64(ctx, layer.get_output(0), name)


def gather_dims(
    ctx: Any, shape: "trt.ITensor", dims: Union[int, Sequence[int]], name: str
) -> "trt.ITensor":
    """Entries ``dims`` of a 1-d shape tensor: 0-d for an int, 1-d for a list of ints."""
    indices = int64_constant(ctx, dims if isinstance(dims, int) else list(dims), name)
    layer = ctx.net.add_gather(shape, indices, 0)
    name_layer(layer, name, "gather_dims")
    return layer.get_output(0)


def dim_of(ctx: Any, tensor: "trt.ITensor", dim: int, name: str) -> "trt.ITensor":
    """Size of dimension ``dim`` (negative counts from the end) of ``tensor`` as a 0-d int64."""
    rank = len(tensor.shape)
    if not -rank <= dim < rank:
        raise ShapeValueError(f"{name}: dim {dim} is out of range for rank {rank}")
    dim %= rank
    if tensor.shape[dim] >= 0:
        return int64_constant(ctx, int(tensor.shape[dim]), name)
    return gather_dims(ctx, shape_of(ctx, tensor, name), dim, name)


_BINARY = {
    "add": trt.ElementWiseOperation.SUM,
    "sub": trt.ElementWiseOperation.SUB,
    "mul": trt.ElementWiseOperation.PROD,
    "floordiv": trt.ElementWiseOperation.FLOOR_DIV,
    "max": trt.ElementWiseOperation.MAX,
    "min": trt.ElementWiseOperation.MIN,
}


def _freeze_pair(ctx: Any, a: Any, b: Any, name: str):
    """Both operands as int64 ITensors of equal rank (ints take the other operand's rank)."""

    def freeze(value: Any, other: Any) -> "trt.ITensor":
        if isinstance(value, trt.ITensor):
            return cast_int64(ctx, value, name)
        rank = len(other.shape) if isinstance(other, trt.ITensor) else 0
        if rank == 0:
            return as_scalar_tensor(ctx, value, name)
        return as_shape_tensor(ctx, value, name)

    left, right = freeze(a, b), freeze(b, a)
    if len(left.shape) != len(right.shape):
        # A 0-d against a 1-d operand: lift the scalar so TensorRT broadcasts it.
        left, right = to_1d(ctx, left, name), to_1d(ctx, right, name)
    return left, right


def shape_binary(ctx: Any, op: str, a: Any, b: Any, name: str) -> "trt.ITensor":
    """Elementwise int64 arithmetic (``add sub mul floordiv max min``) on sizes/shapes.

    ``a`` and ``b`` are ITensors or ints; ints are frozen at the rank of the other operand (0-d
    against a scalar, ``[1]`` broadcasting against a shape).
    """
    if op not in _BINARY:
        raise ValueError(f"{name}: unknown shape operation {op!r}; one of {sorted(_BINARY)}")

    left, right = _freeze_pair(ctx, a, b, name)
    layer = ctx.net.add_elementwise(left, right, _BINARY[op])
    name_layer(layer, name, op)
    return layer.get_output(0)


_COMPARE = {
    "lt": trt.ElementWiseOperation.LESS,
    "gt": trt.ElementWiseOperation.GREATER,
    "eq": trt.ElementWiseOperation.EQUAL,
}


def shape_compare(ctx: Any, op: str, a: Any, b: Any, name: str) -> "trt.ITensor":
    """Elementwise comparison (``lt gt eq``) of sizes/shapes; a bool ITensor (ints frozen as in
    :func:`shape_binary`)."""
    left, right = _freeze_pair(ctx, a, b, name)
    layer = ctx.net.add_elementwise(left, right, _COMPARE[op])
    name_layer(layer, name, op)
    return layer.get_output(0)


def shape_where(ctx: Any, condition: "trt.ITensor", a: Any, b: Any, name: str) -> "trt.ITensor":
    """``a`` where ``condition`` else ``b`` for int64 sizes/shapes (``ISelectLayer``)."""
    left, right = _freeze_pair(ctx, a, b, name)
    if len(condition.shape) != len(left.shape):
        condition, left, right = (to_1d(ctx, t, name) for t in (condition, left, right))
    layer = ctx.net.add_select(condition, left, right)
    name_layer(layer, name, "where")
    return layer.get_output(0)


def shape_clamp(ctx: Any, value: Any, low: Any, high: Any, name: str) -> "trt.ITensor":
    """``min(max(value, low), high)`` on int64 sizes/shapes."""
    return shape_binary(ctx, "min", shape_binary(ctx, "max", value, low, name), high, name)


def _fold_logical(ctx: Any, conditions: Sequence["trt.ITensor"], operation: Any, label: str,
                  name: str) -> "trt.ITensor":
    result = conditions[0]
    for other in conditions[1:]:
        if len(other.shape) != len(result.shape):
            result, other = to_1d(ctx, result, name), to_1d(ctx, other, name)
        layer = ctx.net.add_elementwise(result, other, operation)
        name_layer(layer, name, label)
        result = layer.get_output(0)
    return result


def shape_all(ctx: Any, conditions: Sequence["trt.ITensor"], name: str) -> "trt.ITensor":
    """Logical AND of bool conditions (equal ranks, or 0-d against 1-d)."""
    return _fold_logical(ctx, conditions, trt.ElementWiseOperation.AND, "and", name)


def shape_or(ctx: Any, conditions: Sequence["trt.ITensor"], name: str) -> "trt.ITensor":
    """Logical OR of bool conditions (equal ranks, or 0-d against 1-d)."""
    return _fold_logical(ctx, conditions, trt.ElementWiseOperation.OR, "or", name)


def shape_not(ctx: Any, condition: "trt.ITensor", name: str) -> "trt.ITensor":
    layer = ctx.net.add_unary(condition, trt.UnaryOperation.NOT)
    name_layer(layer, name, "not")
    return layer.get_output(0)


def assert_shape(ctx: Any, condition: "trt.ITensor", message: str, name: str) -> None:
    """Make TensorRT refuse input shapes for which the bool shape tensor ``condition`` is false.

    TensorRT evaluates assertions when input shapes are set (before any kernel runs), so a size
    PyTorch would reject (an index out of range, a division by zero) is an error, never a
    silently wrong result. ``condition`` must be computed from shapes only.
    """
    layer = ctx.net.add_assertion(condition, f"{name}: {message}")
    name_layer(layer, name, "assert")


def python_floordiv(ctx: Any, a: Any, b: Any, name: str) -> "trt.ITensor":
    """Python ``a // b`` on int64 sizes (rounds toward -inf, whatever the signs)."""
    return shape_binary(ctx, "floordiv", a, b, name)


def ceildiv(ctx: Any, a: Any, b: Any, name: str) -> "trt.ITensor":
    """``-((-a) // b)``: exact integer ``ceil(a / b)``."""
    negated = shape_binary(ctx, "sub", 0, a, name)
    return shape_binary(ctx, "sub", 0, python_floordiv(ctx, negated, b, name), name)


def python_mod(ctx: Any, a: Any, b: Any, name: str) -> "trt.ITensor":
    """Python ``a % b`` on int64 sizes (result takes the sign of ``b``)."""
    quotient = python_floordiv(ctx, a, b, name)
    return shape_binary(ctx, "sub", a, shape_binary(ctx, "mul", quotient, b, name), name)


__all__ = [
    "ShapeValueError",
    "pin_float32",
    "assert_shape",
    "shape_all",
    "shape_not",
    "shape_or",
    "ceildiv",
    "python_floordiv",
    "python_mod",
    "shape_clamp",
    "shape_compare",
    "shape_where",
    "as_shape_tensor",
    "as_scalar_tensor",
    "cast_int64",
    "concat_shapes",
    "dim_of",
    "gather_dims",
    "int64_constant",
    "name_layer",
    "shape_binary",
    "shape_of",
    "to_1d",
    "to_scalar",
]
