"""Sampling: Resize (NEAREST / LINEAR / CUBIC, every coordinate transformation, rounding mode and
single-pixel selector) and GridSample."""

from __future__ import annotations

import math
from typing import Any, List, Optional, Tuple

import torch
import torch.nn.functional as F

from ..._trt import trt
from .common import dims, fail, out_dtype, shape_values, unsupported
from .dtypes import FLOAT_TYPES

IM = trt.InterpolationMode
CT = trt.ResizeCoordinateTransformation
RM = trt.ResizeRoundMode
RS = trt.ResizeSelector
S = trt.SampleMode
Inputs = List[Optional[torch.Tensor]]


def _float32(value: float) -> float:
    return float(torch.tensor(value, dtype=torch.float32))


def _output_shape(layer: trt.IResizeLayer, x: torch.Tensor, extra: Optional[torch.Tensor]
                  ) -> Tuple[List[int], Optional[List[float]]]:
    """The output shape and, when the layer resizes by scales, the float32 scale of every axis."""
    rank = x.dim()
    if extra is not None:
        if extra.dtype in FLOAT_TYPES:
            scales = [float(v) for v in extra.float().reshape(-1).tolist()]
        else:
            shape = shape_values(layer, extra, "output shape")
            if len(shape) != rank:
                raise fail(layer, f"output shape {shape} does not have the input rank {rank}")
            return shape, None
    else:
        scales = [_float32(v) for v in (layer.scales or [])]
        if not scales:
            shape = list(dims(layer.shape))
            if len(shape) != rank:
                raise fail(layer, f"output shape {shape} does not have the input rank {rank}")
            return shape, None
    if len(scales) != rank:
        raise fail(layer, f"{len(scales)} scales for an input of rank {rank}")
    # each output dimension is floor(input dimension * scale), the scale being a float32
    return [int(math.floor(n * s)) for n, s in zip(x.shape, scales)], scales


def _source_coords(layer: Any, n_in: int, n_out: int, scale: Optional[float]) -> torch.Tensor:
    """Original (input) coordinate of every output index along one axis, in float64.

    ASYMMETRIC and HALF_PIXEL map with the length ratio ``in / out`` when the layer is given its
    output shape, and with ``1 / scale`` when it is given scales (ONNX Resize semantics, which
    TensorRT's ONNX parser implements by passing the scales to setScales; PyTorch's interpolate with
    ``scale_factor`` does the same). ALIGN_CORNERS always uses the lengths."""
    x = torch.arange(n_out, dtype=torch.float64)
    if n_out == 1 and layer.selector_for_single_pixel == RS.UPPER:
        return torch.zeros(1, dtype=torch.float64)
    ct = layer.coordinate_transformation
    if ct == CT.ALIGN_CORNERS:
        if n_out == 1:
            raise unsupported(layer, ct, "ALIGN_CORNERS with the FORMULA selector and an output length of 1 divides by zero")
        return x * (n_in - 1) / (n_out - 1)
    if ct == CT.ASYMMETRIC:
        return x / scale if scale is not None else x * (n_in / n_out)
    if ct == CT.HALF_PIXEL:
        return ((x + 0.5) / scale if scale is not None else (x + 0.5) * (n_in / n_out)) - 0.5
    raise unsupported(layer, ct, "coordinate transformation")


def _nearest_scaled_coords(layer: Any, n_in: int, n_out: int, scale: float) -> torch.Tensor:
    """Nearest-neighbour coordinates with a scale, in float32 as the GPU computes them.

    An output coordinate can land next to a rounding boundary (e.g. 17 / 1.7): whether TensorRT
    divides by the float32 scale or multiplies by its float32 reciprocal, which it does not
    document, then decides the input index. Refused when the two pick different inputs."""
    x = torch.arange(n_out, dtype=torch.float32)
    scale32 = torch.tensor(scale, dtype=torch.float32)
    offset = 0.5 if layer.coordinate_transformation == CT.HALF_PIXEL else 0.0
    divided = ((x + offset) / scale32 - offset).double()
    multiplied = ((x + offset) * (1 / scale32) - offset).double()
    differs = _nearest(layer, divided, n_in) != _nearest(layer, multiplied, n_in)
    if bool(differs.any()):
        i = int(differs.nonzero()[0, 0])
        raise unsupported(
            layer, IM.NEAREST,
            f"scale {scale:.9g}: output index {i} maps next to a rounding boundary "
            f"({float(divided[i]):.9g} or {float(multiplied[i]):.9g}); TensorRT does not document whether it "
            "divides by the scale or multiplies by its reciprocal, and the two pick different input indices",
        )
    return divided


def _nearest(layer: Any, coords: torch.Tensor, n_in: int) -> torch.Tensor:
    mode = layer.nearest_rounding
    if mode == RM.HALF_UP:
        idx = torch.floor(coords + 0.5)
    elif mode == RM.HALF_DOWN:
        idx = torch.ceil(coords - 0.5)
    elif mode == RM.FLOOR:
        idx = torch.floor(coords)
    elif mode == RM.CEIL:
        idx = torch.ceil(coords)
    else:
        raise unsupported(layer, mode, "nearest rounding mode")
    return idx.long().clamp(0, n_in - 1)


