"""Element-wise families: ElementWise, Unary, Activation, Cast, Identity, Select, ParametricReLU."""

from __future__ import annotations

import math
from typing import Any, List, Optional

import torch

from ..._trt import trt
from .common import broadcast_shapes, fail, out_dtype, unsupported
from .dtypes import FLOAT_TYPES, INT_TYPES, compute

E = trt.ElementWiseOperation
U = trt.UnaryOperation
A = trt.ActivationType

Inputs = List[Optional[torch.Tensor]]


def _same_dtype(layer: Any, *tensors: torch.Tensor) -> None:
    dtypes = {t.dtype for t in tensors}
    if len(dtypes) != 1:
        raise fail(layer, f"operands must share one data type (strongly typed), got {sorted(map(str, dtypes))}")


def _int_div_trunc(layer: Any, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    if bool((b == 0).any()):
        raise fail(layer, "integer division by zero")
    return torch.div(a, b, rounding_mode="trunc")


def run_elementwise(layer: trt.IElementWiseLayer, inputs: Inputs) -> List[torch.Tensor]:
    a, b = inputs[0], inputs[1]
    _same_dtype(layer, a, b)
    shape = broadcast_shapes(layer, a.shape, b.shape)
    op = layer.op
    dtype = out_dtype(layer)
    x, y = compute(a).expand(shape), compute(b).expand(shape)
    kind = a.dtype
    if op in (E.AND, E.OR, E.XOR):
        if kind != torch.bool:
            raise fail(layer, f"{op} needs bool operands, got {kind}")
        fn = {E.AND: torch.logical_and, E.OR: torch.logical_or, E.XOR: torch.logical_xor}[op]
        return [fn(x, y).to(dtype)]
    if op in (E.EQUAL, E.GREATER, E.LESS):
        fn = {E.EQUAL: torch.eq, E.GREATER: torch.gt, E.LESS: torch.lt}[op]
        return [fn(x, y).to(dtype)]
    if kind == torch.bool:
        raise unsupported(layer, op, "arithmetic on bool operands")
    is_int = kind in INT_TYPES
    if op == E.SUM:
        result = x + y
    elif op == E.SUB:
        result = x - y
    elif op == E.PROD:
        result = x * y
    elif op == E.MAX:
        result = torch.maximum(x, y)
    elif op == E.MIN:
        result = torch.minimum(x, y)
    elif op == E.DIV:
        # integer DIV truncates toward zero (C / CUDA integer division)
        result = _int_div_trunc(layer, x, y) if is_int else x / y
    elif op == E.FLOOR_DIV:
        if is_int:
            if bool((y == 0).any()):
                raise fail(layer, "integer division by zero")
            result = torch.div(x, y, rounding_mode="floor")
        else:
            result = torch.floor(x / y)
    elif op == E.POW:
        if is_int:
            # exact integer powers are unambiguous only while they are exactly representable in
            # float32 as well (TensorRT does not document how integer POW is computed)
            if bool((y < 0).any()):
                raise unsupported(layer, op, "integer POW with a negative exponent")
            result = torch.pow(x, y)
            if bool((result.abs() >= 2**24).any()):
                raise unsupported(layer, op, "integer POW with a result beyond 2**24")
        else:
            result = torch.pow(x, y)
    else:
        raise unsupported(layer, op)
    return [result.to(dtype)]


_FLOAT_UNARY = {
    U.EXP: torch.exp,
    U.LOG: torch.log,
    U.SQRT: torch.sqrt,
    U.RECIP: torch.reciprocal,
    U.SIN: torch.sin,
    U.COS: torch.cos,
    U.TAN: torch.tan,
    U.SINH: torch.sinh,
    U.COSH: torch.cosh,
    U.ASIN: torch.asin,
    U.ACOS: torch.acos,
    U.ATAN: torch.atan,
    U.ASINH: torch.asinh,
    U.ACOSH: torch.acosh,
    U.ATANH: torch.atanh,
    U.CEIL: torch.ceil,
    U.FLOOR: torch.floor,
    U.ERF: torch.erf,
    U.ROUND: torch.round,  # half to even, as documented
}


def run_unary(layer: trt.IUnaryLayer, inputs: Inputs) -> List[torch.Tensor]:
    x = inputs[0]
    op = layer.op
    dtype = out_dtype(layer)
    if op == U.NOT:
        if x.dtype != torch.bool:
            raise fail(layer, f"NOT needs a bool input, got {x.dtype}")
        return [torch.logical_not(x).to(dtype)]
    if x.dtype == torch.bool:
        raise unsupported(layer, op, "on a bool input")
    v = compute(x)
    if op == U.ABS:
        return [torch.abs(v).to(dtype)]
    if op == U.NEG:
        return [torch.neg(v).to(dtype)]
    if op == U.SIGN:
        return [torch.sign(v).to(dtype)]
    if op in (U.ISINF, U.ISNAN):
        fn = torch.isinf if op == U.ISINF else torch.isnan
        return [fn(v).to(dtype)]
    fn = _FLOAT_UNARY.get(op)
    if fn is None:
        raise unsupported(layer, op)
    if x.dtype not in FLOAT_TYPES:
        raise unsupported(layer, op, f"on a {x.dtype} input")
    return [fn(v).to(dtype)]


def _activation(op: Any, x: torch.Tensor, alpha: float, beta: float) -> Optional[torch.Tensor]:
    if op == A.RELU:
        return torch.relu(x)
    if op == A.SIGMOID:
        return torch.sigmoid(x)
    if op == A.TANH:
        return torch.tanh(x)
    if op == A.LEAKY_RELU:
        return torch.where(x >= 0, x, alpha * x)
    if op == A.ELU:
        return torch.where(x >= 0, x, alpha * (torch.exp(x) - 1))
    if op == A.SELU:
        return torch.where(x > 0, beta * x, beta * (alpha * torch.exp(x) - alpha))
    if op == A.SOFTSIGN:
        return x / (1 + torch.abs(x))
    if op == A.SOFTPLUS:
        return alpha * torch.log(torch.exp(beta * x) + 1)
    if op == A.CLIP:
        return torch.maximum(torch.minimum(x, torch.tensor(beta, dtype=x.dtype)), torch.tensor(alpha, dtype=x.dtype))
    if op == A.HARD_SIGMOID:
        return torch.clamp(alpha * x + beta, 0.0, 1.0)
    if op == A.SCALED_TANH:
        return alpha * torch.tanh(beta * x)
    if op == A.THRESHOLDED_RELU:
        # API reference: f(x) = x if x > alpha else 0 (the operator page's max(0, x - alpha) disagrees)
        return torch.where(x > alpha, x, torch.zeros_like(x))
    if op == A.GELU_ERF:
        return 0.5 * x * (1 + torch.erf(math.sqrt(0.5) * x))
    if op == A.GELU_TANH:
        return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (0.044715 * x**3 + x)))
    return None


