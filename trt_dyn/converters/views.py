"""Converters for view-like ops with a runtime target shape (``trt_dyn.ops.views``).

reshape/unflatten are one ``IShuffleLayer`` fed the shape tensor (``zero_is_placeholder`` off:
a 0 means an empty dim, as in PyTorch); expand is a stride-0 ``ISliceLayer``; repeat is a
``WRAP``-mode slice; select is an ``IGatherLayer`` with a 0-d index.
"""

from __future__ import annotations

from typing import Any

from .._trt import trt
from .common import arg, converts, data_tensor, shape_arg
from .errors import fail
from .shape_tensor import (
    ShapeValueError,
    assert_compare,
    assert_shape,
    shape_all,
    shape_not,
    shape_or,
    as_scalar_tensor,
    as_shape_tensor,
    concat_shapes,
    dim_of,
    gather_dims,
    int64_constant,
    name_layer,
    shape_binary,
    shape_compare,
    shape_decided,
    shape_items,
    shape_of,
    shape_where,
)


def reshape_to(ctx: Any, tensor: "trt.ITensor", shape: "trt.ITensor", name: str) -> "trt.ITensor":
    """``tensor.reshape(shape)`` for a 1-d int64 shape tensor (one -1 allowed, 0 is a real 0)."""
    layer = ctx.net.add_shuffle(tensor)
    layer.set_input(1, shape)
    layer.zero_is_placeholder = False
    name_layer(layer, name, "reshape")
    return layer.get_output(0)


def with_known_size(ctx: Any, tensor: "trt.ITensor", dim: int, size: int, message: str, name: str) -> "trt.ITensor":
    """``tensor``, its dim ``dim`` (>= 0) known to be ``size`` while building: reshaped to its own shape with ``size``
    there, so the network reports it (TensorRT reads a constant entry of a reshape's shape), and an
    ``IAssertionLayer`` refuses, with ``message``, inputs for which it is another. Unchanged when the network
    already knows that dim; a build-time ``ValueError`` when it knows another size."""
    known = tensor.shape[dim]
    if known >= 0:
        if known != size:
            raise ValueError(f"{message}: it is {known} in every call")
        return tensor
    assert_compare(ctx, "eq", dim_of(ctx, tensor, dim, name), size, message, name)
    # no dims on a side: shape_items gives no item for it
    items = shape_items(ctx, tensor, name, range(dim)) + [size] + \
        shape_items(ctx, tensor, name, range(dim + 1, len(tensor.shape)))
    return reshape_to(ctx, tensor, as_shape_tensor(ctx, items, name), name)


def prepend_ones(ctx: Any, tensor: "trt.ITensor", rank: int, name: str) -> "trt.ITensor":
    """``tensor`` viewed with leading size-1 dims up to ``rank`` (unchanged when already there)."""
    missing = rank - len(tensor.shape)
    if missing <= 0:
        return tensor
    shape = concat_shapes(ctx, [int64_constant(ctx, [1] * missing, name), shape_of(ctx, tensor, name)], name)
    return reshape_to(ctx, tensor, shape, name)


@converts("reshape_dyn")
def convert_reshape_dyn(ctx: Any, target: Any, args: Any, kwargs: Any, name: str) -> "trt.ITensor":
    """``reshape_dyn(self, shape)`` -> shuffle to the runtime shape."""
    tensor = data_tensor(ctx, arg(args, kwargs, 0, "self"), name)
    shape = shape_arg(ctx, target, name, arg(args, kwargs, 1, "shape"), "shape")
    return reshape_to(ctx, tensor, shape, name)


def broadcast_to(ctx: Any, tensor: "trt.ITensor", shape: "trt.ITensor", name: str) -> "trt.ITensor":
    """``tensor.expand(shape)`` where ``shape`` (1-d int64, length >= rank) may hold -1 (keep).

    Dims of size 1 are read with stride 0; any other dim with stride 1, so an incompatible
    target size makes TensorRT's bounds-checked slice fail instead of reading garbage.
    """
    rank = shape.shape[0]
    if rank < len(tensor.shape):
        raise ShapeValueError(f"{name}: expand to {rank} dims of a rank-{len(tensor.shape)} tensor")
    padded = prepend_ones(ctx, tensor, rank, name)
    current = shape_of(ctx, padded, name)
    if shape_decided(ctx, "eq", shape, -1) is False:
        # every target entry is a size (>= 0), none is -1: the target is the result, and no keep-condition is built
        # (a constant false one would be picked away by the where and left out of the or, read by nothing)
        sizes, keep = shape, []
    else:
        keep_condition = shape_compare(ctx, "eq", shape, -1, name)
        sizes, keep = shape_where(ctx, keep_condition, current, shape, name), [keep_condition]
    compatible = shape_or(ctx, keep + [shape_compare(ctx, "eq", shape, current, name),
                                       shape_compare(ctx, "eq", current, 1, name)], name)
    assert_shape(ctx, compatible, "expand: a target size differs from a non-1 input size", name)
    added = rank - len(tensor.shape)
    if added:
        # torch.expand refuses -1 for the new leading dims (there is no size to keep).
        leading = gather_dims(ctx, shape, list(range(added)), name)
        assert_compare(ctx, "gt", leading, -1, "expand: -1 for a new leading dim", name)
    # stride = clamp(current - 1, 0, 1): 0 for broadcast (size-1) dims, 1 otherwise.
    stride = shape_binary(ctx, "max", shape_binary(ctx, "min", shape_binary(ctx, "sub", current, 1, name), 1, name), 0, name)
    layer = ctx.net.add_slice(padded, [0] * rank, [1] * rank, [1] * rank)
    layer.set_input(1, int64_constant(ctx, [0] * rank, name))
    layer.set_input(2, sizes)
    layer.set_input(3, stride)
    name_layer(layer, name, "expand")
    return layer.get_output(0)


