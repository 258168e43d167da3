"""Generators: Constant and Fill."""

from __future__ import annotations

import math
from typing import List, Optional

import torch

from ..._trt import trt
from .common import cached, dims, fail, out_dtype, shape_values, unsupported, weights_to_tensor

FO = trt.FillOperation
Inputs = List[Optional[torch.Tensor]]


def run_constant(layer: trt.IConstantLayer, inputs: Inputs) -> List[torch.Tensor]:
    def read() -> torch.Tensor:
        shape = dims(layer.shape)
        dtype = out_dtype(layer)
        weights = layer.weights
        tensor = weights_to_tensor(weights, dtype=layer.get_output(0).dtype)
        if tensor is None:
            if math.prod(shape) != 0:
                raise fail(layer, f"no weights for a constant of shape {shape}")
            return torch.zeros(shape, dtype=dtype)
        if tensor.numel() != math.prod(shape):
            raise fail(layer, f"{tensor.numel()} weights for a constant of shape {shape}")
        if tensor.dtype != dtype:
            raise fail(layer, f"weights of type {tensor.dtype} for an output declared {dtype}")
        return tensor.reshape(shape)

    return [cached(layer, "weights", read)]


def run_fill(layer: trt.IFillLayer, inputs: Inputs) -> List[torch.Tensor]:
    op = layer.operation
    if op != FO.LINSPACE:
        raise unsupported(layer, op, "random fills have no reproducible reference")
    dtype = out_dtype(layer)
    shape_in = inputs[0] if len(inputs) > 0 else None
    shape = shape_values(layer, shape_in, "shape") if shape_in is not None else list(dims(layer.shape))
    alpha_in = inputs[1] if len(inputs) > 1 else None
    beta_in = inputs[2] if len(inputs) > 2 else None
    rank = len(shape)
    if (alpha_in is None) != (beta_in is None):
        raise fail(layer, "alpha and beta must both be static or both be inputs")
    if alpha_in is not None:
        if beta_in.dim() != 1 or beta_in.numel() != rank:
            raise fail(layer, f"LINSPACE delta input must have shape [{rank}], got {tuple(beta_in.shape)}")
        start = alpha_in.reshape(())
        if alpha_in.numel() != 1:
            raise fail(layer, f"LINSPACE start input must be a scalar, got shape {tuple(alpha_in.shape)}")
        delta = beta_in
    else:
        if rank != 1:
            # static beta is one number; TensorRT documents a per-dimension delta only as an input
            raise unsupported(layer, op, f"static alpha/beta with a rank-{rank} output")
        alpha, beta = layer.alpha, layer.beta
        kind = torch.int64 if layer.is_alpha_beta_int64() else torch.float64
        start = torch.tensor(alpha, dtype=kind)
        delta = torch.tensor([beta], dtype=kind)
    if dtype.is_floating_point:
        start, delta = start.double(), delta.double()
    else:
        if start.dtype.is_floating_point or delta.dtype.is_floating_point:
            if not (float(start) == math.floor(float(start)) and bool((delta == torch.floor(delta)).all())):
                raise unsupported(layer, op, "non-integer start/delta for an integer output")
        start, delta = start.long(), delta.long()
    result = start.expand(shape).clone() if shape else start.clone()
    for axis in range(rank):
        view = [1] * rank
        view[axis] = shape[axis]
        result = result + torch.arange(shape[axis], dtype=torch.int64).reshape(view).to(start.dtype) * delta[axis]
    return [result.to(dtype)]


__all__ = ["run_constant", "run_fill"]
