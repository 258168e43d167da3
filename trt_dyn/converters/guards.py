"""Converter of ``trt_dyn::shape_guard_dyn``: the guard condition as shape arithmetic + ``IAssertionLayer``.

The condition is the Python integer expression trt_dyn's lowering wrote (trt_dyn/lowering/export_guards.py);
it is parsed with ``ast`` and built from the shape-tensor helpers, so ``//`` and ``%`` keep Python's
rounding toward -inf. Constant parts are folded on the host. ``self`` passes through unchanged.
"""

from __future__ import annotations

import ast
import operator
from typing import Any, List, Union

from .._trt import trt
from .common import arg, converts
from .errors import fail
from .shape_tensor import (
    assert_shape,
    python_floordiv,
    python_mod,
    shape_all,
    shape_binary,
    shape_compare,
    shape_not,
    shape_or,
    to_scalar,
)

Value = Union[int, bool, "trt.ITensor"]

_HOST = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.FloorDiv: operator.floordiv,
         ast.Mod: operator.mod, ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt,
         ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge}


class _GuardBuilder:
    def __init__(self, ctx: Any, sizes: List["trt.ITensor"], name: str):
        self.ctx, self.sizes, self.name = ctx, sizes, name

    def build(self, node: ast.AST) -> Value:
        method = getattr(self, f"_{type(node).__name__}", None)
        if method is None:
            raise ValueError(f"unsupported syntax {type(node).__name__} in a guard condition")
        return method(node)

    def _Expression(self, node: ast.Expression) -> Value:
        return self.build(node.body)

    def _Constant(self, node: ast.Constant) -> Value:
        if not isinstance(node.value, (bool, int)):
            raise ValueError(f"non-integer constant {node.value!r} in a guard condition")
        return node.value

    def _Name(self, node: ast.Name) -> Value:
        if not node.id.startswith("v") or not node.id[1:].isdigit() or int(node.id[1:]) >= len(self.sizes):
            raise ValueError(f"unknown name {node.id!r} in a guard condition")
        return self.sizes[int(node.id[1:])]

    def _UnaryOp(self, node: ast.UnaryOp) -> Value:
        value = self.build(node.operand)
        if isinstance(node.op, ast.Not):
            return (not value) if isinstance(value, (bool, int)) else shape_not(self.ctx, value, self.name)
        if isinstance(node.op, ast.USub):
            return -value if isinstance(value, int) else shape_binary(self.ctx, "sub", 0, value, self.name)
        raise ValueError(f"unsupported unary {type(node.op).__name__} in a guard condition")

    def _BinOp(self, node: ast.BinOp) -> Value:
        left, right = self.build(node.left), self.build(node.right)
        kind = type(node.op)
        if kind is ast.Pow:
            if not isinstance(right, int) or right < 0:
                raise ValueError("a guard power needs a constant non-negative exponent")
            result: Value = 1
            for _ in range(right):
                result = self._arith(ast.Mult, result, left)
            return result
        if kind not in (ast.Add, ast.Sub, ast.Mult, ast.FloorDiv, ast.Mod):
            raise ValueError(f"unsupported operator {kind.__name__} in a guard condition")
        return self._arith(kind, left, right)

    def _arith(self, kind: type, left: Value, right: Value) -> Value:
        if isinstance(left, int) and isinstance(right, int):
            return _HOST[kind](left, right)
        if kind is ast.FloorDiv:
            return python_floordiv(self.ctx, left, right, self.name)
        if kind is ast.Mod:
            return python_mod(self.ctx, left, right, self.name)
        return shape_binary(self.ctx, {ast.Add: "add", ast.Sub: "sub", ast.Mult: "mul"}[kind], left, right, self.name)

    def _Call(self, node: ast.Call) -> Value:
        if not isinstance(node.func, ast.Name) or node.func.id not in ("min", "max") or node.keywords:
            raise ValueError("a guard condition calls only min and max")
        values = [self.build(a) for a in node.args]
        result = values[0]
        for value in values[1:]:
            if isinstance(result, int) and isinstance(value, int):
                result = min(result, value) if node.func.id == "min" else max(result, value)
            else:
                result = shape_binary(self.ctx, node.func.id, result, value, self.name)
        return result

    def _Compare(self, node: ast.Compare) -> Value:
        if len(node.ops) != 1:
            raise ValueError("a guard comparison has exactly two sides")
        left, right, kind = self.build(node.left), self.build(node.comparators[0]), type(node.ops[0])
        if isinstance(left, int) and isinstance(right, int):
            return _HOST[kind](left, right)
        if kind is ast.Eq:
            return shape_compare(self.ctx, "eq", left, right, self.name)
        if kind is ast.NotEq:
            return shape_not(self.ctx, shape_compare(self.ctx, "eq", left, right, self.name), self.name)
        if kind is ast.Lt:
            return shape_compare(self.ctx, "lt", left, right, self.name)
        if kind is ast.Gt:
            return shape_compare(self.ctx, "gt", left, right, self.name)
        if kind is ast.LtE:
            return shape_not(self.ctx, shape_compare(self.ctx, "gt", left, right, self.name), self.name)
        if kind is ast.GtE:
            return shape_not(self.ctx, shape_compare(self.ctx, "lt", left, right, self.name), self.name)
        raise ValueError(f"unsupported comparison {kind.__name__} in a guard condition")

    def _BoolOp(self, node: ast.BoolOp) -> Value:
        values = [self.build(v) for v in node.values]
        is_and = isinstance(node.op, ast.And)
        constants = [bool(v) for v in values if isinstance(v, (bool, int))]
        tensors = [v for v in values if not isinstance(v, (bool, int))]
        if constants and (not all(constants) if is_and else any(constants)):
            return not is_and  # False absorbs an and, True absorbs an or
        if not tensors:
            return is_and
        return (shape_all if is_and else shape_or)(self.ctx, tensors, self.name)


@converts("shape_guard_dyn")
def convert_shape_guard_dyn(ctx: Any, target: Any, args: Any, kwargs: Any, name: str) -> "trt.ITensor":
    """``shape_guard_dyn(self, sizes, condition, message)`` -> ``self``, with an assertion on the condition."""
    tensor = arg(args, kwargs, 0, "self")
    sizes = arg(args, kwargs, 1, "sizes")
    condition = arg(args, kwargs, 2, "condition")
    message = arg(args, kwargs, 3, "message")
    if not all(isinstance(size, trt.ITensor) for size in sizes):
        raise fail(ctx, target, name, "the guard's sizes must be shape tensors computed in the engine")
    try:
        sizes = [to_scalar(ctx, size, name) for size in sizes]
        value = _GuardBuilder(ctx, sizes, name).build(ast.parse(condition, mode="eval"))
    except ValueError as error:
        raise fail(ctx, target, name, f"{error}: {condition}") from error
    if isinstance(value, (bool, int)):
        if not value:
            raise fail(ctx, target, name, f"the guard is false for every input: {message}")
        return tensor
    assert_shape(ctx, value, message, name)
    return tensor
