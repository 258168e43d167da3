"""Converters for slicing with runtime bounds (``trt_dyn.ops.slicing``): slice, narrow, split, pad, reflection pad.

All are ``ISliceLayer`` with start/size/stride shape tensors; bounds are normalised with int64
shape arithmetic exactly as aten does (negative bounds add the size, slice bounds clamp). Constant
padding is a ``FILL``-mode slice whose start is ``-left`` (negative pads crop), reflection padding the same
slice in ``REFLECT`` mode.
"""

from __future__ import annotations

from typing import Any, List

import torch

from .._hooks import ConverterPriority
from .._trt import trt
from .common import arg, cast_to, converts, data_tensor, host_int, registered, shape_arg, typed_constant
from .errors import fail
from .shape_tensor import (
    assert_compare,
    assert_shape,
    shape_all,
    shape_not,
    as_scalar_tensor,
    as_shape_tensor,
    ceildiv,
    concat_shapes,
    constant_value,
    gather_dims,
    int64_constant,
    lower_bound,
    name_layer,
    shape_binary,
    shape_clamp,
    shape_compare,
    shape_of,
    shape_where,
    to_1d,
)
from .views import broadcast_to


def _dim(ctx: Any, target: Any, name: str, tensor: "trt.ITensor", dim: Any) -> int:
    rank = len(tensor.shape)
    if not isinstance(dim, int) or not -rank <= dim < rank:
        raise fail(ctx, target, name, f"dim {dim!r} is out of range for rank {rank}")
    return dim % rank


def _with_entry(ctx: Any, rank: int, dim: int, entry: Any, others: Any, name: str) -> "trt.ITensor":
    """A length-``rank`` shape equal to ``others`` (int fill or 1-d shape) except ``entry`` (a 0-d size or an int)
    at ``dim``."""
    parts: List[Any] = []
    known = [entry] if isinstance(entry, int) else constant_value(ctx, entry)
    for position in range(rank):
        if position == dim:
            # a constant entry joins the other ints: one constant for the whole shape, not a constant per run of
            # ints that the concatenation of all-constant parts replaces by another, leaving them unread
            if known is not None:
                parts.extend(known)
            else:
                parts.append(to_1d(ctx, entry, name))
        elif isinstance(others, int):
            parts.append(others)
        else:
            parts.append(gather_dims(ctx, others, [position], name))
    return as_shape_tensor(ctx, parts, name)


def slice_along(ctx: Any, tensor: "trt.ITensor", dim: int, start: Any, length: "trt.ITensor",
                step: int, name: str) -> "trt.ITensor":
    """Elements ``start, start + step, ...`` (``length`` of them) of ``tensor`` along ``dim``."""
    rank = len(tensor.shape)
    layer = ctx.net.add_slice(tensor, [0] * rank, [1] * rank, [1] * rank)
    layer.set_input(1, _with_entry(ctx, rank, dim, start, 0, name))
    layer.set_input(2, _with_entry(ctx, rank, dim, length, shape_of(ctx, tensor, name), name))
    layer.set_input(3, int64_constant(ctx, [step if d == dim else 1 for d in range(rank)], name))
    name_layer(layer, name, "slice")
    return layer.get_output(0)


def _wrap_negative(ctx: Any, index: "trt.ITensor", size: "trt.ITensor", name: str) -> "trt.ITensor":
    """``index + size`` where ``index < 0``, else ``index``."""
    if lower_bound(ctx, index) is not None and lower_bound(ctx, index) >= 0:
        return index  # never negative (a constant, a size): no sum, no select
    return shape_where(ctx, shape_compare(ctx, "lt", index, 0, name),
                       shape_binary(ctx, "add", index, size, name), index, name)


@converts("slice_dyn")
def convert_slice_dyn(ctx: Any, target: Any, args: Any, kwargs: Any, name: str) -> "trt.ITensor":
    """``slice_dyn(self, dim, start, end, step)`` -> aten.slice bounds (wrap, clamp) + strided slice."""
    tensor = data_tensor(ctx, arg(args, kwargs, 0, "self"), name)
    dim = _dim(ctx, target, name, tensor, arg(args, kwargs, 1, "dim"))
    raw_start = arg(args, kwargs, 2, "start")
    # a start known to be 0 (x[..., :n], the common case) needs no wrap and no clamp, and joins the slice's start
    # shape as an int: made a 0-d constant first, it would be left unread there
    start = 0 if host_int(raw_start) == 0 else as_scalar_tensor(ctx, raw_start, f"{name}/start")
    end = as_scalar_tensor(ctx, arg(args, kwargs, 3, "end"), f"{name}/end")
    step = arg(args, kwargs, 4, "step", 1)
    if not isinstance(step, int) or step <= 0:
        raise fail(ctx, target, name, f"step must be a positive int, got {step!r}")
    size = gather_dims(ctx, shape_of(ctx, tensor, name), dim, name)
    start, length = _aten_slice_bounds(ctx, size, start, end, step, name)
    return slice_along(ctx, tensor, dim, start, length, step, name)


