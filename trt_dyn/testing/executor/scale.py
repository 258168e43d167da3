"""Scale layer: (x * scale + shift) ^ power with UNIFORM / CHANNEL / ELEMENTWISE coefficients."""

from __future__ import annotations

import math
from typing import List, Optional

import torch

from ..._trt import trt
from .common import cached, fail, out_dtype, unsupported, weights_to_tensor
from .dtypes import FLOAT_TYPES

SM = trt.ScaleMode
Inputs = List[Optional[torch.Tensor]]


def run_scale(layer: trt.IScaleLayer, inputs: Inputs) -> List[torch.Tensor]:
    x = inputs[0]
    if x.dtype not in FLOAT_TYPES:
        raise unsupported(layer, layer.mode, f"{x.dtype} input")
    mode = layer.mode
    rank = x.dim()
    axis = int(layer.channel_axis)
    axis = axis + rank if axis < 0 else axis
    if mode == SM.UNIFORM:
        shape = [1] * rank
    elif mode == SM.CHANNEL:
        if not 0 <= axis < rank:
            raise fail(layer, f"channel axis {layer.channel_axis} out of range for rank {rank}")
        shape = [1] * rank
        shape[axis] = x.shape[axis]
    elif mode == SM.ELEMENTWISE:
        if not 0 <= axis < rank:
            raise fail(layer, f"channel axis {layer.channel_axis} out of range for rank {rank}")
        shape = [1] * axis + list(x.shape[axis:])
    else:
        raise unsupported(layer, mode)
    count = math.prod(shape)

    def coefficient(name: str, default: float) -> Optional[torch.Tensor]:
        w = cached(layer, name, lambda: weights_to_tensor(getattr(layer, name)))
        if w is None:
            return None
        if w.numel() != count:
            raise fail(layer, f"{mode}: {name} has {w.numel()} values, expected {count} for input {tuple(x.shape)}")
        return w.float().reshape(shape)

    v = x.float()
    s, t, p = coefficient("scale", 1.0), coefficient("shift", 0.0), coefficient("power", 1.0)
    if s is not None and t is not None:
        v = torch.addcmul(t, v, s)  # one pass: shift + x * scale
    elif s is not None:
        v = v * s
    elif t is not None:
        v = v + t
    if p is not None:
        v = torch.pow(v, p)
    return [v.to(out_dtype(layer))]


__all__ = ["run_scale"]
