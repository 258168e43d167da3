"""Selection without a NonZero layer: nonzero, boolean-mask index, bounded nonzero, dynamic-k top-k.

TensorRT-RTX 1.6 has ``add_non_zero`` but its builder has no runner for it ("has no runners"), so
upstream torch_tensorrt refuses ``aten.nonzero`` and boolean ``aten.index`` there and partitions.
What *does* build on RTX (measured, see docs/data_dependent.md) is a Slice whose size is computed
from execution tensors, a Scatter, a Cumulative sum and a TopK whose k is a tensor. The converters
here build nonzero from those (stream compaction):

* ``flat = reshape(mask, [-1])``, ``before = cumsum(flat) - flat`` (true elements before each one);
* every element gets a destination: true ones ``before`` (row-major order, as nonzero), false ones
  ``count + (i - before)``, a permutation of ``0..M-1`` so the Scatter never sees duplicates;
* scattering ``arange(M)`` to those destinations puts the flat positions of the true elements first;
  dividing by the row-major strides gives coordinates. ``[:count]`` is eager's ``nonzero`` exactly.

Every layer a fallback adds carries a name prefix from :data:`FALLBACK_PREFIXES`;
:func:`count_fallback_layers` counts them in a built network (a proxy for the GPU cost of a fallback).

On full TensorRT (``IS_RTX`` False) the nonzero and boolean-index converters here stay disabled and
upstream's native NonZero path is used, unless :func:`trt_dyn.lowering.data_dependent.set_mode`
selects ``"dense"`` (which forces the compaction converters too).
"""

from __future__ import annotations

import functools
import logging
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch.fx.node import Node

from .._hooks import ConverterPriority, after_placeholder, converter_decorator, optimization_profiles, upstream_gather
from .._trt import IS_RTX, trt
from .errors import fail
from .shape_tensor import (
    as_scalar_tensor,
    assert_shape,
    cast_int64,
    concat_shapes,
    dim_of,
    gather_dims,
    int64_constant,
    name_layer,
    shape_binary,
    shape_compare,
    shape_not,
    shape_of,
    shape_or,
    to_1d,
)

#: Layer-name prefix of every layer each fallback emits (``<prefix>:<node>/<what>#<n>``).
FALLBACK_PREFIXES: Dict[str, str] = {
    "nonzero": "dd_nonzero",  # exact nonzero by compaction (data-dependent row count)
    "nonzero_bounded": "dd_bounded",  # padded nonzero + count (no data-dependent shape)
    "mask_index": "dd_mask_index",  # x[mask] by compaction + gather
    "masked_put": "dd_masked_put",  # out[mask] = values by rank-of-row gather + select
    "topk_dyn": "dd_topk",  # top-k with k a run-time tensor
    "dense": "dd_dense",  # lowering: masked compute rewritten as where(mask, f(x), out)
}


def count_fallback_layers(network: Any) -> Dict[str, int]:
    """Per fallback (keys of :data:`FALLBACK_PREFIXES`), how many layers of ``network`` it emitted.

    Converter-built layers are named ``<prefix>:...``; layers converted from FX nodes the dense
    lowering created contain ``[<prefix>_`` (torch_tensorrt names layers ``[type]-[op]-[node]``).
    """
    counts = {key: 0 for key in FALLBACK_PREFIXES}
    for index in range(network.num_layers):
        layer_name = network.get_layer(index).name
        for key, prefix in FALLBACK_PREFIXES.items():
            if layer_name.startswith(prefix + ":") or f"[{prefix}_" in layer_name:
                counts[key] += 1
                break
    return counts


_log = logging.getLogger("trt_dyn.data_dependent")


def _reported(key: str) -> Callable:
    """Log how many layers the wrapped converter added for one node (the fallback's GPU cost)."""

    def wrap(converter: Callable) -> Callable:
        @functools.wraps(converter)
        def run(ctx: Any, target: Any, args: Any, kwargs: Any, name: str) -> Any:
            before = ctx.net.num_layers
            result = converter(ctx, target, args, kwargs, name)
            _log.info("%s fallback for node %s: %d TensorRT layers", key, name,
                      ctx.net.num_layers - before)
            return result

        return run

    return wrap


def _use_compaction() -> bool:
    """RTX always (no NonZero runner); full TensorRT only when dense mode is forced."""
    if IS_RTX:
        return True
    from ..lowering.data_dependent import get_mode

    return get_mode() == "dense"


def _named(layer: Any, prefix: str, name: str, what: str) -> Any:
    return name_layer(layer, f"{prefix}:{name}", what)


