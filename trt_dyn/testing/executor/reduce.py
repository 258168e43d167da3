"""Reductions: Reduce, SoftMax, TopK, Cumulative, Normalization, NonZero."""

from __future__ import annotations

from typing import Any, List, Optional

import torch

from ..._trt import trt
from .common import axes_from_mask, fail, out_dtype, scalar_value, unsupported
from .dtypes import FLOAT_TYPES, INT_TYPES, compute

R = trt.ReduceOperation
Inputs = List[Optional[torch.Tensor]]


def _check_mask(layer: Any, mask: int, rank: int, what: str = "axes") -> List[int]:
    mask = int(mask)
    if mask < 0 or mask >> max(rank, 0):
        raise fail(layer, f"{what} bitmask {mask:#b} names an axis outside rank {rank}")
    return axes_from_mask(mask, rank)


def run_reduce(layer: trt.IReduceLayer, inputs: Inputs) -> List[torch.Tensor]:
    x = inputs[0]
    op = layer.op
    axes = _check_mask(layer, layer.axes, x.dim())
    keep = bool(layer.keep_dims)
    dtype = out_dtype(layer)
    if x.dtype == torch.bool:
        raise unsupported(layer, op, "reduction of a bool tensor")
    v = compute(x)
    if not axes:
        return [v.to(dtype)]
    if op == R.SUM:
        result = v.sum(dim=axes, keepdim=keep)
    elif op == R.PROD:
        result = v
        for a in sorted(axes, reverse=True):
            result = result.prod(dim=a, keepdim=keep)
    elif op in (R.MAX, R.MIN):
        if any(x.shape[a] == 0 for a in axes):
            raise fail(layer, f"{op} over an empty axis")
        result = v.amax(dim=axes, keepdim=keep) if op == R.MAX else v.amin(dim=axes, keepdim=keep)
    elif op == R.AVG:
        if x.dtype in INT_TYPES:
            raise unsupported(layer, op, "integer average (rounding is not documented)")
        result = v.mean(dim=axes, keepdim=keep)
    else:
        raise unsupported(layer, op)
    return [result.to(dtype)]


def _single_axis(layer: Any, mask: int, rank: int, what: str) -> int:
    axes = _check_mask(layer, mask, rank, what)
    if len(axes) != 1:
        raise fail(layer, f"{what} bitmask {int(mask):#b} must select exactly one axis")
    return axes[0]


def run_softmax(layer: trt.ISoftMaxLayer, inputs: Inputs) -> List[torch.Tensor]:
    x = inputs[0]
    if x.dtype not in FLOAT_TYPES:
        raise unsupported(layer, None, f"softmax of a {x.dtype} tensor")
    axis = _single_axis(layer, layer.axes, x.dim(), "axes")
    return [torch.softmax(x.float(), dim=axis).to(out_dtype(layer))]


def run_topk(layer: trt.ITopKLayer, inputs: Inputs) -> List[torch.Tensor]:
    x = inputs[0]
    k_input = inputs[1] if len(inputs) > 1 else None
    k = int(scalar_value(layer, k_input, "k")) if k_input is not None else int(layer.k)
    axis = _single_axis(layer, layer.axes, x.dim(), "axes")
    if k < 0 or k > x.shape[axis]:
        raise fail(layer, f"k={k} is outside [0, {x.shape[axis]}] for axis {axis}")
    op = layer.op
    if op not in (trt.TopKOperation.MAX, trt.TopKOperation.MIN):
        raise unsupported(layer, op)
    if x.dtype == torch.bool:
        raise unsupported(layer, op, "TopK of a bool tensor")
    v = compute(x)
    # stable sort: equal values keep their input order (TensorRT does not specify tie order)
    values, indices = torch.sort(v, dim=axis, descending=op == trt.TopKOperation.MAX, stable=True)
    values = values.narrow(axis, 0, k)
    indices = indices.narrow(axis, 0, k)
    return [values.to(out_dtype(layer, 0)).contiguous(), indices.to(out_dtype(layer, 1)).contiguous()]


