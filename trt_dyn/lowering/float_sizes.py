"""Sizes computed through float arithmetic: made exact with integers, or refused with the reason.

A TensorRT shape value must stay integer: TensorRT-RTX's Myelin compiler refuses float shape
tensors ("Fp shape input to Myelin graph is not expected", the build returns None), and float32
is not Python's double anyway. So

* ``trunc(a / b)`` / ``int(a / b)`` of two ints becomes exact integer division when the signs of
  ``a`` and ``b`` are known from the symbols' ranges (floor division for equal signs, ceil division
  otherwise); ``ceil`` / ``floor`` of ``a / b`` are already exact (``EXACT_DIVISION``);
* any other float -> int conversion (``floor(n * 1.7)``, ``interpolate(recompute_scale_factor=True)``,
  torchvision's ``GeneralizedRCNNTransform.resize``) that reaches a shape argument is reported
  (:func:`float_size_reason`), so ``report()`` says what the build would refuse;
* a float ``arange`` has its length computed in float32 by the converter, torch computes it in
  double: :func:`arange_length_mismatch` compares both over every value of the symbols' ranges
  and the row is refused where they differ (or where the range is too large to check).
"""

from __future__ import annotations

import itertools
import math
import operator
from fractions import Fraction
from typing import Any, Collection, Dict, Optional, Sequence

import numpy as np
import torch
from torch.fx import Node
from torch.fx.experimental.symbolic_shapes import free_symbols

from .translation_map import EXACT_DIVISION, SYM_RULES

dyn = torch.ops.trt_dyn

#: the arange overloads, whose float length :func:`arange_length_mismatch` checks
ARANGE = (torch.ops.aten.arange.default, torch.ops.aten.arange.start, torch.ops.aten.arange.start_step)
#: float -> int conversions of a SymFloat (the Python builtins torch.export records)
FLOAT_TO_INT = (math.floor, math.ceil, math.trunc, torch.sym_int)
#: those that truncate toward zero
TRUNCATING = (math.trunc, torch.sym_int)
#: the most symbol assignments :func:`arange_length_mismatch` evaluates
MAX_CHECKED_VALUES = 200_000
#: ... when a leaf is a compound size expression (evaluated one assignment at a time)
MAX_EXPRESSION_VALUES = 20_000


class _TooManyValues(Exception):
    """A compound size expression over too many assignments to evaluate one by one."""

_FLOAT_SIZE = ("float arithmetic on a size ({expr}): TensorRT shape values must be integers (TensorRT-RTX "
               "refuses float shape tensors: 'Fp shape input to Myelin graph is not expected') and float32 is "
               "not Python's double; compute the size with integer ops (n * 17 // 10) or keep it static")


def _value(node: Any) -> Any:
    return node.meta.get("val") if isinstance(node, Node) else node


def _is_float(value: Any) -> bool:
    return isinstance(value, (float, torch.SymFloat))


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, torch.SymInt)) and not isinstance(value, bool)


def sign(value: Any) -> Optional[int]:
    """1 when ``value`` (an int or SymInt) is >= 0 over its whole range, -1 when <= 0, else None."""
    if isinstance(value, int):
        return 1 if value >= 0 else -1
    if not isinstance(value, torch.SymInt):
        return None
    bounds = value.node.shape_env.bound_sympy(value.node.expr)
    if bounds.lower >= 0:
        return 1
    if bounds.upper <= 0:
        return -1
    return None


def _int_division(node: Node) -> Optional[Sequence[Any]]:
    """The (a, b) operands when ``node`` converts ``a / b`` of two ints."""
    inner = node.args[0] if node.args else None
    if isinstance(inner, Node) and inner.target is operator.truediv and \
            all(_is_int(_value(a)) for a in inner.args):
        return inner.args
    return None


def exact_division_op(node: Node) -> Optional[Any]:
    """The integer division op computing float->int node ``node`` exactly, or None."""
    operands = _int_division(node)
    if operands is None:
        return None
    if node.target in EXACT_DIVISION:
        return EXACT_DIVISION[node.target]
    if node.target in TRUNCATING:
        signs = [sign(_value(a)) for a in operands]
        if None in signs:
            return None
        return dyn.floordiv_dyn.default if signs[0] == signs[1] else dyn.ceildiv_dyn.default
    return None