def _reshape(ctx: Any, tensor: Any, shape: Any, prefix: str, name: str, what: str) -> Any:
    layer = ctx.net.add_shuffle(tensor)
    if isinstance(shape, trt.ITensor):
        layer.set_input(1, shape)
    else:
        layer.reshape_dims = tuple(shape)
    return _named(layer, prefix, name, what).get_output(0)


def _elementwise(ctx: Any, a: Any, b: Any, op: Any, prefix: str, name: str, what: str) -> Any:
    return _named(ctx.net.add_elementwise(a, b, op), prefix, name, what).get_output(0)


def _cast(ctx: Any, tensor: Any, dtype: Any, prefix: str, name: str) -> Any:
    if tensor.dtype == dtype:
        return tensor
    return _named(ctx.net.add_cast(tensor, dtype), prefix, name, "cast").get_output(0)


def _arange(ctx: Any, length_1d: Any, prefix: str, name: str) -> Any:
    """int64 ``[0, 1, ..., L-1]`` for a ``[1]`` int64 length tensor."""
    layer = ctx.net.add_fill((0,), trt.FillOperation.LINSPACE, trt.int64)
    layer.set_input(0, length_1d)
    layer.set_input(1, int64_constant(ctx, 0, f"{prefix}:{name}"))
    layer.set_input(2, int64_constant(ctx, [1], f"{prefix}:{name}"))
    return _named(layer, prefix, name, "arange").get_output(0)


def _slice_rows(ctx: Any, tensor: Any, rows_1d: Any, prefix: str, name: str) -> Any:
    """``tensor[:rows]`` along axis 0 (rows an int64 ``[1]`` tensor, other axes kept)."""
    rank = len(tensor.shape)
    size = rows_1d
    if rank > 1:
        rest = gather_dims(ctx, shape_of(ctx, tensor, f"{prefix}:{name}"), list(range(1, rank)),
                           f"{prefix}:{name}")
        size = concat_shapes(ctx, [rows_1d, rest], f"{prefix}:{name}")
    layer = ctx.net.add_slice(tensor, (0,) * rank, (0,) * rank, (1,) * rank)
    layer.set_input(2, size)
    return _named(layer, prefix, name, "slice_rows").get_output(0)


def truthy(ctx: Any, tensor: Any, prefix: str, name: str) -> Any:
    """``tensor != 0`` as bool (NaN counts as true, as in torch); bool tensors pass through."""
    if tensor.dtype == trt.bool:
        return tensor
    zero = ctx.net.add_constant((1,) * len(tensor.shape),
                                np.zeros((1,) * len(tensor.shape), dtype=trt.nptype(tensor.dtype)))
    _named(zero, prefix, name, "zero")
    equal = _elementwise(ctx, tensor, zero.get_output(0), trt.ElementWiseOperation.EQUAL, prefix,
                         name, "is_zero")
    return _named(ctx.net.add_unary(equal, trt.UnaryOperation.NOT), prefix, name,
                  "nonzero").get_output(0)


def _assert_mask_covers(ctx: Any, mask: Any, source: Any, first_dim: int, prefix: str,
                        name: str) -> None:
    """torch raises when a mask's shape differs from the dims it indexes; so does the network."""
    label = f"{prefix}:{name}"
    mask_rank = len(mask.shape)
    if all(mask.shape[i] >= 0 and mask.shape[i] == source.shape[first_dim + i]
           for i in range(mask_rank)):
        return
    indexed = gather_dims(ctx, shape_of(ctx, source, label),
                          list(range(first_dim, first_dim + mask_rank)), label)
    equal = shape_compare(ctx, "eq", shape_of(ctx, mask, label), indexed, label)
    # all dims equal: min over the per-dim equalities
    as_int = ctx.net.add_cast(equal, trt.int32)
    name_layer(as_int, label, "eq_int")
    smallest = ctx.net.add_reduce(as_int.get_output(0), trt.ReduceOperation.MIN, 1, False)
    name_layer(smallest, label, "all_eq")
    valid = ctx.net.add_cast(smallest.get_output(0), trt.bool)
    name_layer(valid, label, "all_eq_bool")
    assert_shape(ctx, valid.get_output(0),
                 f"mask shape must equal the indexed dims {first_dim}..{first_dim + mask_rank - 1}",
                 label)