@converts("expand_dyn")
def convert_expand_dyn(ctx: Any, target: Any, args: Any, kwargs: Any, name: str) -> "trt.ITensor":
    """``expand_dyn(self, shape)`` -> stride-0 slice (see :func:`broadcast_to`)."""
    tensor = data_tensor(ctx, arg(args, kwargs, 0, "self"), name)
    shape = shape_arg(ctx, target, name, arg(args, kwargs, 1, "shape"), "shape")
    return broadcast_to(ctx, tensor, shape, name)


@converts("unflatten_dyn")
def convert_unflatten_dyn(ctx: Any, target: Any, args: Any, kwargs: Any, name: str) -> "trt.ITensor":
    """``unflatten_dyn(self, dim, sizes)`` -> reshape to ``shape[:dim] + sizes + shape[dim+1:]``."""
    tensor = data_tensor(ctx, arg(args, kwargs, 0, "self"), name)
    dim = arg(args, kwargs, 1, "dim")
    sizes = shape_arg(ctx, target, name, arg(args, kwargs, 2, "sizes"), "sizes")
    rank = len(tensor.shape)
    if not -rank <= dim < rank:
        raise fail(ctx, target, name, f"dim {dim} is out of range for rank {rank}")
    dim %= rank
    shape = shape_of(ctx, tensor, name)
    parts = []
    if dim > 0:
        parts.append(gather_dims(ctx, shape, list(range(dim)), name))
    parts.append(sizes)
    if dim + 1 < rank:
        parts.append(gather_dims(ctx, shape, list(range(dim + 1, rank)), name))
    return reshape_to(ctx, tensor, concat_shapes(ctx, parts, name), name)


@converts("repeat_dyn")
def convert_repeat_dyn(ctx: Any, target: Any, args: Any, kwargs: Any, name: str) -> "trt.ITensor":
    """``repeat_dyn(self, repeats)`` -> WRAP slice of size ``shape * repeats`` (leading dims added)."""
    tensor = data_tensor(ctx, arg(args, kwargs, 0, "self"), name)
    repeats = shape_arg(ctx, target, name, arg(args, kwargs, 1, "repeats"), "repeats")
    rank = repeats.shape[0]
    if rank < len(tensor.shape):
        raise fail(ctx, target, name, f"{rank} repeats for a rank-{len(tensor.shape)} tensor")
    padded = prepend_ones(ctx, tensor, rank, name)
    sizes = shape_binary(ctx, "mul", shape_of(ctx, padded, name), repeats, name)
    assert_compare(ctx, "gt", repeats, -1, "repeat: negative repeat count", name)
    layer = ctx.net.add_slice(padded, [0] * rank, [1] * rank, [1] * rank)
    layer.set_input(2, sizes)
    layer.mode = trt.SampleMode.WRAP
    name_layer(layer, name, "repeat")
    return layer.get_output(0)


@converts("select_dyn")
def convert_select_dyn(ctx: Any, target: Any, args: Any, kwargs: Any, name: str) -> "trt.ITensor":
    """``select_dyn(self, dim, index)`` -> gather with a 0-d index (negative wraps: Python mod)."""
    tensor = data_tensor(ctx, arg(args, kwargs, 0, "self"), name)
    dim = arg(args, kwargs, 1, "dim")
    rank = len(tensor.shape)
    if not -rank <= dim < rank:
        raise fail(ctx, target, name, f"dim {dim} is out of range for rank {rank}")
    dim %= rank
    index = as_scalar_tensor(ctx, arg(args, kwargs, 2, "index"), f"{name}/index")
    size = gather_dims(ctx, shape_of(ctx, tensor, name), dim, name)
    # index in [-size, size) maps to [0, size); anything else stays out of range for the gather.
    in_range = shape_all(ctx, [shape_compare(ctx, "lt", index, size, name),
                               shape_not(ctx, shape_compare(ctx, "lt", shape_binary(ctx, "add", index, size, name), 0, name), name)], name)
    assert_shape(ctx, in_range, "select: index out of range", name)
    wrapped = shape_where(ctx, shape_compare(ctx, "lt", index, 0, name),
                          shape_binary(ctx, "add", index, size, name), index, name)
    layer = ctx.net.add_gather(tensor, wrapped, dim)
    name_layer(layer, name, "select")
    return layer.get_output(0)