def float_size_reason(node: Node) -> Optional[str]:
    """Why SymInt node ``node`` cannot become an integer shape value, or None when it can."""
    if node.op != "call_function" or node.target not in FLOAT_TO_INT:
        return None
    operand = node.args[0] if node.args else None
    if not _is_float(_value(operand)) or exact_division_op(node) is not None or rational_scaling(node) is not None:
        return None
    if _int_division(node) is not None:
        return _FLOAT_SIZE.format(expr=f"{node.meta.get('val')}: the signs of the operands are not known "
                                       "from the ranges, so trunc is not a floor or ceil division")
    return _FLOAT_SIZE.format(expr=str(node.meta.get("val")))


# ---------------------------------------------------------------------------------------------
# float arange: torch's double length vs the converter's float32 length
# ---------------------------------------------------------------------------------------------

_NUMPY = {
    operator.add: np.add, operator.sub: np.subtract, operator.mul: np.multiply,
    operator.floordiv: np.floor_divide, operator.mod: np.mod, operator.neg: np.negative,
    torch.sym_max: np.maximum, torch.sym_min: np.minimum,
}


def _evaluate(value: Any, env: Dict[Any, np.ndarray], float_dtype: Any, memo: Dict[Node, np.ndarray]) -> np.ndarray:
    """``value`` for every assignment in ``env`` (symbol -> int64 array), floats in ``float_dtype``.

    float32 follows the dyn ops the converters build (every float shape value is float32, integer
    parts exact); float64 is what Python, and so torch, computes.
    """
    if isinstance(value, Node) and value in memo:
        return memo[value]
    fake = _value(value)
    if isinstance(fake, (bool, int, float)) or not free_symbols(fake):
        number = fake if not isinstance(fake, (torch.SymInt, torch.SymFloat)) else \
            (float(fake) if isinstance(fake, torch.SymFloat) else int(fake))
        return np.asarray(number, dtype=float_dtype if isinstance(number, float) else np.int64)
    node = value
    target = node.target if node.op == "call_function" else None
    if target not in SYM_RULES or target in (torch.ops.aten.sym_size.int, torch.ops.aten.sym_numel.default):
        # a leaf (a size, or anything already integer): exact from its symbolic expression
        expr = fake.node.expr
        if expr in env:
            result = env[expr]
        else:
            count = len(next(iter(env.values())))
            if count > MAX_EXPRESSION_VALUES:
                raise _TooManyValues(str(expr))
            result = np.array([int(expr.xreplace({s: int(env[s][i]) for s in expr.free_symbols}))
                               for i in range(count)], dtype=np.int64)
        memo[node] = result
        return result
    exact = exact_division_op(node) if target in FLOAT_TO_INT else None
    if exact is not None:
        a, b = (_evaluate(x, env, float_dtype, memo) for x in node.args[0].args)
        result = np.floor_divide(a, b) if exact is dyn.floordiv_dyn.default else -np.floor_divide(-a, b)
    else:
        args = [_evaluate(a, env, float_dtype, memo) for a in node.args[:SYM_RULES[target][1]]]
        if target is operator.truediv or target is torch.sym_float:
            args = [a.astype(float_dtype) for a in args]
            result = args[0] / args[1] if target is operator.truediv else args[0]
        elif target in (math.floor, math.ceil, math.trunc, torch.sym_int):
            rounding = {math.floor: np.floor, math.ceil: np.ceil}.get(target, np.trunc)
            result = rounding(args[0]).astype(np.int64)
        else:
            if any(a.dtype.kind == "f" for a in args):
                args = [a.astype(float_dtype) for a in args]
            result = _NUMPY[target](*args)
    memo[node] = result
    return result


def _torch_length(start: np.ndarray, end: np.ndarray, step: np.ndarray) -> np.ndarray:
    if all(a.dtype.kind == "i" for a in (start, end, step)):
        return -np.floor_divide(-(end - start), step)
    return np.ceil((end.astype(np.float64) - start) / step).astype(np.int64)


def _float32_length(start: np.ndarray, end: np.ndarray, step: np.ndarray) -> np.ndarray:
    if all(a.dtype.kind == "i" for a in (start, end, step)):
        return -np.floor_divide(-(end - start), step)
    start, end, step = (a.astype(np.float32) for a in (start, end, step))
    return np.ceil((end - start) / step).astype(np.int64)