def compact_true_positions(
    ctx: Any, mask: Any, prefix: str, name: str
) -> Tuple[Any, Any, Any]:
    """Flat row-major positions of ``mask``'s true elements, first, then the false ones.

    Returns ``(positions [M] int64, count [1] int64, numel [1] int64)``: ``positions[:count]`` are
    the true elements in increasing order; ``positions[count:]`` the false ones (also increasing).
    Computed once per mask tensor and network: ``x[m]`` and ``y[m]`` share one compaction.
    """
    cache = ctx.__dict__.setdefault("_trt_dyn_compactions", {})
    key = (id(ctx.net), mask.name)
    if key not in cache:
        cache[key] = _compact(ctx, mask, prefix, name)
    return cache[key]


def _compact(ctx: Any, mask: Any, prefix: str, name: str) -> Tuple[Any, Any, Any]:
    flat = _reshape(ctx, truthy(ctx, mask, prefix, name), (-1,), prefix, name, "flatten_mask")
    ones = _cast(ctx, flat, trt.int32, prefix, name)
    axis = ctx.net.add_constant((), np.array(0, dtype=np.int32))
    _named(axis, prefix, name, "axis")
    inclusive = ctx.net.add_cumulative(ones, axis.get_output(0), trt.CumulativeOperation.SUM,
                                       False, False)
    _named(inclusive, prefix, name, "cumsum")
    inclusive64 = _cast(ctx, inclusive.get_output(0), trt.int64, prefix, name)
    ones64 = _cast(ctx, ones, trt.int64, prefix, name)
    trues_before = _elementwise(ctx, inclusive64, ones64, trt.ElementWiseOperation.SUB, prefix,
                                name, "trues_before")
    count = _named(ctx.net.add_reduce(ones64, trt.ReduceOperation.SUM, 1, True), prefix, name,
                   "count").get_output(0)
    numel = cast_int64(ctx, _named(ctx.net.add_shape(flat), prefix, name, "numel").get_output(0),
                       f"{prefix}:{name}")
    index = _arange(ctx, numel, prefix, name)
    falses_before = _elementwise(ctx, index, trues_before, trt.ElementWiseOperation.SUB, prefix,
                                 name, "falses_before")
    false_slot = _elementwise(ctx, count, falses_before, trt.ElementWiseOperation.SUM, prefix, name,
                              "false_slot")
    is_true = _cast(ctx, flat, trt.bool, prefix, name)
    destination = _named(ctx.net.add_select(is_true, trues_before, false_slot), prefix, name,
                         "destination").get_output(0)
    # destination is a permutation of 0..M-1: scatter arange there, into a buffer of the same size.
    scatter = ctx.net.add_scatter(index, destination, index, trt.ScatterMode.ELEMENT)
    scatter.axis = 0
    positions = _named(scatter, prefix, name, "scatter").get_output(0)
    return positions, count, numel


def unravel_positions(ctx: Any, positions: Any, shape: Any, rank: int, prefix: str,
                      name: str) -> Any:
    """``[M]`` flat row-major positions into ``[M, rank]`` coordinates for a run-time ``shape``."""
    columns: List[Any] = []
    stride: Optional[Any] = None
    for dim in reversed(range(rank)):
        size = to_1d(ctx, gather_dims(ctx, shape, dim, f"{prefix}:{name}"), f"{prefix}:{name}")
        quotient = positions
        if stride is not None:
            quotient = _elementwise(ctx, positions, stride, trt.ElementWiseOperation.FLOOR_DIV,
                                    prefix, name, f"div{dim}")
        whole = _elementwise(ctx, quotient, size, trt.ElementWiseOperation.FLOOR_DIV, prefix, name,
                             f"whole{dim}")
        coordinate = _elementwise(
            ctx, quotient,
            _elementwise(ctx, whole, size, trt.ElementWiseOperation.PROD, prefix, name, f"m{dim}"),
            trt.ElementWiseOperation.SUB, prefix, name, f"coord{dim}")
        columns.append(_reshape(ctx, coordinate, (-1, 1), prefix, name, f"column{dim}"))
        stride = size if stride is None else _elementwise(
            ctx, stride, size, trt.ElementWiseOperation.PROD, prefix, name, f"stride{dim}")
    columns.reverse()
    if rank == 1:
        return columns[0]
    layer = ctx.net.add_concatenation(columns)
    layer.axis = 1
    return _named(layer, prefix, name, "coordinates").get_output(0)


def _itensor(ctx: Any, value: Any, name: str) -> Any:
    from .._hooks import get_trt_tensor

    return get_trt_tensor(ctx, value, name)


# --------------------------------------------------------------------------------------------
# aten.nonzero (exact, data-dependent row count) on TensorRT-RTX
# --------------------------------------------------------------------------------------------


