"""Input specifications for dynamic-shape builds, checked against the exported program.

:func:`resolve_inputs` turns what a user passes (``torch_tensorrt.Input`` objects, example tensors,
plain dicts ``{"min": ..., "opt": ..., "max": ..., "dtype": ...}``, or nothing) into one validated
``torch_tensorrt.Input`` per user input of the exported program. With nothing given, min/opt/max come
from the export's ``Dim`` ranges (``ep.range_constraints``) and opt from the example the program was
traced with. Every error is an :class:`InputSpecError` naming the input.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple

import sympy
import torch
from torch.utils._sympy.numbers import int_oo
from torch.utils._sympy.value_ranges import ValueRanges, bound_sympy

from ._hooks import is_static_input
from ._trt import torch_tensorrt

Shape = Tuple[int, ...]

_TORCH_DTYPES = {
    torch.float32, torch.float16, torch.bfloat16, torch.int32, torch.int64, torch.bool, torch.int8,
    torch.uint8,
}


class InputSpecError(ValueError):
    """A user input's specification cannot describe the exported program's input."""

    def __init__(self, input_name: str, message: str):
        self.input_name = input_name
        super().__init__(f"input '{input_name}': {message}")


def user_input_nodes(exported_program: torch.export.ExportedProgram) -> List[torch.fx.Node]:
    user_inputs = set(exported_program.graph_signature.user_inputs)
    return [
        node
        for node in exported_program.graph.nodes
        if node.op == "placeholder" and node.name in user_inputs
    ]


def _dim_range(
    dim: Any, ranges: Dict[sympy.Symbol, ValueRanges]
) -> Tuple[int, int, int]:
    """(lower, upper, example) of one dimension of a placeholder's fake value."""
    if isinstance(dim, int):
        return dim, dim, dim
    expr = dim.node.expr
    bounds = bound_sympy(expr, ranges)
    example = dim.node.hint
    return bounds.lower, bounds.upper, int(example) if example is not None else None


def export_ranges(
    exported_program: torch.export.ExportedProgram,
) -> Dict[str, List[Tuple[int, Any, Optional[int]]]]:
    """Per user input, per dim: (lower, upper, example) as the export knows them (upper may be int_oo)."""
    ranges = dict(exported_program.range_constraints)
    result = {}
    for node in user_input_nodes(exported_program):
        value = node.meta.get("val")
        if not isinstance(value, torch.Tensor):
            continue
        result[node.name] = [_dim_range(dim, ranges) for dim in value.shape]
    return result


def _as_shape(name: str, which: str, value: Any) -> Shape:
    try:
        return tuple(int(v) for v in value)
    except (TypeError, ValueError) as err:
        raise InputSpecError(name, f"{which} must be a sequence of ints, got {value!r}") from err


def _from_dict(name: str, spec: Dict[str, Any]) -> "torch_tensorrt.Input":
    unknown = set(spec) - {"min", "opt", "max", "dtype", "shape"}
    if unknown:
        raise InputSpecError(name, f"unknown keys {sorted(unknown)}; use min/opt/max/dtype or shape")
    dtype = spec.get("dtype", torch.float32)
    if "shape" in spec:
        shape = _as_shape(name, "shape", spec["shape"])
        return _make_input(name, shape, shape, shape, dtype)
    missing = [key for key in ("min", "opt", "max") if key not in spec]
    if missing:
        raise InputSpecError(name, f"missing {missing}: give shape, or all of min/opt/max")
    return _make_input(
        name,
        _as_shape(name, "min", spec["min"]),
        _as_shape(name, "opt", spec["opt"]),
        _as_shape(name, "max", spec["max"]),
        dtype,
    )


def _make_input(name: str, lo: Shape, opt: Shape, hi: Shape, dtype: Any) -> "torch_tensorrt.Input":
    if isinstance(dtype, torch.dtype) and dtype not in _TORCH_DTYPES:
        raise InputSpecError(name, f"unsupported dtype {dtype}")
    try:
        if lo == opt == hi:
            return torch_tensorrt.Input(shape=lo, dtype=dtype, name=name)
        return torch_tensorrt.Input(min_shape=lo, opt_shape=opt, max_shape=hi, dtype=dtype, name=name)
    except (TypeError, ValueError) as err:
        raise InputSpecError(name, f"invalid specification ({err})") from err