def run_activation(layer: trt.IActivationLayer, inputs: Inputs) -> List[torch.Tensor]:
    x = inputs[0]
    op = _activation_type(layer)
    dtype = out_dtype(layer)
    if x.dtype in (torch.int32, torch.int64):
        if op != A.RELU:
            raise unsupported(layer, op, f"on a {x.dtype} input (only RELU supports int32/int64)")
        return [torch.clamp_min(x, 0).to(dtype)]
    if x.dtype not in FLOAT_TYPES:
        raise unsupported(layer, op, f"on a {x.dtype} input")
    result = _activation(op, x.float(), float(layer.alpha), float(layer.beta))
    if result is None:
        raise unsupported(layer, op)
    return [result.to(dtype)]


def _activation_type(layer: Any) -> Any:
    # IActivationLayer.type shadows ILayer.type in the bindings: read the activation type through
    # the class property explicitly.
    return trt.IActivationLayer.type.fget(layer)


def run_cast(layer: trt.ICastLayer, inputs: Inputs) -> List[torch.Tensor]:
    return [_convert(layer, inputs[0], out_dtype(layer))]


def _convert(layer: Any, x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    if x.dtype in FLOAT_TYPES and dtype in INT_TYPES:
        # float -> integer truncates toward zero; NaN / out-of-range values are undefined
        if not bool(torch.isfinite(x).all()):
            raise fail(layer, "cast of a non-finite float to an integer type is undefined")
        info = torch.iinfo(dtype)
        v = x.double()
        if bool((v < info.min).any() or (v > info.max).any()):
            raise fail(layer, f"cast of an out-of-range value to {dtype} is undefined")
        return torch.trunc(v).to(dtype)
    return x.to(dtype)


def run_identity(layer: trt.IIdentityLayer, inputs: Inputs) -> List[torch.Tensor]:
    return [_convert(layer, inputs[0], out_dtype(layer))]


def run_select(layer: trt.ISelectLayer, inputs: Inputs) -> List[torch.Tensor]:
    condition, a, b = inputs[0], inputs[1], inputs[2]
    if condition.dtype != torch.bool:
        raise fail(layer, f"condition must be bool, got {condition.dtype}")
    _same_dtype(layer, a, b)
    shape = broadcast_shapes(layer, condition.shape, a.shape, b.shape)
    result = torch.where(condition.expand(shape), a.expand(shape), b.expand(shape))
    return [result.to(out_dtype(layer)).contiguous()]


def run_parametric_relu(layer: trt.IParametricReLULayer, inputs: Inputs) -> List[torch.Tensor]:
    x, slopes = inputs[0], inputs[1]
    _same_dtype(layer, x, slopes)
    if slopes.dim() != x.dim() or any(s not in (1, d) for s, d in zip(slopes.shape, x.shape)):
        raise fail(layer, f"slopes {tuple(slopes.shape)} must be unidirectionally broadcastable to {tuple(x.shape)}")
    v, s = compute(x), compute(slopes).expand(x.shape)
    return [torch.where(v >= 0, v, v * s).to(out_dtype(layer))]


__all__ = [
    "run_elementwise", "run_unary", "run_activation", "run_cast", "run_identity", "run_select",
    "run_parametric_relu",
]