def nonzero_exact(ctx: Any, mask: Any, prefix: str, name: str) -> Any:
    """``torch.nonzero(mask)``: ``[count, rank]`` int64, row-major order (slice by a run-time count)."""
    rank = len(mask.shape)
    if rank == 0:
        raise ValueError("nonzero of a 0-d tensor is not supported")
    positions, count, _ = compact_true_positions(ctx, mask, prefix, name)
    coordinates = unravel_positions(ctx, positions, shape_of(ctx, mask, f"{prefix}:{name}"), rank,
                                    prefix, name)
    return _slice_rows(ctx, coordinates, count, prefix, name)


def _nonzero_validator(node: Node, settings: Any = None) -> bool:
    value = node.args[0].meta.get("val") if isinstance(node.args[0], Node) else None
    return _use_compaction() and value is not None and value.dim() >= 1


@converter_decorator(
    torch.ops.aten.nonzero.default,
    capability_validator=_nonzero_validator,
    priority=ConverterPriority.HIGH,
    supports_dynamic_shapes=True,
    requires_output_allocator=True,
)
@_reported("nonzero")
def convert_nonzero(ctx: Any, target: Any, args: Sequence[Any], kwargs: Dict[str, Any],
                    name: str) -> Any:
    mask = _itensor(ctx, args[0], f"{name}_mask")
    if len(mask.shape) == 0:
        raise fail(ctx, target, name, "nonzero of a 0-d tensor is not supported")
    return nonzero_exact(ctx, mask, FALLBACK_PREFIXES["nonzero"], name)


# --------------------------------------------------------------------------------------------
# aten.index.Tensor with one boolean mask (x[mask], x[:, mask]) on TensorRT-RTX
# --------------------------------------------------------------------------------------------


def _single_bool_index(node: Node) -> Optional[int]:
    """Position of the only index of ``node`` if it is a boolean mask after leading Nones."""
    indices = node.args[1]
    present = [i for i, index in enumerate(indices) if index is not None]
    if len(present) != 1 or any(index is not None for index in indices[: present[0]]):
        return None
    value = indices[present[0]].meta.get("val") if isinstance(indices[present[0]], Node) else None
    if value is None or value.dtype not in (torch.bool, torch.uint8):
        return None
    return present[0]


def _mask_index_validator(node: Node, settings: Any = None) -> bool:
    return _use_compaction() and _single_bool_index(node) is not None


@converter_decorator(
    torch.ops.aten.index.Tensor,
    capability_validator=_mask_index_validator,
    priority=ConverterPriority.HIGH,
    supports_dynamic_shapes=True,
    requires_output_allocator=True,
)
@_reported("mask_index")
def convert_mask_index(ctx: Any, target: Any, args: Sequence[Any], kwargs: Dict[str, Any],
                       name: str) -> Any:
    prefix = FALLBACK_PREFIXES["mask_index"]
    source = _itensor(ctx, args[0], f"{name}_self")
    leading = next(i for i, index in enumerate(args[1]) if index is not None)
    mask = _itensor(ctx, args[1][leading], f"{name}_mask")
    rank, mask_rank = len(source.shape), len(mask.shape)
    if mask_rank == 0 or leading + mask_rank > rank:
        raise fail(ctx, target, name, f"boolean index of rank {mask_rank} at dim {leading} does not "
                   f"fit a tensor of rank {rank}")
    # The mask must cover exactly the indexed dims; eager raises for a mismatch, so must we.
    for axis in range(mask_rank):
        a, b = mask.shape[axis], source.shape[leading + axis]
        if a >= 0 and b >= 0 and a != b:
            raise fail(ctx, target, name, f"mask dim {axis} has size {a} but the indexed tensor's "
                       f"dim {leading + axis} has size {b}")
    _assert_mask_covers(ctx, mask, source, leading, prefix, name)
    positions, count, _ = compact_true_positions(ctx, mask, prefix, name)
    shape = shape_of(ctx, source, f"{prefix}:{name}")
    parts = []
    if leading:
        parts.append(gather_dims(ctx, shape, list(range(leading)), f"{prefix}:{name}"))
    parts.append(int64_constant(ctx, [-1], f"{prefix}:{name}"))
    if leading + mask_rank < rank:
        parts.append(gather_dims(ctx, shape, list(range(leading + mask_rank, rank)),
                                 f"{prefix}:{name}"))
    flattened = _reshape(ctx, source, concat_shapes(ctx, parts, f"{prefix}:{name}"), prefix, name,
                         "flatten_masked_dims")
    selected = _slice_rows(ctx, positions, count, prefix, name)
    gather = ctx.net.add_gather(flattened, selected, leading)
    return _named(gather, prefix, name, "gather").get_output(0)