def _aten_slice_bounds(ctx: Any, size: "trt.ITensor", start: Any, end: "trt.ITensor", step: int,
                       name: str):
    """(first index, element count) of aten's ``slice(start, end, step)`` along a dim of ``size`` (``start`` may be
    the int 0, which is its own first index)."""
    if not (isinstance(start, int) and start == 0):
        start = shape_clamp(ctx, _wrap_negative(ctx, start, size, name), 0, size, name)
    end = shape_clamp(ctx, _wrap_negative(ctx, end, size, name), 0, size, name)
    length = shape_binary(ctx, "max", ceildiv(ctx, shape_binary(ctx, "sub", end, start, name), step, name), 0, name)
    return start, length


_INT64_MAX = 2**63 - 1


def _int_bounds_on_symbolic_dim(node: Any) -> Any:
    """(size along dim, [start, end]) of an ``aten.slice`` / ``slice_scatter`` node whose bounds are ints (or
    None) and whose sliced dim is symbolic; None otherwise. Symbolic bounds were rewritten to ``slice_dyn``
    before conversion."""
    from torch.fx.experimental.symbolic_shapes import free_symbols

    value = node.args[0].meta.get("val") if hasattr(node.args[0], "meta") else None
    dim_index = 2 if node.target == torch.ops.aten.slice_scatter.default else 1
    dim = node.args[dim_index] if len(node.args) > dim_index else node.kwargs.get("dim", 0)
    bounds = list(node.args[dim_index + 1:dim_index + 3]) + [
        node.kwargs.get(k) for k in ("start", "end") if k in node.kwargs]
    if value is None or not isinstance(dim, int) or not -value.dim() <= dim < value.dim():
        return None
    size = value.shape[dim]
    if not free_symbols(size) or not all(bound is None or isinstance(bound, int) for bound in bounds):
        return None
    return size, bounds


def _slices_data_dependent_dim(node: Any, settings: Any = None) -> bool:
    """``aten.slice`` with int bounds along a symbolic size that upstream's converter gets wrong:

    * a data-dependent (unbacked) size, e.g. ``keep[:100]``: torch.export adds no guard there, so the run-time
      size may be below the bounds; upstream takes ``end - start`` as the size and reads out of bounds;
    * a negative bound on a dynamic dim (Swin's ``mask[-7:-3, -3:]``): upstream mixes the other dims' -1 into
      the start and end ("inherently negative length", then "Could not get tensor shape").
    """
    from torch.fx.experimental.symbolic_shapes import free_unbacked_symbols

    found = _int_bounds_on_symbolic_dim(node)
    if found is None:
        return False
    size, bounds = found
    return bool(free_unbacked_symbols(size)) or any(isinstance(b, int) and b < 0 for b in bounds)


@registered(torch.ops.aten.slice.Tensor, capability_validator=_slices_data_dependent_dim, priority=ConverterPriority.HIGH)
def convert_slice_of_data_dependent_dim(ctx: Any, target: Any, args: Any, kwargs: Any,
                                        name: str) -> "trt.ITensor":
    """aten's clamping of int bounds to a run-time size: the ``slice_dyn`` conversion."""
    start = arg(args, kwargs, 2, "start")
    end = arg(args, kwargs, 3, "end")
    bounded = (arg(args, kwargs, 0, "self"), arg(args, kwargs, 1, "dim", 0),
               0 if start is None else start, _INT64_MAX if end is None else end,
               arg(args, kwargs, 4, "step", 1))
    return convert_slice_dyn(ctx, target, bounded, {}, name)


def _scatters_into_symbolic_dim(node: Any, settings: Any = None) -> bool:
    """``aten.slice_scatter`` (a slice assignment ``mask[h0:h1] = v``) with int bounds into a symbolic dim:
    upstream's converter takes the dynamic dim's -1 as the size (``start=-7`` becomes -8, ``end=None`` -1)."""
    return _int_bounds_on_symbolic_dim(node) is not None


