"""Contractions: MatrixMultiply and Einsum."""

from __future__ import annotations

import re
from typing import Any, List, Optional

import torch

from ..._trt import trt
from .common import fail, out_dtype, unsupported
from .dtypes import FLOAT_TYPES

M = trt.MatrixOperation
Inputs = List[Optional[torch.Tensor]]


def _operand(layer: Any, x: torch.Tensor, op: Any, which: str):
    """(batch dims, operand as a batch of matrices, is_vector)."""
    if op == M.VECTOR:
        if x.dim() < 1:
            raise fail(layer, f"{which}: VECTOR operand needs rank >= 1")
        return list(x.shape[:-1]), x, True
    if x.dim() < 2:
        raise fail(layer, f"{which}: matrix operand needs rank >= 2 (use VECTOR for vectors)")
    if op == M.TRANSPOSE:
        x = x.transpose(-1, -2)
    elif op != M.NONE:
        raise unsupported(layer, op, f"{which} operation")
    return list(x.shape[:-2]), x, False


def run_matrix_multiply(layer: trt.IMatrixMultiplyLayer, inputs: Inputs) -> List[torch.Tensor]:
    a, b = inputs[0], inputs[1]
    if a.dtype != b.dtype:
        raise fail(layer, f"operands have different dtypes {a.dtype} and {b.dtype}")
    if a.dtype not in FLOAT_TYPES:
        raise unsupported(layer, None, f"matrix multiply of {a.dtype} operands")
    batch_a, x, vec_a = _operand(layer, a.float(), layer.op0, "input 0")
    batch_b, y, vec_b = _operand(layer, b.float(), layer.op1, "input 1")
    if len(batch_a) != len(batch_b):
        raise fail(layer, f"batch ranks differ: {tuple(a.shape)} vs {tuple(b.shape)}")
    batch = []
    for i, (p, q) in enumerate(zip(batch_a, batch_b)):
        if p != q and 1 not in (p, q):
            raise fail(layer, f"batch dim {i}: {p} vs {q} do not broadcast")
        batch.append(q if p == 1 else p)
    k_a = x.shape[-1]
    k_b = y.shape[-1] if vec_b else y.shape[-2]
    if k_a != k_b:
        raise fail(layer, f"inner dimensions differ: {k_a} vs {k_b}")
    if vec_a:
        x = x.unsqueeze(-2)
    if vec_b:
        y = y.unsqueeze(-1)
    x = x.expand(*batch, *x.shape[-2:])
    y = y.expand(*batch, *y.shape[-2:])
    result = torch.matmul(x, y)
    if vec_b:
        result = result.squeeze(-1)
    if vec_a:
        result = result.squeeze(-2 if not vec_b else -1)
    return [result.to(out_dtype(layer)).contiguous()]


_LABELS = re.compile(r"^[a-z]*$")


def run_einsum(layer: trt.IEinsumLayer, inputs: Inputs) -> List[torch.Tensor]:
    equation = str(layer.equation).replace(" ", "")
    tensors = [t for t in inputs if t is not None]
    if "..." in equation:
        raise unsupported(layer, equation, "ellipsis (TensorRT does not support it)")
    lhs = equation.split("->")[0]
    terms = lhs.split(",")
    if len(terms) != len(tensors):
        raise fail(layer, f"equation {equation!r} names {len(terms)} inputs, the layer has {len(tensors)}")
    for term, t in zip(terms, tensors):
        if not _LABELS.match(term):
            raise unsupported(layer, equation, "labels must be lower-case letters")
        if len(set(term)) != len(term):
            raise unsupported(layer, equation, "repeated labels in one input (diagonal; TensorRT does not support it)")
        if len(term) != t.dim():
            raise fail(layer, f"term {term!r} does not match an input of rank {t.dim()}")
    dtypes = {t.dtype for t in tensors}
    if len(dtypes) != 1:
        raise fail(layer, f"inputs have different dtypes {sorted(map(str, dtypes))}")
    kind = tensors[0].dtype
    if kind == torch.bool:
        raise unsupported(layer, equation, "bool inputs")
    if kind in FLOAT_TYPES:
        result = torch.einsum(equation, *[t.float() for t in tensors])
    else:
        result = torch.einsum(equation, *[t.long() for t in tensors])
    return [result.to(out_dtype(layer)).contiguous()]


__all__ = ["run_matrix_multiply", "run_einsum"]