# --------------------------------------------------------------------------------------------
# aten.index_put with one boolean mask (out[mask] = values), when the dense rewrite did not apply
# --------------------------------------------------------------------------------------------


def _masked_put_validator(node: Node, settings: Any = None) -> bool:
    accumulate = node.args[3] if len(node.args) > 3 else node.kwargs.get("accumulate", False)
    return _use_compaction() and not accumulate and _single_bool_index(node) == 0


def masked_put(ctx: Any, base: Any, mask: Any, values: Any, prefix: str, name: str) -> Any:
    """``out = base.clone(); out[mask] = values`` for a mask over ``base``'s leading dims.

    Row ``r`` of the flattened selection takes ``values[trues_before[r]]`` (its rank among the
    selected rows), so no data-dependent shape is created; ``values`` is either one row per
    selected element or broadcasts over them (fewer dims, or a leading 1).
    """
    rank, mask_rank = len(base.shape), len(mask.shape)
    rest_rank = rank - mask_rank
    _assert_mask_covers(ctx, mask, base, 0, prefix, name)
    shape = shape_of(ctx, base, f"{prefix}:{name}")
    parts = [int64_constant(ctx, [-1], f"{prefix}:{name}")]
    if rest_rank:
        parts.append(gather_dims(ctx, shape, list(range(mask_rank, rank)), f"{prefix}:{name}"))
    flat_shape = concat_shapes(ctx, parts, f"{prefix}:{name}")
    base_flat = _reshape(ctx, base, flat_shape, prefix, name, "flatten_base")
    flat_mask = _reshape(ctx, truthy(ctx, mask, prefix, name), (-1,), prefix, name,
                         "flatten_mask")
    values = _cast(ctx, values, base.dtype, prefix, name)
    values_rank = len(values.shape)
    if values_rank > rest_rank + 1:
        raise ValueError(f"values of rank {values_rank} cannot fill rows of rank {rest_rank}")
    if values_rank == rest_rank + 1 and values.shape[0] != 1:
        for axis in range(rest_rank):
            a, b = values.shape[1 + axis], base.shape[mask_rank + axis]
            if a < 0 or b < 0 or a != b:
                raise ValueError(
                    f"per-row values must have the destination's row shape; values dim {1 + axis} "
                    f"is {a}, destination dim {mask_rank + axis} is {b} (broadcast rows unsupported)")
        ones = _cast(ctx, flat_mask, trt.int32, prefix, name)
        axis = ctx.net.add_constant((), np.array(0, dtype=np.int32))
        _named(axis, prefix, name, "axis")
        inclusive = _named(ctx.net.add_cumulative(ones, axis.get_output(0),
                                                  trt.CumulativeOperation.SUM, False, False),
                           prefix, name, "cumsum").get_output(0)
        trues_before = _elementwise(ctx, _cast(ctx, inclusive, trt.int64, prefix, name),
                                    _cast(ctx, ones, trt.int64, prefix, name),
                                    trt.ElementWiseOperation.SUB, prefix, name, "trues_before")
        # One spare row so that unselected rows after the last selected one (and an empty
        # selection) gather in bounds; select() discards what they read.
        pad_shape = concat_shapes(ctx, [int64_constant(ctx, [1], f"{prefix}:{name}")] + parts[1:],
                                  f"{prefix}:{name}")
        fill = ctx.net.add_fill((0,), trt.FillOperation.LINSPACE, values.dtype)
        fill.set_input(0, pad_shape)
        zero = np.array(0, dtype=trt.nptype(values.dtype))
        fill.set_input(1, _named(ctx.net.add_constant((), zero), prefix, name, "zero").get_output(0))
        step = np.zeros((rest_rank + 1,), dtype=trt.nptype(values.dtype))
        fill.set_input(2, _named(ctx.net.add_constant((rest_rank + 1,), step), prefix, name,
                                 "step").get_output(0))
        spare = _named(fill, prefix, name, "spare_row").get_output(0)
        padded = ctx.net.add_concatenation([values, spare])
        padded.axis = 0
        rows = _named(ctx.net.add_gather(_named(padded, prefix, name, "pad").get_output(0),
                                         trues_before, 0), prefix, name, "rows").get_output(0)
    else:
        rows = values
        if values_rank < rest_rank + 1:
            lifted = concat_shapes(
                ctx, [int64_constant(ctx, [1] * (rest_rank + 1 - values_rank), f"{prefix}:{name}"),
                      shape_of(ctx, values, f"{prefix}:{name}")] if values_rank else
                [int64_constant(ctx, [1] * (rest_rank + 1), f"{prefix}:{name}")], f"{prefix}:{name}")
            rows = _reshape(ctx, values, lifted, prefix, name, "lift_values")
    condition = _reshape(ctx, _cast(ctx, flat_mask, trt.bool, prefix, name),
                         (-1,) + (1,) * rest_rank, prefix, name, "mask_rows")
    selected = _named(ctx.net.add_select(condition, rows, base_flat), prefix, name,
                      "select").get_output(0)
    return _reshape(ctx, selected, shape, prefix, name, "unflatten")