def _grid(fakes: Sequence[Any]) -> Any:
    """(symbols, env: symbol -> int64 array over every assignment in their ranges), or a reason string."""
    symbolic = [f for f in fakes if isinstance(f, (torch.SymInt, torch.SymFloat))]
    symbols = sorted(set().union(*[free_symbols(f) for f in symbolic]), key=str)
    if not symbols:
        return symbols, {}
    shape_env = symbolic[0].node.shape_env
    ranges = []
    for symbol in symbols:
        bounds = shape_env.var_to_range.get(symbol)
        try:
            ranges.append(range(int(bounds.lower), int(bounds.upper) + 1))
        except (AttributeError, TypeError, OverflowError, ValueError):
            return f"{symbol} has no finite range, so not every value can be checked"
    if math.prod(len(r) for r in ranges) > MAX_CHECKED_VALUES:
        return f"the ranges of {', '.join(map(str, symbols))} are too large to check every value"
    grid = np.array(list(itertools.product(*ranges)), dtype=np.int64).reshape(-1, len(symbols))
    return symbols, {symbol: grid[:, i] for i, symbol in enumerate(symbols)}


def _first(env: Dict[Any, np.ndarray], index: int) -> str:
    return ", ".join(f"{symbol}={values[index]}" for symbol, values in env.items())


def arange_length_mismatch(values: Sequence[Any]) -> Optional[str]:
    """Why a float arange(start, end, step) (nodes or numbers) would not get torch's length, or None."""
    fakes = [_value(v) for v in values]
    if not any(_is_float(f) for f in fakes):
        return None
    grid = _grid(fakes)
    if isinstance(grid, str):
        return f"the float arange's length could differ from torch's (float32 here, double in torch): {grid}"
    symbols, env = grid
    if not symbols:
        return None
    try:
        exact = _torch_length(*[_evaluate(v, env, np.float64, {}) for v in values])
        single = _float32_length(*[_evaluate(v, env, np.float32, {}) for v in values])
    except _TooManyValues as too_many:
        return (f"the float arange's length could differ from torch's (float32 here, double in torch) and "
                f"{too_many} takes too many values to check")
    exact, single = np.broadcast_arrays(exact, single)
    wrong = np.nonzero(exact != single)[0]
    if wrong.size == 0:
        return None
    return (f"float arange length: at {_first(env, wrong[0])} torch (double) gives {max(int(exact[wrong[0]]), 0)} "
            f"elements, the TensorRT network (float32) would give {max(int(single[wrong[0]]), 0)} ({wrong.size} of "
            f"{len(exact)} values differ); use an integer arange and scale it (torch.arange(n) * 0.1)")


# ---------------------------------------------------------------------------------------------
# floor / ceil / trunc of (size * constant): exact integer arithmetic where it provably agrees
# ---------------------------------------------------------------------------------------------

#: largest denominator tried for the constant (1.7 -> 17/10, 0.1 -> 1/10)
MAX_DENOMINATOR = 1000


def _int_operand(value: Any) -> Optional[Any]:
    """The int expression ``A`` when ``value`` is ``A`` or ``sym_float(A)``."""
    if isinstance(value, Node) and value.target is torch.sym_float and _is_int(_value(value.args[0])):
        return value.args[0]
    return value if isinstance(value, Node) and _is_int(_value(value)) else None


def _scaled(node: Node) -> Optional[Any]:
    """(A, constant, divides) for ``A * c``, ``c * A`` or ``A / c`` (A an int expression, c a float)."""
    operand = node.args[0] if node.args else None
    if not isinstance(operand, Node) or operand.target not in (operator.mul, operator.truediv):
        return None
    left, right = operand.args
    if operand.target is operator.mul and isinstance(left, float):
        left, right = right, left
    if not isinstance(right, float) or right == 0 or not math.isfinite(right):
        return None
    inner = _int_operand(left)
    return None if inner is None else (inner, right, operand.target is operator.truediv)


def _rounded_ratio(a: np.ndarray, p: int, q: int, target: Any) -> np.ndarray:
    numerator = a * p
    if target is math.floor:
        return np.floor_divide(numerator, q)
    if target is math.ceil:
        return -np.floor_divide(-numerator, q)
    return np.sign(numerator) * np.floor_divide(np.abs(numerator), q)


#: bound assumed for a size whose range has no finite upper end (TensorRT sizes stay far below it)
UNBOUNDED_SIZE = 2 ** 31