@registered(torch.ops.aten.slice_scatter.default, capability_validator=_scatters_into_symbolic_dim, priority=ConverterPriority.HIGH)
def convert_slice_scatter_into_symbolic_dim(ctx: Any, target: Any, args: Any, kwargs: Any,
                                            name: str) -> "trt.ITensor":
    """``slice_scatter(self, src, dim, start, end, 1)``: ``self`` before the slice, ``src``, ``self`` after it,
    concatenated along ``dim``; the bounds normalised at run time as aten does."""
    tensor = data_tensor(ctx, arg(args, kwargs, 0, "self"), name)
    src = data_tensor(ctx, arg(args, kwargs, 1, "src"), name)
    dim = _dim(ctx, target, name, tensor, arg(args, kwargs, 2, "dim", 0))
    start, end = arg(args, kwargs, 3, "start"), arg(args, kwargs, 4, "end")
    step = arg(args, kwargs, 5, "step", 1)
    if step != 1:
        raise fail(ctx, target, name, f"slice assignment with step {step!r} into a dynamic dim is not supported "
                                      "(only step 1)")
    start = as_scalar_tensor(ctx, 0 if start is None else start, f"{name}/start")
    end = as_scalar_tensor(ctx, _INT64_MAX if end is None else end, f"{name}/end")
    size = gather_dims(ctx, shape_of(ctx, tensor, name), dim, name)
    start, length = _aten_slice_bounds(ctx, size, start, end, 1, name)
    # src has the slice's shape; upstream's aten.copy converter may hand over the assigned value unbroadcast
    # (a 0-d constant for ``mask[a:b] = 1``) and in the constant's own dtype: broadcast and cast as aten's copy
    middle = slice_along(ctx, tensor, dim, start, length, 1, f"{name}_middle")
    src = broadcast_to(ctx, cast_to(ctx, src, tensor.dtype, name), shape_of(ctx, middle, name), name)
    after = shape_binary(ctx, "add", start, length, name)
    pieces = [slice_along(ctx, tensor, dim, int64_constant(ctx, 0, name), start, 1, f"{name}_before"), src,
              slice_along(ctx, tensor, dim, after, shape_binary(ctx, "sub", size, after, name), 1, f"{name}_after")]
    layer = ctx.net.add_concatenation(pieces)
    layer.axis = dim
    name_layer(layer, name, "slice_scatter")
    return layer.get_output(0)


@converts("narrow_dyn")
def convert_narrow_dyn(ctx: Any, target: Any, args: Any, kwargs: Any, name: str) -> "trt.ITensor":
    """``narrow_dyn(self, dim, start, length)`` -> slice at ``start`` (negative wraps), ``length`` long.

    Out-of-range bounds are not clamped (eager raises): TensorRT's bounds-checked slice fails.
    """
    tensor = data_tensor(ctx, arg(args, kwargs, 0, "self"), name)
    dim = _dim(ctx, target, name, tensor, arg(args, kwargs, 1, "dim"))
    start = as_scalar_tensor(ctx, arg(args, kwargs, 2, "start"), f"{name}/start")
    length = as_scalar_tensor(ctx, arg(args, kwargs, 3, "length"), f"{name}/length")
    size = gather_dims(ctx, shape_of(ctx, tensor, name), dim, name)
    start = _wrap_negative(ctx, start, size, name)
    stop = shape_binary(ctx, "add", start, length, name)
    valid = shape_all(ctx, [shape_compare(ctx, "gt", start, -1, name), shape_compare(ctx, "gt", length, -1, name),
                            shape_not(ctx, shape_compare(ctx, "gt", stop, size, name), name)], name)
    assert_shape(ctx, valid, "narrow: start/length out of range", name)
    return slice_along(ctx, tensor, dim, start, length, 1, name)


@converts("split_dyn")
def convert_split_dyn(ctx: Any, target: Any, args: Any, kwargs: Any, name: str) -> List["trt.ITensor"]:
    """``split_dyn(self, sizes, dim)`` -> one slice per entry of ``sizes`` at running offsets."""
    tensor = data_tensor(ctx, arg(args, kwargs, 0, "self"), name)
    sizes = shape_arg(ctx, target, name, arg(args, kwargs, 1, "sizes"), "sizes")
    dim = _dim(ctx, target, name, tensor, arg(args, kwargs, 2, "dim", 0))
    count = sizes.shape[0]
    outputs = []
    offset: Any = int64_constant(ctx, 0, name)
    for index in range(count):
        length = gather_dims(ctx, sizes, index, name)
        outputs.append(slice_along(ctx, tensor, dim, offset, length, 1, f"{name}[{index}]"))
        offset = shape_binary(ctx, "add", offset, length, name)
    total = gather_dims(ctx, shape_of(ctx, tensor, name), dim, name)
    valid = shape_all(ctx, [shape_compare(ctx, "eq", offset, total, name),
                            shape_compare(ctx, "gt", sizes, -1, name)], name)
    assert_shape(ctx, valid, "split: sizes must be non-negative and sum to the dim size", name)
    return outputs