@converter_decorator(
    torch.ops.aten.index_put.default,
    capability_validator=_masked_put_validator,
    priority=ConverterPriority.HIGH,
    supports_dynamic_shapes=True,
)
@_reported("masked_put")
def convert_masked_index_put(ctx: Any, target: Any, args: Sequence[Any], kwargs: Dict[str, Any],
                             name: str) -> Any:
    base = _itensor(ctx, args[0], f"{name}_self")
    mask = _itensor(ctx, args[1][0], f"{name}_mask")
    values = _itensor(ctx, args[2], f"{name}_values")
    if len(mask.shape) == 0 or len(mask.shape) > len(base.shape):
        raise fail(ctx, target, name, f"mask of rank {len(mask.shape)} cannot index a tensor of "
                   f"rank {len(base.shape)}")
    try:
        return masked_put(ctx, base, mask, values, FALLBACK_PREFIXES["masked_put"], name)
    except ValueError as err:
        raise fail(ctx, target, name, str(err)) from err


# --------------------------------------------------------------------------------------------
# trt_dyn::nonzero_bounded (padded nonzero + count; no data-dependent shape)
# --------------------------------------------------------------------------------------------


def nonzero_bounded_layers(ctx: Any, mask: Any, prefix: str, name: str) -> Tuple[Any, Any]:
    """``(indices [numel, rank] int64 padded with -1, count 0-d int64)``."""
    rank = len(mask.shape)
    positions, count, numel = compact_true_positions(ctx, mask, prefix, name)
    coordinates = unravel_positions(ctx, positions, shape_of(ctx, mask, f"{prefix}:{name}"), rank,
                                    prefix, name)
    row = _arange(ctx, numel, prefix, name)
    valid = _elementwise(ctx, row, count, trt.ElementWiseOperation.LESS, prefix, name, "valid")
    valid = _reshape(ctx, valid, (-1, 1), prefix, name, "valid_column")
    minus_one = ctx.net.add_constant((1, 1), np.array([[-1]], dtype=np.int64))
    _named(minus_one, prefix, name, "pad_value")
    padded = _named(ctx.net.add_select(valid, coordinates, minus_one.get_output(0)), prefix, name,
                    "pad").get_output(0)
    return padded, _reshape(ctx, count, (), prefix, name, "count_scalar")


def _register_nonzero_bounded() -> None:
    op = getattr(getattr(torch.ops, "trt_dyn", None), "nonzero_bounded", None)
    if op is None:
        return

    @converter_decorator(op.default, supports_dynamic_shapes=True)
    @_reported("nonzero_bounded")
    def convert_nonzero_bounded(ctx: Any, target: Any, args: Sequence[Any],
                                kwargs: Dict[str, Any], name: str) -> Any:
        mask = _itensor(ctx, args[0], f"{name}_mask")
        if len(mask.shape) == 0:
            raise fail(ctx, target, name, "nonzero_bounded of a 0-d tensor is not supported")
        return nonzero_bounded_layers(ctx, mask, FALLBACK_PREFIXES["nonzero_bounded"], name)


# --------------------------------------------------------------------------------------------
# trt_dyn::topk_dyn (k a run-time tensor)
# --------------------------------------------------------------------------------------------

#: TensorRT's documented TopK limit (static k); a run-time k above it is not guaranteed to run.
TOPK_MAX_K = 3840


