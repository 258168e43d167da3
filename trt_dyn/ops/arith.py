"""Shape arithmetic: the SymInt / SymFloat expressions of an exported graph as tensor ops.

Operands are 0-d or 1-d shape tensors and broadcast elementwise. Integer operands give int64
results with Python's integer semantics (floor division and modulo round toward -inf); a float
operand (from ``sym_float`` / ``truediv``) gives float32, exact for integers below 2**24.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Optional

import torch

from ._registry import FLOAT_SHAPE_DTYPE, SHAPE_DTYPE, check_shape_tensor, define, new_shape_tensor, recall, remember


def _is_float(t: torch.Tensor) -> bool:
    return t.dtype.is_floating_point


def _result_dtype(a: torch.Tensor, b: torch.Tensor) -> torch.dtype:
    return FLOAT_SHAPE_DTYPE if _is_float(a) or _is_float(b) else SHAPE_DTYPE


def _operands(op: str, a: torch.Tensor, b: torch.Tensor):
    check_shape_tensor(op, "a", a, allow_float=True)
    check_shape_tensor(op, "b", b, allow_float=True)
    dtype = _result_dtype(a, b)
    return a.to(dtype), b.to(dtype), dtype


def _symbolic(fn: Callable, *known: Any) -> Optional[Any]:
    """Apply ``fn`` elementwise to remembered symbolic values (numbers or tuples, broadcast)."""
    if any(k is None for k in known):
        return None
    lengths = {len(k) for k in known if isinstance(k, tuple)}
    try:
        if not lengths:
            return fn(*known)
        (length,) = lengths if len(lengths) == 1 else (max(lengths),)
        rows = [k if isinstance(k, tuple) else (k,) * length for k in known]
        rows = [r * length if len(r) == 1 else r for r in rows]
        return tuple(fn(*items) for items in zip(*rows))
    except Exception:  # an expression sympy cannot build: fall back to unknown sizes
        return None


def _fake_binary(op: str, result_dtype: Callable[[torch.Tensor, torch.Tensor], torch.dtype],
                 symbolic: Callable[[Any, Any], Any]):
    def fake(a, b):
        check_shape_tensor(op, "a", a, allow_float=True)
        check_shape_tensor(op, "b", b, allow_float=True)
        shape = torch.broadcast_shapes(a.shape, b.shape)
        dtype = result_dtype(a, b)
        value = _symbolic(symbolic, recall(a), recall(b))
        if value is not None and dtype.is_floating_point:
            value = _symbolic(torch.sym_float, value)
        return remember(new_shape_tensor(shape, dtype), value)

    return fake


def _py_floordiv(a, b):
    return a // b


def _py_ceildiv(a, b):
    return -((-a) // b)


def _check_divisor(op: str, b: torch.Tensor) -> None:
    if not _is_float(b) and bool((b == 0).any()):
        raise ZeroDivisionError(f"trt_dyn::{op}: integer division by zero")


@define("add_dyn", "(Tensor a, Tensor b) -> Tensor")
def add_dyn(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``add_dyn(Tensor a, Tensor b) -> Tensor``: ``a + b``."""
    a, b, _ = _operands("add_dyn", a, b)
    return a + b