def _dyadic_ratio(inner: Any, constant: float, divides: bool) -> Optional[Any]:
    """``(p, q)`` when ``A * c`` (or ``A / c``) is computed exactly in double for every ``A`` in range:
    ``c = p / q`` exactly (a double is a dyadic fraction) and ``|A * p| < 2**53``; dividing is exact only
    by a power of two."""
    p, q = constant.as_integer_ratio()
    if divides:
        if abs(p) & (abs(p) - 1):
            return None
        p, q = q, p
    if q < 0:
        p, q = -p, -q
    value = _value(inner)
    if isinstance(value, int):
        largest = abs(value)
    else:
        bounds = value.node.shape_env.bound_sympy(value.node.expr)
        try:
            largest = max(abs(int(bounds.lower)), abs(int(bounds.upper)))
        except (AttributeError, TypeError, OverflowError, ValueError):
            largest = UNBOUNDED_SIZE
    return (p, q) if largest * abs(p) < 2 ** 53 else None


def rational_scaling(node: Node) -> Optional[Any]:
    """``(A, p, q)`` when float->int node ``node`` (floor/ceil/trunc of ``A * c`` / ``A / c``) equals
    the same rounding of ``A * p / q`` for every value of its symbols (checked against Python's double
    arithmetic over their whole ranges), else None."""
    if node.op != "call_function" or node.target not in FLOAT_TO_INT:
        return None
    scaled = _scaled(node)
    if scaled is None:
        return None
    inner, constant, divides = scaled
    if node.target in TRUNCATING and sign(_value(inner)) is None:
        return None
    exact = _dyadic_ratio(inner, constant, divides)
    if exact is not None:
        return (inner,) + exact
    ratio = Fraction(constant).limit_denominator(MAX_DENOMINATOR)
    p, q = (ratio.denominator, ratio.numerator) if divides else (ratio.numerator, ratio.denominator)
    if q < 0:
        p, q = -p, -q
    grid = _grid([_value(inner)])
    if isinstance(grid, str) or not grid[0]:
        return None
    _, env = grid
    try:
        a = _evaluate(inner, env, np.float64, {})
        if np.abs(a).max(initial=0) * abs(p) >= 2 ** 62:
            return None
        expected = _evaluate(node, env, np.float64, {})
    except _TooManyValues:
        return None
    if not np.array_equal(np.broadcast_to(expected, a.shape), _rounded_ratio(a, p, q, node.target)):
        return None
    return inner, p, q


# ---------------------------------------------------------------------------------------------
# float graph inputs feeding a data-dependent size
# ---------------------------------------------------------------------------------------------

def _unbacked(value: Any) -> bool:
    shape = getattr(value, "shape", None)
    if shape is None:
        return False
    return any(str(symbol).startswith("u") for size in shape if isinstance(size, torch.SymInt)
               for symbol in free_symbols(size))


def inputs_sizing_data(gm: torch.fx.GraphModule, lifted: Collection[str] = ()) -> Dict[Node, Node]:
    """Nodes whose data-dependent output size (``x[mask]``, ``nonzero``) is computed from a graph input
    TensorRT would take as a shape tensor -> that input.

    TensorRT takes a small static network input whose values a size needs as a shape tensor. Measured on
    TensorRT-RTX 1.6 (``x[x.sum(1) > t]``, ``x[x > 0]``):

    * rank 0: a float input fails ("Network input t is a shape tensor and must have type Int32 or Int64"),
      an int one fails at build ("Optimization profile 0 is missing values for shape input tensor t":
      torch_tensorrt gives static inputs no profile values), whatever layers sit in between;
    * rank >= 1, static: the compaction converters declare such an input's dim 0 as -1 with a
      min = opt = max profile (``trt_dyn.converters.selection``), after which float and int inputs of
      shape (1,), (8,), (6, 4) build and match eager. Without the compaction converters (full TensorRT's
      native NonZero path, unmeasured here) a float input of rank 1 or with one element is still reported.
    """
    from ..converters.selection import _use_compaction

    relaxed = _use_compaction()
    reaching: Dict[Node, Node] = {}
    found: Dict[Node, Node] = {}
    for node in gm.graph.nodes:
        value = node.meta.get("val")
        if node.op == "placeholder":
            if node.name not in lifted and isinstance(value, torch.Tensor) and \
                    all(isinstance(size, int) for size in value.shape) and \
                    (value.dim() == 0 or (not relaxed and value.dtype.is_floating_point and
                                          (value.dim() <= 1 or all(size == 1 for size in value.shape)))):
                reaching[node] = node
            continue
        source = next((reaching[arg] for arg in node.all_input_nodes if arg in reaching), None)
        if source is None:
            continue
        reaching[node] = source
        # the node creating the data-dependent size, not every node downstream of it
        if node.op == "call_function" and _unbacked(value) and \
                not any(_unbacked(arg.meta.get("val")) for arg in node.all_input_nodes):
            found[node] = source
    return found