def _assert_k_in_range(ctx: Any, work: Any, dim: int, k: Any, prefix: str, name: str) -> None:
    """torch.topk raises for k outside [0, size(dim)]; TensorRT also caps k at TOPK_MAX_K."""
    label = f"{prefix}:{name}"
    limit = shape_binary(ctx, "min", dim_of(ctx, work, dim, label), TOPK_MAX_K, label)
    negative = shape_compare(ctx, "lt", k, 0, label)
    too_large = shape_compare(ctx, "gt", k, limit, label)
    valid = shape_not(ctx, shape_or(ctx, [negative, too_large], label), label)
    assert_shape(ctx, valid, f"topk k must be in [0, min(size of dim {dim}, {TOPK_MAX_K})]", label)


def topk_dynamic_k(ctx: Any, source: Any, k: Any, dim: int, largest: bool, prefix: str,
                   name: str) -> Tuple[Any, Any]:
    """``torch.topk(source, k, dim, largest, sorted=True)`` with ``k`` an ITensor or int."""
    rank = len(source.shape)
    if not -max(rank, 1) <= dim < max(rank, 1):
        raise ValueError(f"dim {dim} is out of range for rank {rank}")
    dim %= max(rank, 1)
    work = source
    if rank < 2:
        # TensorRT's TopK needs rank >= 2: view [N] as [1, N] (and [] as [1, 1]).
        work = _reshape(ctx, source, (1, -1), prefix, name, "to_rank2")
        dim = 1
    k_scalar = as_scalar_tensor(ctx, k, f"{prefix}:{name}")
    _assert_k_in_range(ctx, work, dim, k_scalar, prefix, name)
    operation = trt.TopKOperation.MAX if largest else trt.TopKOperation.MIN
    layer = ctx.net.add_topk(work, operation, 1, 1 << dim)
    layer.set_input(1, k_scalar)
    if hasattr(layer, "indices_type"):
        layer.indices_type = trt.int64
    _named(layer, prefix, name, "topk")
    values, indices = layer.get_output(0), layer.get_output(1)
    indices = _cast(ctx, indices, trt.int64, prefix, name)
    if rank < 2:
        values = _reshape(ctx, values, (-1,), prefix, name, "values_rank1")
        indices = _reshape(ctx, indices, (-1,), prefix, name, "indices_rank1")
    return values, indices


def _register_topk_dyn() -> None:
    op = getattr(getattr(torch.ops, "trt_dyn", None), "topk_dyn", None)
    if op is None:
        return

    @converter_decorator(op.default, supports_dynamic_shapes=True)
    @_reported("topk_dyn")
    def convert_topk_dyn(ctx: Any, target: Any, args: Sequence[Any], kwargs: Dict[str, Any],
                         name: str) -> Any:
        values = list(args) + [None] * (5 - len(args))
        source, k, dim, largest = values[0], values[1], values[2], values[3]
        dim = kwargs.get("dim", -1 if dim is None else dim)
        largest = kwargs.get("largest", True if largest is None else largest)
        source = _itensor(ctx, source, f"{name}_self")
        if isinstance(k, torch.Tensor) and k.numel() == 1:
            k = int(k.reshape(()).item())
        if isinstance(k, int) and k > TOPK_MAX_K:
            raise fail(ctx, target, name, f"k={k} exceeds TensorRT's TopK limit of {TOPK_MAX_K}")
        if isinstance(k, trt.ITensor) and len(k.shape) > 1:
            raise fail(ctx, target, name, f"k must be a 0-d or [1] tensor, got shape {tuple(k.shape)}")
        try:
            return topk_dynamic_k(ctx, source, k, int(dim), bool(largest),
                                  FALLBACK_PREFIXES["topk_dyn"], name)
        except ValueError as err:
            raise fail(ctx, target, name, str(err)) from err


def _rank_below_2(node: Any, settings: Any = None) -> bool:
    value = node.args[0].meta.get("val") if isinstance(node.args[0], torch.fx.Node) else None
    return value is not None and value.dim() < 2


@converter_decorator(torch.ops.aten.topk.default, capability_validator=_rank_below_2,
                     supports_dynamic_shapes=True, priority=ConverterPriority.HIGH)
def convert_rank1_topk(ctx: Any, target: Any, args: Sequence[Any], kwargs: Dict[str, Any], name: str) -> Any:
    """aten.topk of a rank-0/1 tensor (detectron2's ``scores.flatten().topk(k)``): upstream hands it to TensorRT's
    TopK, which needs rank >= 2 ("at least 2 dimensions are required"); viewed as [1, N] like topk_dyn."""
    values = list(args) + [None] * (6 - len(args))
    k = values[1]
    dim = kwargs.get("dim", -1 if values[2] is None else values[2])
    largest = kwargs.get("largest", True if values[3] is None else values[3])
    if isinstance(k, int) and k > TOPK_MAX_K:
        raise fail(ctx, target, name, f"k={k} exceeds TensorRT's TopK limit of {TOPK_MAX_K}")
    try:
        return topk_dynamic_k(ctx, _itensor(ctx, values[0], f"{name}_self"), k, int(dim), bool(largest),
                              FALLBACK_PREFIXES["topk_dyn"], name)
    except ValueError as err:
        raise fail(ctx, target, name, str(err)) from err