def _normalise(name: str, spec: Any) -> "torch_tensorrt.Input":
    if isinstance(spec, torch_tensorrt.Input):
        if spec.dtype == torch_tensorrt.dtype.unknown:
            raise InputSpecError(name, "dtype is unknown; pass dtype= to torch_tensorrt.Input")
        return spec
    if isinstance(spec, torch.Tensor):
        return _make_input(name, tuple(spec.shape), tuple(spec.shape), tuple(spec.shape), spec.dtype)
    if isinstance(spec, dict):
        return _from_dict(name, spec)
    raise InputSpecError(name, f"expected torch_tensorrt.Input, Tensor or dict, got {type(spec).__name__}")


def _shapes(spec: "torch_tensorrt.Input") -> Tuple[Shape, Shape, Shape]:
    if is_static_input(spec):
        shape = tuple(spec.shape)
        return shape, shape, shape
    return (
        tuple(spec.shape["min_shape"]),
        tuple(spec.shape["opt_shape"]),
        tuple(spec.shape["max_shape"]),
    )


def _check_against_export(
    name: str,
    spec: "torch_tensorrt.Input",
    dims: List[Tuple[int, Any, Optional[int]]],
    placeholder_dtype: Optional[torch.dtype],
) -> None:
    lo, opt, hi = _shapes(spec)
    if not len(lo) == len(opt) == len(hi):
        raise InputSpecError(name, f"min/opt/max ranks differ: {lo}, {opt}, {hi}")
    if len(lo) != len(dims):
        raise InputSpecError(
            name, f"rank {len(lo)} does not match the exported program's rank {len(dims)}"
        )
    for axis, (a, b, c) in enumerate(zip(lo, opt, hi)):
        if not a <= b <= c:
            raise InputSpecError(name, f"dim {axis}: need min <= opt <= max, got {a}, {b}, {c}")
        lower, upper, _ = dims[axis]
        if a < lower or c > upper:
            kind = "static" if lower == upper else "dynamic"
            raise InputSpecError(
                name,
                f"dim {axis}: requested range [{a}, {c}] leaves the exported {kind} range "
                f"[{lower}, {upper}]",
            )
    if placeholder_dtype is not None:
        requested = spec.dtype.to(torch.dtype)
        if requested != placeholder_dtype:
            raise InputSpecError(
                name, f"dtype {requested} does not match the exported program's {placeholder_dtype}"
            )


def resolve_inputs(
    exported_program: torch.export.ExportedProgram,
    arg_inputs: Optional[Sequence[Any]] = None,
) -> List["torch_tensorrt.Input"]:
    """Validated ``torch_tensorrt.Input`` per user input (see module docstring)."""
    nodes = user_input_nodes(exported_program)
    ranges = export_ranges(exported_program)
    if arg_inputs is not None and len(arg_inputs) != len(nodes):
        raise InputSpecError(
            ",".join(node.name for node in nodes) or "<none>",
            f"{len(arg_inputs)} specs given for {len(nodes)} inputs",
        )
    resolved = []
    for index, node in enumerate(nodes):
        value = node.meta.get("val")
        dims = ranges.get(node.name)
        if dims is None:
            raise InputSpecError(node.name, "only tensor inputs are supported")
        if arg_inputs is None:
            spec = _from_export(node.name, dims, value.dtype)
        else:
            spec = _normalise(node.name, arg_inputs[index])
        _check_against_export(node.name, spec, dims, value.dtype)
        resolved.append(spec)
    return resolved


def _from_export(
    name: str, dims: List[Tuple[int, Any, Optional[int]]], dtype: torch.dtype
) -> "torch_tensorrt.Input":
    lo, opt, hi = [], [], []
    for axis, (lower, upper, example) in enumerate(dims):
        if upper is int_oo or upper == sympy.oo:
            raise InputSpecError(
                name,
                f"dim {axis} has no upper bound in the export; give Dim(max=...) or "
                "torch._check(size <= max) in the model, or pass explicit min/opt/max",
            )
        lo.append(int(lower))
        hi.append(int(upper))
        example = int(lower) if example is None else example
        opt.append(min(max(example, int(lower)), int(upper)))
    return _make_input(name, tuple(lo), tuple(opt), tuple(hi), dtype)


__all__ = ["InputSpecError", "resolve_inputs", "export_ranges", "user_input_nodes"]
