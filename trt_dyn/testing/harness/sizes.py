"""The sizes a converter test runs at (min, opt, max, odd of every shape symbol) and its random inputs."""

from __future__ import annotations

import inspect
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import sympy
import torch
from torch.utils._sympy.value_ranges import bound_sympy

from ...inputs import user_input_nodes
from .export import SpecializationError, _placeholder_dims

Shape = Tuple[int, ...]
InputGenerator = Callable[..., torch.Tensor]


def _odd_inside(lo: int, hi: int, avoid: Sequence[int]) -> Optional[int]:
    for value in range(hi - 1, lo, -1):
        if value % 2 == 1 and value not in avoid:
            return value
    return None


def size_points(program: torch.export.ExportedProgram) -> List[Tuple[str, Dict[sympy.Symbol, int]]]:
    """Values of the program's shape symbols to test: all at min, opt (the traced example), max, and odd.

    "odd" puts every symbol at an odd value strictly inside its range when one exists (different
    from min/opt/max), else at its opt. Points whose values coincide are dropped.
    """
    symbols: Dict[sympy.Symbol, Tuple[int, int]] = {}
    ranges = dict(program.range_constraints)
    for node in user_input_nodes(program):
        for dim in node.meta["val"].shape:
            if isinstance(dim, int):
                continue
            for symbol in sorted(dim.node.expr.free_symbols, key=str):
                if symbol not in symbols:
                    bounds = bound_sympy(symbol, ranges)
                    if not (bounds.lower.is_finite and bounds.upper.is_finite):
                        raise SpecializationError(
                            f"input {node.name!r}: size {symbol} has no finite range {bounds}; "
                            "give it a maximum"
                        )
                    symbols[symbol] = (int(bounds.lower), int(bounds.upper))
    example = _example_values(program)
    points: List[Tuple[str, Dict[sympy.Symbol, int]]] = []
    for label in ("min", "opt", "max", "odd"):
        values = {}
        for symbol, (lo, hi) in symbols.items():
            opt = min(max(example.get(symbol, lo), lo), hi)
            if label == "min":
                values[symbol] = lo
            elif label == "opt":
                values[symbol] = opt
            elif label == "max":
                values[symbol] = hi
            else:
                odd = _odd_inside(lo, hi, (lo, opt, hi))
                values[symbol] = opt if odd is None else odd
        if any(values == seen for _, seen in points):
            continue
        points.append((label, values))
    return points


def _example_values(program: torch.export.ExportedProgram) -> Dict[sympy.Symbol, int]:
    values: Dict[sympy.Symbol, int] = {}
    for node in user_input_nodes(program):
        for dim in node.meta["val"].shape:
            if isinstance(dim, int) or not isinstance(dim.node.expr, sympy.Symbol):
                continue
            hint = dim.node.hint
            if hint is not None:
                values[dim.node.expr] = int(hint)
    return values


def _shapes_at(program: torch.export.ExportedProgram, values: Dict[sympy.Symbol, int]) -> List[Shape]:
    shapes = []
    for dims in _placeholder_dims(program):
        shape = []
        for dim in dims:
            if isinstance(dim, int):
                shape.append(dim)
            else:
                shape.append(int(dim.node.expr.subs(values)))
        shapes.append(tuple(shape))
    return shapes


def default_input(shape: Shape, dtype: torch.dtype, generator: torch.Generator) -> torch.Tensor:
    """Fresh random input: floats ~ N(0, 1), bools 50/50, integers uniform in [-8, 8] (uint8: [0, 16])."""
    if dtype.is_floating_point:
        return torch.randn(shape, generator=generator, dtype=torch.float32).to(dtype)
    if dtype == torch.bool:
        return torch.rand(shape, generator=generator) < 0.5
    if dtype == torch.uint8:
        return torch.randint(0, 17, shape, generator=generator, dtype=dtype)
    return torch.randint(-8, 9, shape, generator=generator, dtype=dtype)


def _call_generator(
    fn: InputGenerator, shape: Shape, dtype: torch.dtype, generator: torch.Generator, shapes: Dict[str, Shape]
) -> torch.Tensor:
    positional = [
        p
        for p in inspect.signature(fn).parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    if len(positional) >= 4:
        return fn(shape, dtype, generator, shapes)
    return fn(shape, dtype, generator)


__all__ = ["size_points", "default_input"]