@converter_decorator(torch.ops.aten.gather.default, supports_dynamic_shapes=True, priority=ConverterPriority.HIGH)
def convert_gather(ctx: Any, target: Any, args: Sequence[Any], kwargs: Dict[str, Any], name: str) -> Any:
    """aten.gather with upstream's conversion, an ELEMENT-mode gather (output shaped like the index, index dims
    at most the data's: torch.gather's rules) that reads no static size. Upstream registers it without
    ``supports_dynamic_shapes``, so in a dynamic graph the node was left to PyTorch."""
    values = list(args) + [None] * (4 - len(args))
    if kwargs.get("sparse_grad", values[3]):
        raise fail(ctx, target, name, "sparse_grad=True is not supported")
    return upstream_gather(ctx, target, name, _itensor(ctx, values[0], f"{name}_self"),
                           int(kwargs.get("dim", values[1])), _itensor(ctx, values[2], f"{name}_index"))


# --------------------------------------------------------------------------------------------
# Static inputs feeding a data-dependent size: declared with a dynamic dim 0 (min = opt = max)
# --------------------------------------------------------------------------------------------


def inputs_feeding_data_dependent_sizes(graph_module: torch.fx.GraphModule) -> set:
    """Names of the placeholders from which a data-dependent (unbacked) size is computed."""
    from ..lowering.float_sizes import _unbacked

    reaching: Dict[Node, frozenset] = {}
    feeding: set = set()
    for node in graph_module.graph.nodes:
        if node.op == "placeholder":
            # only tensor inputs: a SymInt placeholder (torch.compile's size inputs) is fed as a scalar
            is_tensor = isinstance(node.meta.get("val"), torch.Tensor)
            reaching[node] = frozenset([node.name]) if is_tensor else frozenset()
            continue
        sources = frozenset().union(*[reaching.get(arg, frozenset()) for arg in node.all_input_nodes])
        reaching[node] = sources
        # the node creating the data-dependent size (nonzero, x[mask]), not the ones consuming it
        if node.op == "call_function" and _unbacked(node.meta.get("val")) and \
                not any(_unbacked(arg.meta.get("val")) for arg in node.all_input_nodes):
            feeding |= sources
    return feeding


def _relax_static_input(interpreter: Any, tensor: Any) -> None:
    """Measured on TensorRT-RTX 1.6: in a network whose inputs are all static, a Slice sized by a count
    computed from the data fails at ``getDimensions`` (a rank-1 float input is taken as a shape tensor,
    "Network input x is a shape tensor and must have type Int32 or Int64"; a (6, 4) input trips an
    internal shape-analyser assertion), whether the count comes from a Reduce, a Cumulative, a MatMul or a
    cast chain. The same network builds once the input's dim 0 is declared -1 with a min = opt = max
    profile at the static size, so the engine still accepts exactly the static shape."""
    static = tuple(tensor.shape)
    if not static or -1 in static or tensor.is_shape_tensor:
        return
    tensor.shape = (-1,) + static[1:]
    for profile in optimization_profiles(interpreter):
        profile.set_shape(tensor.name, static, static, static)


def relax_inputs_feeding_data_dependent_sizes(interpreter: Any, node: Optional[Node], tensor: Any) -> None:
    """Placeholder callback: a static input from which a data-dependent size is computed gets a dynamic dim 0."""
    if not _use_compaction():
        return
    feeding = interpreter.__dict__.get("_trt_dyn_feeding_sizes")
    if feeding is None:
        feeding = interpreter._trt_dyn_feeding_sizes = inputs_feeding_data_dependent_sizes(interpreter.module)
    if node is not None and node.name in feeding:
        _relax_static_input(interpreter, tensor)


after_placeholder(relax_inputs_feeding_data_dependent_sizes)
_register_nonzero_bounded()
_register_topk_dyn()

__all__ = [
    "FALLBACK_PREFIXES",
    "TOPK_MAX_K",
    "count_fallback_layers",
    "compact_true_positions",
    "truthy",
    "unravel_positions",
    "nonzero_exact",
    "nonzero_bounded_layers",
    "masked_put",
    "topk_dynamic_k",
]
