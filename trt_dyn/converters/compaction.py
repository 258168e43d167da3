"""Selection without a NonZero layer, as plain functions of ITensors (the converters are in ``selection.py``).

TensorRT-RTX 1.6 has ``add_non_zero`` but its builder has no runner for it ("has no runners"), so
upstream torch_tensorrt refuses ``aten.nonzero`` and boolean ``aten.index`` there and partitions.
What *does* build on RTX (measured, see docs/data_dependent.md) is a Slice whose size is computed
from execution tensors, a Scatter, a Cumulative sum and a TopK whose k is a tensor. nonzero is built
from those (stream compaction):

* ``flat = reshape(mask, [-1])``, ``before = cumsum(flat) - flat`` (true elements before each one);
* every element gets a destination: true ones ``before`` (row-major order, as nonzero), false ones
  ``count + (i - before)``, a permutation of ``0..M-1`` so the Scatter never sees duplicates;
* scattering ``arange(M)`` to those destinations puts the flat positions of the true elements first;
  dividing by the row-major strides gives coordinates. ``[:count]`` is eager's ``nonzero`` exactly.

Every layer a fallback adds carries a name prefix from :data:`FALLBACK_PREFIXES`;
:func:`count_fallback_layers` counts them in a built network (a proxy for the GPU cost of a fallback).
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from .._hooks import get_trt_tensor
from .._trt import trt
from .shape_tensor import (
    as_scalar_tensor,
    as_shape_tensor,
    assert_shape,
    cast_int64,
    concat_shapes,
    dim_of,
    gather_dims,
    int64_constant,
    name_layer,
    shape_binary,
    shape_compare,
    shape_decided,
    shape_not,
    shape_items,
    shape_of,
    shape_or,
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
        label = f"{prefix}:{name}"
        size = as_shape_tensor(ctx, [rows_1d] + shape_items(ctx, tensor, label, list(range(1, rank))), label)
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


def unravel_positions(ctx: Any, positions: Any, source: Any, rank: int, prefix: str,
                      name: str) -> Any:
    """``[M]`` flat row-major positions into ``[M, rank]`` coordinates of ``source`` (its run-time shape)."""
    columns: List[Any] = []
    stride: Optional[Any] = None
    label = f"{prefix}:{name}"
    for dim in reversed(range(rank)):
        size = as_shape_tensor(ctx, shape_items(ctx, source, label, [dim]), label)
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
        if dim == 0:
            break  # no dim left to divide by the stride past the first one: building it would add an unread layer
        stride = size if stride is None else _elementwise(
            ctx, stride, size, trt.ElementWiseOperation.PROD, prefix, name, f"stride{dim}")
    columns.reverse()
    if rank == 1:
        return columns[0]
    layer = ctx.net.add_concatenation(columns)
    layer.axis = 1
    return _named(layer, prefix, name, "coordinates").get_output(0)


def _itensor(ctx: Any, value: Any, name: str) -> Any:
    return get_trt_tensor(ctx, value, name)



def nonzero_exact(ctx: Any, mask: Any, prefix: str, name: str) -> Any:
    """``torch.nonzero(mask)``: ``[count, rank]`` int64, row-major order (slice by a run-time count)."""
    rank = len(mask.shape)
    if rank == 0:
        raise ValueError("nonzero of a 0-d tensor is not supported")
    positions, count, _ = compact_true_positions(ctx, mask, prefix, name)
    coordinates = unravel_positions(ctx, positions, mask, rank,
                                    prefix, name)
    return _slice_rows(ctx, coordinates, count, prefix, name)



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



def nonzero_bounded_layers(ctx: Any, mask: Any, prefix: str, name: str) -> Tuple[Any, Any]:
    """``(indices [numel, rank] int64 padded with -1, count 0-d int64)``."""
    rank = len(mask.shape)
    positions, count, numel = compact_true_positions(ctx, mask, prefix, name)
    coordinates = unravel_positions(ctx, positions, mask, rank,
                                    prefix, name)
    row = _arange(ctx, numel, prefix, name)
    valid = _elementwise(ctx, row, count, trt.ElementWiseOperation.LESS, prefix, name, "valid")
    valid = _reshape(ctx, valid, (-1, 1), prefix, name, "valid_column")
    minus_one = ctx.net.add_constant((1, 1), np.array([[-1]], dtype=np.int64))
    _named(minus_one, prefix, name, "pad_value")
    padded = _named(ctx.net.add_select(valid, coordinates, minus_one.get_output(0)), prefix, name,
                    "pad").get_output(0)
    return padded, _reshape(ctx, count, (), prefix, name, "count_scalar")



#: TensorRT's documented TopK limit (static k); a run-time k above it is not guaranteed to run.
TOPK_MAX_K = 3840


def _assert_k_in_range(ctx: Any, work: Any, dim: int, k: Any, prefix: str, name: str) -> None:
    """torch.topk raises for k outside [0, size(dim)]; TensorRT also caps k at TOPK_MAX_K."""
    label = f"{prefix}:{name}"
    limit = shape_binary(ctx, "min", dim_of(ctx, work, dim, label), TOPK_MAX_K, label)
    # only the violations the bounds leave possible: a decided-false one would be a constant the or leaves unread
    violations = [shape_compare(ctx, op, k, bound, label) for op, bound in (("lt", 0), ("gt", limit))
                  if shape_decided(ctx, op, k, bound) is not False]
    if not violations:
        return
    valid = shape_not(ctx, shape_or(ctx, violations, label), label)
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
