"""Indexing: Gather (DEFAULT / ELEMENT / ND, num_elementwise_dims), Scatter (ELEMENT / ND), OneHot."""

from __future__ import annotations

import math
from typing import Any, List, Optional

import torch

from ..._trt import trt
from .common import fail, out_dtype, scalar_value, unsupported

G = trt.GatherMode
Inputs = List[Optional[torch.Tensor]]


def _indices(layer: Any, indices: torch.Tensor) -> torch.Tensor:
    if indices.dtype not in (torch.int32, torch.int64):
        raise fail(layer, f"indices must be int32/int64, got {indices.dtype}")
    return indices.long()


def _check_range(layer: Any, idx: torch.Tensor, size: int, what: str) -> None:
    # TensorRT documents 0 <= index < dim (negative indices are not wrapped)
    if idx.numel() and bool(((idx < 0) | (idx >= size)).any()):
        bad = idx[(idx < 0) | (idx >= size)][0].item()
        raise fail(layer, f"{what} index {bad} is outside [0, {size})")


def _axis(layer: Any, axis: int, rank: int) -> int:
    a = axis + rank if axis < 0 else axis
    if not 0 <= a < rank:
        raise fail(layer, f"axis {axis} out of range for rank {rank}")
    return a


def _gather_nd(layer: Any, data: torch.Tensor, idx: torch.Tensor, batch: int) -> torch.Tensor:
    q = idx.dim()
    if q < 1:
        raise fail(layer, "ND gather needs indices of rank >= 1")
    k = idx.shape[-1]
    r = data.dim()
    if batch + k > r:
        raise fail(layer, f"index tuples of length {k} with {batch} elementwise dims exceed data rank {r}")
    batch_shape = []
    for i in range(batch):
        a, b = data.shape[i], idx.shape[i]
        if a != b and 1 not in (a, b):
            raise fail(layer, f"elementwise dim {i}: data {a} and indices {b} do not broadcast")
        batch_shape.append(max(a, b) if 0 not in (a, b) else 0)
    data_b = data.expand(*batch_shape, *data.shape[batch:])
    idx_b = idx.expand(*batch_shape, *idx.shape[batch:])
    for j in range(k):
        _check_range(layer, idx_b[..., j], data.shape[batch + j], f"ND (component {j})")
    nb = math.prod(batch_shape)
    flat_data = data_b.reshape(nb, *data.shape[batch:])
    middle = list(idx.shape[batch:-1])
    flat_idx = idx_b.reshape(nb, -1, k)
    gathered = []
    for bi in range(nb):
        cols = tuple(flat_idx[bi, :, j] for j in range(k))
        gathered.append(flat_data[bi][cols])
    stacked = torch.stack(gathered) if gathered else flat_data.new_zeros((0, flat_idx.shape[1], *data.shape[batch + k:]))
    return stacked.reshape(*batch_shape, *middle, *data.shape[batch + k:])


def run_gather(layer: trt.IGatherLayer, inputs: Inputs) -> List[torch.Tensor]:
    data, indices = inputs[0], inputs[1]
    idx = _indices(layer, indices)
    mode = layer.mode
    ew = int(layer.num_elementwise_dims)
    dtype = out_dtype(layer)
    if mode == G.DEFAULT:
        axis = _axis(layer, int(layer.axis), data.dim())
        if ew not in (0, 1):
            raise fail(layer, f"DEFAULT gather allows num_elementwise_dims 0 or 1, got {ew}")
        _check_range(layer, idx, data.shape[axis], "gather")
        if ew == 0:
            result = data.index_select(axis, idx.reshape(-1)).reshape(
                (*data.shape[:axis], *idx.shape, *data.shape[axis + 1:])
            )
            return [result.to(dtype)]
        if axis == 0 or idx.dim() < 1:
            raise fail(layer, "with one elementwise dim, axis must be >= 1 and indices rank >= 1")
        a, b = data.shape[0], idx.shape[0]
        if a != b and 1 not in (a, b):
            raise fail(layer, f"elementwise dim: data {a} and indices {b} do not broadcast")
        n = max(a, b) if 0 not in (a, b) else 0
        data_b, idx_b = data.expand(n, *data.shape[1:]), idx.expand(n, *idx.shape[1:])
        parts = [
            data_b[i].index_select(axis - 1, idx_b[i].reshape(-1)).reshape(
                *data.shape[1:axis], *idx.shape[1:], *data.shape[axis + 1:]
            )
            for i in range(n)
        ]
        shape = (n, *data.shape[1:axis], *idx.shape[1:], *data.shape[axis + 1:])
        result = torch.stack(parts) if parts else data.new_zeros(shape)
        return [result.reshape(shape).to(dtype)]
    if mode == G.ELEMENT:
        if ew != 0:
            raise fail(layer, "ELEMENT gather requires num_elementwise_dims == 0")
        axis = _axis(layer, int(layer.axis), data.dim())
        if idx.dim() != data.dim():
            raise fail(layer, f"ELEMENT gather needs indices of rank {data.dim()}, got {idx.dim()}")
        for d in range(data.dim()):
            if d != axis and idx.shape[d] > data.shape[d]:
                raise fail(layer, f"indices dim {d} ({idx.shape[d]}) exceeds data dim ({data.shape[d]})")
        _check_range(layer, idx, data.shape[axis], "gather")
        return [torch.gather(data, axis, idx).to(dtype)]
    if mode == G.ND:
        return [_gather_nd(layer, data, idx, ew).to(dtype)]
    raise unsupported(layer, mode)