@define("sub_dyn", "(Tensor a, Tensor b) -> Tensor")
def sub_dyn(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``sub_dyn(Tensor a, Tensor b) -> Tensor``: ``a - b``."""
    a, b, _ = _operands("sub_dyn", a, b)
    return a - b


@define("mul_dyn", "(Tensor a, Tensor b) -> Tensor")
def mul_dyn(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``mul_dyn(Tensor a, Tensor b) -> Tensor``: ``a * b``."""
    a, b, _ = _operands("mul_dyn", a, b)
    return a * b


@define("floordiv_dyn", "(Tensor a, Tensor b) -> Tensor")
def floordiv_dyn(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``floordiv_dyn(Tensor a, Tensor b) -> Tensor``: Python ``a // b`` (rounds toward -inf)."""
    a, b, _ = _operands("floordiv_dyn", a, b)
    _check_divisor("floordiv_dyn", b)
    return torch.div(a, b, rounding_mode="floor")


@define("ceildiv_dyn", "(Tensor a, Tensor b) -> Tensor")
def ceildiv_dyn(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``ceildiv_dyn(Tensor a, Tensor b) -> Tensor``: ``-((-a) // b)``, i.e. ``ceil(a / b)`` computed exactly."""
    a, b, _ = _operands("ceildiv_dyn", a, b)
    _check_divisor("ceildiv_dyn", b)
    return -torch.div(-a, b, rounding_mode="floor")


@define("mod_dyn", "(Tensor a, Tensor b) -> Tensor")
def mod_dyn(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``mod_dyn(Tensor a, Tensor b) -> Tensor``: Python ``a % b`` (result has the sign of ``b``)."""
    a, b, _ = _operands("mod_dyn", a, b)
    _check_divisor("mod_dyn", b)
    return torch.remainder(a, b)


@define("min_dyn", "(Tensor a, Tensor b) -> Tensor")
def min_dyn(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``min_dyn(Tensor a, Tensor b) -> Tensor``: elementwise ``min(a, b)`` (``torch.sym_min``)."""
    a, b, _ = _operands("min_dyn", a, b)
    return torch.minimum(a, b)


@define("max_dyn", "(Tensor a, Tensor b) -> Tensor")
def max_dyn(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``max_dyn(Tensor a, Tensor b) -> Tensor``: elementwise ``max(a, b)`` (``torch.sym_max``)."""
    a, b, _ = _operands("max_dyn", a, b)
    return torch.maximum(a, b)


@define("truediv_dyn", "(Tensor a, Tensor b) -> Tensor")
def truediv_dyn(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``truediv_dyn(Tensor a, Tensor b) -> Tensor``: ``a / b`` as float32."""
    check_shape_tensor("truediv_dyn", "a", a, allow_float=True)
    check_shape_tensor("truediv_dyn", "b", b, allow_float=True)
    if bool((b == 0).any()):
        raise ZeroDivisionError("trt_dyn::truediv_dyn: division by zero")
    return a.to(torch.float64).div(b.to(torch.float64)).to(FLOAT_SHAPE_DTYPE)


_SYMBOLIC_BINARY = {
    add_dyn: lambda a, b: a + b,
    sub_dyn: lambda a, b: a - b,
    mul_dyn: lambda a, b: a * b,
    floordiv_dyn: _py_floordiv,
    ceildiv_dyn: _py_ceildiv,
    mod_dyn: lambda a, b: a % b,
    min_dyn: torch.sym_min,
    max_dyn: torch.sym_max,
}
for _op, _fn in _SYMBOLIC_BINARY.items():
    _op.register_fake(_fake_binary(_op._name, _result_dtype, _fn))
truediv_dyn.register_fake(_fake_binary("truediv_dyn", lambda a, b: FLOAT_SHAPE_DTYPE, lambda a, b: a / b))


def _unary(name: str, doc: str, result_dtype: Callable[[torch.Tensor], torch.dtype],
           compute: Callable[[torch.Tensor], torch.Tensor], symbolic: Callable[[Any], Any]):
    def eager(a: torch.Tensor) -> torch.Tensor:
        check_shape_tensor(name, "a", a, allow_float=True)
        return compute(a).to(result_dtype(a), copy=True)

    eager.__name__ = name
    eager.__doc__ = doc
    op = define(name, "(Tensor a) -> Tensor")(eager)

    @op.register_fake
    def _(a):
        check_shape_tensor(name, "a", a, allow_float=True)
        return remember(new_shape_tensor(a.shape, result_dtype(a)), _symbolic(symbolic, recall(a)))

    return op


def _same_kind(a: torch.Tensor) -> torch.dtype:
    return FLOAT_SHAPE_DTYPE if _is_float(a) else SHAPE_DTYPE


neg_dyn = _unary("neg_dyn", "``neg_dyn(Tensor a) -> Tensor``: ``-a``.", _same_kind, torch.neg, lambda a: -a)
float_dyn = _unary(
    "float_dyn", "``float_dyn(Tensor a) -> Tensor``: ``torch.sym_float(a)``, as float32.",
    lambda a: FLOAT_SHAPE_DTYPE, lambda a: a, torch.sym_float,
)
int_dyn = _unary(
    "int_dyn", "``int_dyn(Tensor a) -> Tensor``: ``torch.sym_int(a)`` / ``int(a)``: truncate toward zero, int64.",
    lambda a: SHAPE_DTYPE, torch.trunc, torch.sym_int,
)
ceil_dyn = _unary(
    "ceil_dyn", "``ceil_dyn(Tensor a) -> Tensor``: ``math.ceil(a)`` as int64 (identity on ints).",
    lambda a: SHAPE_DTYPE, lambda a: torch.ceil(a) if _is_float(a) else a, math.ceil,
)
floor_dyn = _unary(
    "floor_dyn", "``floor_dyn(Tensor a) -> Tensor``: ``math.floor(a)`` as int64 (identity on ints).",
    lambda a: SHAPE_DTYPE, lambda a: torch.floor(a) if _is_float(a) else a, math.floor,
)