@converts("pad_dyn")
def convert_pad_dyn(ctx: Any, target: Any, args: Any, kwargs: Any, name: str) -> "trt.ITensor":
    """``pad_dyn(self, pad, value)`` -> FILL slice from ``-left`` of size ``in + left + right``."""
    tensor = data_tensor(ctx, arg(args, kwargs, 0, "self"), name)
    pad = shape_arg(ctx, target, name, arg(args, kwargs, 1, "pad"), "pad")
    value = arg(args, kwargs, 2, "value", 0.0)
    rank = len(tensor.shape)
    count = pad.shape[0]
    if count < 0 or count % 2 or count // 2 > rank:
        raise fail(ctx, target, name, f"pad length {count} must be static, even and at most 2 * {rank}")
    if rank == 0:
        return tensor
    sizes, left, right, layer = _pad_slice(ctx, tensor, pad, trt.SampleMode.FILL, name)
    assert_compare(ctx, "gt", sizes, -1, "pad: resulting size is negative", name)
    layer.set_input(4, typed_constant(ctx, value, tensor.dtype, name))
    name_layer(layer, name, "pad")
    return layer.get_output(0)


def _pad_slice(ctx: Any, tensor: "trt.ITensor", pad: "trt.ITensor", mode: Any, name: str) -> tuple:
    """A slice in ``mode`` from ``-left`` of size ``in + left + right`` per dim; (sizes, left, right, layer).

    ``pad`` holds (left, right) pairs from the last dim backwards; dims without a pair read an appended 0.
    """
    rank, count = len(tensor.shape), pad.shape[0]
    pairs = count // 2
    padded = concat_shapes(ctx, [pad, int64_constant(ctx, [0], name)], name)
    left_index = [2 * (rank - 1 - d) if rank - 1 - d < pairs else count for d in range(rank)]
    right_index = [2 * (rank - 1 - d) + 1 if rank - 1 - d < pairs else count for d in range(rank)]
    left = gather_dims(ctx, padded, left_index, name)
    right = gather_dims(ctx, padded, right_index, name)
    start = shape_binary(ctx, "sub", 0, left, name)
    sizes = shape_binary(ctx, "add", shape_binary(ctx, "add", shape_of(ctx, tensor, name), left, name), right, name)
    layer = ctx.net.add_slice(tensor, [0] * rank, [1] * rank, [1] * rank)
    layer.set_input(1, start)
    layer.set_input(2, sizes)
    layer.mode = mode
    return sizes, left, right, layer


@converts("reflection_pad_dyn")
def convert_reflection_pad_dyn(ctx: Any, target: Any, args: Any, kwargs: Any, name: str) -> "trt.ITensor":
    """``reflection_pad_dyn(self, pad)`` -> REFLECT slice from ``-left`` of size ``in + left + right``.

    aten's checks become run-time assertions: every pad below its dim's size, every result size at least 1.
    """
    tensor = data_tensor(ctx, arg(args, kwargs, 0, "self"), name)
    pad = shape_arg(ctx, target, name, arg(args, kwargs, 1, "pad"), "pad")
    rank, count = len(tensor.shape), pad.shape[0]
    if count not in (2, 4, 6) or count // 2 + 1 > rank:
        raise fail(ctx, target, name, f"pad length {count} must be 2, 4 or 6 and pad at most {rank - 1} dims")
    sizes, left, right, layer = _pad_slice(ctx, tensor, pad, trt.SampleMode.REFLECT, name)
    dims = shape_of(ctx, tensor, name)
    valid = shape_all(ctx, [shape_compare(ctx, "lt", left, dims, name), shape_compare(ctx, "lt", right, dims, name),
                            shape_compare(ctx, "gt", sizes, 0, name)], name)
    assert_shape(ctx, valid, "reflection pad: each pad must be below its dim's size and each result size >= 1", name)
    name_layer(layer, name, "reflection_pad")
    return layer.get_output(0)