def run_scatter(layer: trt.IScatterLayer, inputs: Inputs) -> List[torch.Tensor]:
    data, indices, updates = inputs[0], inputs[1], inputs[2]
    idx = _indices(layer, indices)
    mode = layer.mode
    dtype = out_dtype(layer)
    if updates.dtype != data.dtype:
        raise fail(layer, f"updates dtype {updates.dtype} differs from data dtype {data.dtype}")
    out = data.clone()
    if mode == trt.ScatterMode.ELEMENT:
        axis = _axis(layer, int(layer.axis), data.dim())
        if idx.shape != updates.shape or idx.dim() != data.dim():
            raise fail(layer, f"ELEMENT scatter needs indices {tuple(idx.shape)} == updates {tuple(updates.shape)} of rank {data.dim()}")
        _check_range(layer, idx, data.shape[axis], "scatter")
        coords = list(torch.meshgrid(*[torch.arange(s) for s in idx.shape], indexing="ij"))
        coords[axis] = idx
        _check_collisions(layer, _flatten(coords, data.shape), updates.reshape(-1, 1), "element")
        out.scatter_(axis, idx, updates)
        return [out.to(dtype)]
    if mode == trt.ScatterMode.ND:
        k = idx.shape[-1]
        if k > data.dim():
            raise fail(layer, f"index tuples of length {k} exceed data rank {data.dim()}")
        want = tuple(idx.shape[:-1]) + tuple(data.shape[k:])
        if tuple(updates.shape) != want:
            raise fail(layer, f"ND scatter needs updates of shape {want}, got {tuple(updates.shape)}")
        cols = idx.reshape(-1, k)
        for j in range(k):
            _check_range(layer, cols[:, j], data.shape[j], f"ND scatter (component {j})")
        flat = _flatten([cols[:, j] for j in range(k)], data.shape[:k])
        _check_collisions(layer, flat, updates.reshape(cols.shape[0], math.prod(data.shape[k:])), "slice")
        out[tuple(cols[:, j] for j in range(k))] = updates.reshape(-1, *data.shape[k:])
        return [out.to(dtype)]
    raise unsupported(layer, mode)


_SAME_SIZE_INT = {1: torch.int8, 2: torch.int16, 4: torch.int32, 8: torch.int64}


def _check_collisions(layer: Any, targets: torch.Tensor, rows: torch.Tensor, what: str) -> None:
    """Several updates may target one place only if they are bit-for-bit equal: then every write
    order gives the same result. TensorRT leaves the winner among different updates undefined."""
    order = torch.argsort(targets, stable=True)
    ordered = targets[order]
    repeated = ordered[1:] == ordered[:-1]
    if not bool(repeated.any()):
        return
    bits = rows.contiguous()
    if bits.dtype.is_floating_point:
        bits = bits.view(_SAME_SIZE_INT[bits.element_size()])  # -0.0 != 0.0, NaN payloads compared
    bits = bits[order]
    differs = repeated & (bits[1:] != bits[:-1]).any(dim=-1)
    if bool(differs.any()):
        first = int(order[1:][differs][0])
        raise fail(
            layer,
            f"scatter indices write the same {what} more than once with different updates (update {first} "
            "and an earlier one): TensorRT leaves which write wins undefined",
        )


def _flatten(coords: List[torch.Tensor], shape: Any) -> torch.Tensor:
    flat = torch.zeros_like(coords[0].reshape(-1))
    for c, s in zip(coords, shape):
        flat = flat * s + c.reshape(-1)
    return flat


def run_one_hot(layer: trt.IOneHotLayer, inputs: Inputs) -> List[torch.Tensor]:
    indices, values, depth_t = inputs[0], inputs[1], inputs[2]
    idx = _indices(layer, indices)
    depth = int(scalar_value(layer, depth_t, "depth"))
    if depth <= 0:
        raise fail(layer, f"depth must be positive, got {depth}")
    if values.numel() != 2:
        raise fail(layer, f"values must hold [off, on], got shape {tuple(values.shape)}")
    off, on = values.reshape(2)[0], values.reshape(2)[1]
    rank = idx.dim() + 1
    axis = int(layer.axis)
    axis = axis + rank if axis < 0 else axis
    if not 0 <= axis < rank:
        raise fail(layer, f"axis {layer.axis} out of range for output rank {rank}")
    # ONNX semantics (TensorRT's operator example feeds such indices): negative indices count from
    # the end, indices outside [-depth, depth) give an all-off vector
    wrapped = torch.where(idx < 0, idx + depth, idx)
    classes = torch.arange(depth).reshape([depth] + [1] * idx.dim())
    hot = classes == wrapped.unsqueeze(0)  # [depth, *indices]
    hot = hot.movedim(0, axis)
    result = torch.where(hot, on, off)
    return [result.to(out_dtype(layer)).contiguous()]


__all__ = ["run_gather", "run_scatter", "run_one_hot"]