def _cubic_weights(t: torch.Tensor, a: float) -> torch.Tensor:
    """Keys cubic convolution weights for the taps at offsets -1, 0, 1, 2 of a fraction t."""
    def w(d: torch.Tensor) -> torch.Tensor:
        d = d.abs()
        near = ((a + 2) * d - (a + 3)) * d * d + 1
        far = ((a * d - 5 * a) * d + 8 * a) * d - 4 * a
        return torch.where(d <= 1, near, torch.where(d < 2, far, torch.zeros_like(d)))

    return torch.stack([w(t + 1), w(t), w(1 - t), w(2 - t)], dim=-1)


def _resize_axis(layer: Any, v: torch.Tensor, axis: int, n_out: int, mode: Any, scale: Optional[float]
                 ) -> torch.Tensor:
    n_in = v.shape[axis]
    if n_in == 0 or n_out == 0:
        shape = list(v.shape)
        shape[axis] = n_out
        if n_out and not n_in:
            raise fail(layer, f"cannot resize an empty axis {axis} to {n_out}")
        return v.new_zeros(shape)
    coords = _source_coords(layer, n_in, n_out, scale)
    if mode == IM.NEAREST:
        single_upper = n_out == 1 and layer.selector_for_single_pixel == RS.UPPER
        if scale is not None and layer.coordinate_transformation != CT.ALIGN_CORNERS and not single_upper:
            coords = _nearest_scaled_coords(layer, n_in, n_out, scale)
        return v.index_select(axis, _nearest(layer, coords, n_in))
    base = torch.floor(coords)
    t = coords - base
    base = base.long()
    if mode == IM.LINEAR:
        offsets = [0, 1]
        weights = torch.stack([1 - t, t], dim=-1)
    elif mode == IM.CUBIC:
        offsets = [-1, 0, 1, 2]
        weights = _cubic_weights(t, float(layer.cubic_coeff))
    else:
        raise unsupported(layer, mode, "interpolation mode")
    taps = torch.stack([base + o for o in offsets], dim=-1)  # [n_out, taps]
    inside = (taps >= 0) & (taps < n_in)
    if layer.exclude_outside:
        weights = torch.where(inside, weights, torch.zeros_like(weights))
        weights = weights / weights.sum(dim=-1, keepdim=True)
    taps = taps.clamp(0, n_in - 1)  # outside taps read the edge value
    moved = v.movedim(axis, -1)
    gathered = moved[..., taps.reshape(-1)].reshape(*moved.shape[:-1], n_out, len(offsets))
    result = (gathered * weights.to(v.dtype)).sum(dim=-1)
    return result.movedim(-1, axis)


def run_resize(layer: trt.IResizeLayer, inputs: Inputs) -> List[torch.Tensor]:
    x = inputs[0]
    extra = inputs[1] if len(inputs) > 1 else None
    mode = layer.resize_mode
    out_shape, scales = _output_shape(layer, x, extra)
    rank = x.dim()
    changed = [d for d in range(rank) if out_shape[d] != x.shape[d] or (scales is not None and scales[d] != 1.0)]
    limit = 2 if mode == IM.CUBIC else 3
    if changed and min(changed) < rank - min(limit, rank):
        raise unsupported(layer, mode, f"resizing axis {min(changed)}: {mode} resizes only the innermost {limit} axes")
    if mode not in (IM.NEAREST, IM.LINEAR, IM.CUBIC):
        raise unsupported(layer, mode, "interpolation mode")
    if mode != IM.NEAREST and x.dtype not in FLOAT_TYPES:
        raise unsupported(layer, mode, f"{x.dtype} input")
    v = x if mode == IM.NEAREST else x.to(torch.float64)
    # separable: interpolate the resized axes one after the other (exact for products of 1-D
    # weights, which is how linear / cubic interpolation are defined on grids). An axis is left
    # alone only where it maps every coordinate onto itself: same size and no scale other than 1.
    for axis in range(rank):
        scale = None if scales is None else scales[axis]
        if out_shape[axis] != x.shape[axis] or (scale is not None and scale != 1.0):
            v = _resize_axis(layer, v, axis, out_shape[axis], mode, scale)
    return [v.to(out_dtype(layer)).contiguous()]


_GRID_MODES = {IM.NEAREST: "nearest", IM.LINEAR: "bilinear", IM.CUBIC: "bicubic"}
_GRID_PADDING = {S.CLAMP: "border", S.FILL: "zeros", S.REFLECT: "reflection"}


def run_grid_sample(layer: trt.IGridSampleLayer, inputs: Inputs) -> List[torch.Tensor]:
    x, grid = inputs[0], inputs[1]
    interp = layer.interpolation_mode
    sample = layer.sample_mode
    if interp not in _GRID_MODES:
        raise unsupported(layer, interp, "interpolation mode")
    if sample not in _GRID_PADDING:
        raise unsupported(layer, sample, "sample mode (TensorRT supports CLAMP, FILL and REFLECT)")
    if x.dim() not in (4, 5) or grid.dim() != x.dim() or grid.shape[-1] != x.dim() - 2:
        raise fail(layer, f"input {tuple(x.shape)} and grid {tuple(grid.shape)} are not a rank-4/5 pair")
    if x.dim() == 5 and interp == IM.CUBIC:
        raise unsupported(layer, interp, "cubic sampling of a 5-D input")
    if x.dtype not in FLOAT_TYPES:
        raise unsupported(layer, interp, f"{x.dtype} input")
    y = F.grid_sample(
        x.double(), grid.double(), mode=_GRID_MODES[interp], padding_mode=_GRID_PADDING[sample],
        align_corners=bool(layer.align_corners),
    )
    return [y.to(out_dtype(layer))]


__all__ = ["run_resize", "run_grid_sample"]