def run_cumulative(layer: trt.ICumulativeLayer, inputs: Inputs) -> List[torch.Tensor]:
    x, axis_tensor = inputs[0], inputs[1]
    op = layer.op
    if op != trt.CumulativeOperation.SUM:
        raise unsupported(layer, op)
    if axis_tensor.dtype not in (torch.int32, torch.int64):
        raise fail(layer, f"axis input must be int32/int64, got {axis_tensor.dtype}")
    axis = int(scalar_value(layer, axis_tensor, "axis"))
    rank = x.dim()
    axis = axis + rank if axis < 0 else axis
    if not 0 <= axis < rank:
        raise fail(layer, f"axis {axis} out of range for rank {rank}")
    if x.dtype == torch.bool:
        raise unsupported(layer, op, "cumulative sum of a bool tensor")
    v = compute(x)
    if layer.reverse:
        v = v.flip(axis)
    result = torch.cumsum(v, dim=axis)
    if layer.exclusive:
        result = result - v
    if layer.reverse:
        result = result.flip(axis)
    return [result.to(out_dtype(layer))]


def run_normalization(layer: trt.INormalizationLayer, inputs: Inputs) -> List[torch.Tensor]:
    x, scale, bias = inputs[0], inputs[1], inputs[2]
    if x.dtype not in FLOAT_TYPES:
        raise unsupported(layer, None, f"normalization of a {x.dtype} tensor")
    rank = x.dim()
    axes = _check_mask(layer, layer.axes, rank)
    if not axes:
        raise fail(layer, "normalization needs at least one axis")
    groups = int(layer.num_groups)
    eps = float(layer.epsilon)
    v = x.float()
    s, b = scale.float(), bias.float()
    if s.shape != b.shape or s.dim() != rank:
        raise fail(layer, f"scale {tuple(s.shape)} and bias {tuple(b.shape)} must match and have rank {rank}")
    if groups == 1:
        for d, (a, c) in enumerate(zip(s.shape, x.shape)):
            if a not in (1, c):
                raise fail(layer, f"scale/bias {tuple(s.shape)} do not broadcast to {tuple(x.shape)}")
        mean = v.mean(dim=axes, keepdim=True)
        var = ((v - mean) ** 2).mean(dim=axes, keepdim=True)
        y = (v - mean) / torch.sqrt(var + eps) * s + b
        return [y.to(out_dtype(layer))]
    # group normalization: channels (axis 1) split into `groups`; statistics over each group's
    # channels and the masked axes
    if rank < 2 or 0 in axes or 1 in axes:
        raise unsupported(layer, groups, f"num_groups={groups} with axes {axes} (expected axes after the channel axis)")
    n, c = x.shape[0], x.shape[1]
    if c % groups:
        raise fail(layer, f"{c} channels do not split into {groups} groups")
    g = v.reshape(n, groups, c // groups, *x.shape[2:])
    red = [2] + [a + 1 for a in axes]
    mean = g.mean(dim=red, keepdim=True)
    var = ((g - mean) ** 2).mean(dim=red, keepdim=True)
    normed = (g - mean) / torch.sqrt(var + eps)
    if layer.is_v2:
        want = [1, c] + [1] * (rank - 2)
        if list(s.shape) != want:
            raise fail(layer, f"normalization v2 with groups needs scale/bias of shape {want}, got {tuple(s.shape)}")
        y = normed.reshape(x.shape) * s + b
    else:
        want = [1, groups] + [1] * (rank - 2)
        if list(s.shape) != want:
            raise fail(layer, f"group normalization (v1) needs scale/bias of shape {want}, got {tuple(s.shape)}")
        y = (normed * s.unsqueeze(2) + b.unsqueeze(2)).reshape(x.shape)
    return [y.to(out_dtype(layer))]


def run_non_zero(layer: trt.INonZeroLayer, inputs: Inputs) -> List[torch.Tensor]:
    x = inputs[0]
    indices = torch.nonzero(x != 0 if x.dtype != torch.bool else x, as_tuple=False)  # row-major
    return [indices.t().contiguous().to(out_dtype(layer))]


__all__ = ["run_reduce", "run_softmax", "run_topk", "run_cumulative", "run_normalization", "run_non_zero"]
