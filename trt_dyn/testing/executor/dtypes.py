"""TensorRT <-> torch data types, and the compute types the executor uses."""

from __future__ import annotations

from typing import Any

import torch

from ..._trt import TORCH_TO_TRT, TRT_TO_TORCH, trt  # noqa: F401  (re-exported)


FLOAT_TYPES = (torch.float32, torch.float16, torch.bfloat16)
INT_TYPES = (torch.int32, torch.int64, torch.int8, torch.uint8)


def to_torch_dtype(dtype: Any) -> torch.dtype:
    try:
        return TRT_TO_TORCH[dtype]
    except KeyError:
        raise TypeError(f"TensorRT data type {dtype} has no executor equivalent") from None


def is_float(t: torch.Tensor) -> bool:
    return t.dtype in FLOAT_TYPES


def compute(t: torch.Tensor) -> torch.Tensor:
    """The tensor in its compute type: floats in float32 (TensorRT accumulates reduced-precision
    floats in float32), integers in int64, bool kept."""
    if t.dtype in FLOAT_TYPES:
        return t.float()
    if t.dtype in INT_TYPES:
        return t.long()
    return t


def wrap_int(t: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Cast an int64 result to a narrower integer type with two's-complement wrap-around."""
    return t.to(dtype)


__all__ = ["TRT_TO_TORCH", "TORCH_TO_TRT", "FLOAT_TYPES", "INT_TYPES", "to_torch_dtype", "is_float", "compute"]
