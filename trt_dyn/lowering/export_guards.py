"""Conditions torch.export recorded on input sizes become checks inside the engine.

``torch.export`` follows one branch of ``if h > w`` (or of ``h % 32 == 0``) and records the
condition as a guard. ``ExportedProgram.module()`` checks the guards on every call, but
torch_tensorrt drops that check and a TensorRT optimization profile holds only per-dimension
ranges, so an input inside the ranges that breaks a guard ran the traced branch: a wrong result,
silently. This pass puts each guard the ranges do not already imply into the engine as a
``trt_dyn::shape_guard_dyn`` node (an ``IAssertionLayer``: TensorRT refuses the input shapes
before anything runs). A guard that cannot be written with integer size arithmetic is refused
before conversion, with the line of user code that made it.

Only exported programs need this: under ``torch.compile`` dynamo checks its own guards and
recompiles.
"""

from __future__ import annotations

import functools
import os
import traceback
import warnings
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
from torch.fx import GraphModule, Node

from . import settings
from .report import DynReport, MissingDynVariantError, MissingEntry
from .toolbox import generate_code_on_first_use, input_dims_by_symbol, input_sizes, source_location

_OP_NAME = "trt_dyn.shape_guard_dyn.default"


@dataclass(frozen=True)
class InputSizeGuard:
    """One guard on input sizes that the optimization profile's ranges do not imply."""

    expr: Any                       #: the sympy condition over input-size symbols
    source: str                     #: ``file:line`` of the user code that made it, or ``<unknown>``
    code: str                       #: that location as torch reports it (file, line, function)


def _shape_env(gm: GraphModule) -> Optional[Any]:
    for _, _, size in input_sizes(gm.graph):
        if isinstance(size, torch.SymInt):
            return size.node.shape_env
    return None


def _input_dims(gm: GraphModule) -> Dict[Any, Tuple[Node, int]]:
    """symbol -> (tensor placeholder, dim) of the first input dimension whose size is that symbol."""
    return {symbol: dims[0] for symbol, dims in input_dims_by_symbol(gm.graph).items()}


#: largest number of size combinations checked one by one when interval arithmetic proves nothing
EXHAUSTIVE_LIMIT = 1 << 22


def _evaluated_over_ranges(expr: Any, shape_env: Any) -> Optional[Tuple[List[Any], List[Tuple[int, int]], Any]]:
    """(symbols, their ``(low, high)`` ranges, the condition at every combination of sizes as a boolean array indexed
    like the ranges) when there are at most :data:`EXHAUSTIVE_LIMIT` combinations (NumPy's ``//`` and ``%`` round
    toward -inf as Python's do); None when there are more, a range is unbounded or the condition is no integer
    arithmetic."""
    import numpy as np

    ranges = {s: shape_env.var_to_range[s] for s in expr.free_symbols if s in shape_env.var_to_range}
    try:
        text, symbols = guard_expression(expr, vectorised=True)
        spans = [(int(ranges[s].lower), int(ranges[s].upper)) for s in symbols]
        affordable = bool(spans) and np.prod([hi - lo + 1 for lo, hi in spans], dtype=np.float64) <= EXHAUSTIVE_LIMIT
    except (ValueError, KeyError, TypeError, OverflowError, AttributeError):  # unsupported, or an unbounded range
        return None
    if not affordable:
        return None
    grids = np.meshgrid(*[np.arange(lo, hi + 1, dtype=np.int64) for lo, hi in spans], indexing="ij")
    with np.errstate(divide="ignore", invalid="ignore"):
        holds = eval(text, {"__builtins__": {}, **_vectorised_names()}, {f"v{i}": g for i, g in enumerate(grids)})
    return symbols, spans, np.broadcast_to(np.asarray(holds, dtype=bool), grids[0].shape)


def _implied_by_ranges(expr: Any, shape_env: Any) -> bool:
    """True when the condition holds for every size inside the symbols' ranges: checked at every combination of
    sizes (:func:`_evaluated_over_ranges`) when affordable, else proven by interval arithmetic (False: not
    proven)."""
    import sympy
    from torch.utils._sympy.value_ranges import bound_sympy

    evaluated = _evaluated_over_ranges(expr, shape_env)
    if evaluated is not None:
        return bool(evaluated[2].all())
    ranges = {s: shape_env.var_to_range[s] for s in expr.free_symbols if s in shape_env.var_to_range}
    try:
        return bound_sympy(expr, ranges).lower == sympy.true
    except Exception:  # no interval rule for some function: not proven
        return False


def _ordinal(number: int) -> str:
    suffix = "th" if 10 <= number % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    return f"{number}{suffix}"


def _listed(values: Sequence[int]) -> str:
    """Sizes in a few words: ``8 to 40``, ``8, 10, ..., 40 (every 2nd)``, runs, or the first few."""
    if not values:
        return "no size"
    steps = {b - a for a, b in zip(values, values[1:])}
    if len(values) <= 4:
        return ", ".join(map(str, values))
    if steps == {1}:
        return f"{values[0]} to {values[-1]}"
    if len(steps) == 1:
        step = steps.pop()
        return f"{values[0]}, {values[1]}, ..., {values[-1]} (every {_ordinal(step)})"
    runs: List[List[int]] = []
    for value in values:
        if runs and value == runs[-1][-1] + 1:
            runs[-1].append(value)
        else:
            runs.append([value])
    if len(runs) <= 4:
        return ", ".join(str(r[0]) if len(r) == 1 else f"{r[0]} to {r[-1]}" for r in runs)
    return ", ".join(map(str, values[:6])) + f", ... ({len(values)} sizes)"


def _where_it_holds(expr: Any, shape_env: Any, dims: Dict[Any, Tuple[Node, int]]) -> str:
    """Which input sizes of the profile satisfy the guard, for its message ("" when too many to check): the sizes
    of a one-size guard; for more, the traced example and the first combination that fails."""
    import numpy as np

    evaluated = _evaluated_over_ranges(expr, shape_env)
    if evaluated is None:
        return ""
    symbols, spans, holds = evaluated
    names = [f"{dims[s][0].name}.size()[{dims[s][1]}]" for s in symbols]
    if len(symbols) == 1:
        return f"; within the profile it holds for {names[0]} = " + \
            _listed([spans[0][0] + int(i) for i in np.flatnonzero(holds)])
    traced = [shape_env.var_to_val.get(s) for s in symbols]
    text = ""
    if all(value is not None for value in traced):
        text = "; it holds at the traced " + ", ".join(f"{n}={int(v)}" for n, v in zip(names, traced))
    failing = np.argwhere(~holds)
    if len(failing):
        first = [spans[i][0] + int(offset) for i, offset in enumerate(failing[0])]
        text += (" and fails" if text else "; it fails") + " e.g. at " + \
            ", ".join(f"{n}={v}" for n, v in zip(names, first))
    return text


def _location(guard: Any) -> Tuple[str, str]:
    sloc = getattr(guard, "sloc", None)
    user = getattr(sloc, "maybe_user_loc", None)
    if user:  # "file.py:12 in forward"
        return user.split(" in ")[0].strip(), user
    frame = getattr(sloc, "framework_loc", None)
    if isinstance(frame, traceback.FrameSummary):
        return f"{frame.filename}:{frame.lineno}", (frame.line or "").strip()
    return "<unknown>", str(sloc or "")


_TORCH_DIR = os.path.dirname(torch.__file__) + os.sep
#: torch code that only computes tensor metadata (strides, contiguity, wrapper-tensor sizes and strides)
_METADATA_ONLY_SOURCES = (os.path.join(_TORCH_DIR, "_prims_common") + os.sep,
                          os.path.join(_TORCH_DIR, "_subclasses", "functional_tensor.py"))


def _layout_only(guard: Any) -> bool:
    """A guard torch made while choosing a memory layout: raised inside torch (not user code), either in
    code that only computes metadata (:data:`_METADATA_ONLY_SOURCES`: stride/contiguity helpers, the
    functionalization wrapper's sizes and strides) or comparing contiguous strides, which torch writes as
    products of ``Max(1, size)``. TensorRT tensors have no strides and every layout branch
    computes the same values, so these are not conditions of the engine."""
    from torch.utils._sympy.functions import Max

    frame = getattr(getattr(guard, "sloc", None), "framework_loc", None)
    filename = frame.filename if isinstance(frame, traceback.FrameSummary) else ""
    if not filename.startswith(_TORCH_DIR) or getattr(getattr(guard, "sloc", None), "maybe_user_loc", None):
        return False
    if filename.startswith(_METADATA_ONLY_SOURCES):
        return True
    return any(1 in m.args for m in guard.expr.atoms(Max))


def input_size_guards(gm: GraphModule) -> List[InputSizeGuard]:
    """The guards on ``gm``'s input sizes that its ranges (the engine's profile) do not imply, except those
    that only choose a memory layout (:data:`LAYOUT_ONLY_SOURCES`)."""
    shape_env = _shape_env(gm)
    if shape_env is None:
        return []
    seen = set()
    guards = []
    for guard in shape_env.guards:
        # symbols torch.export unified (x.size(0) == y.size(0) made s77 into s17) are read as the one kept;
        # that the input dims holding it are equal is checked by _unified_dims
        expr = guard.expr.xreplace(shape_env.replacements)
        if expr in seen or not expr.free_symbols or _layout_only(guard):
            continue
        seen.add(expr)
        if _implied_by_ranges(expr, shape_env):
            continue
        source, code = _location(guard)
        if source == "<unknown>" or source.startswith(_TORCH_DIR):
            source, code = _first_user_reading(gm, expr.free_symbols) or (source, code)
        guards.append(InputSizeGuard(expr, source, code))
    return guards


def _first_user_reading(gm: GraphModule, symbols: Any) -> Optional[Tuple[str, str]]:
    """``(file:line, code)`` of the first op with a user source line whose operands' sizes hold all of
    ``symbols``: where a guard was made when torch recorded only its own frame (guards made while torch_tensorrt
    re-traces the program for its decompositions carry no user frame)."""
    def sizes_of(value: Any) -> set:
        if isinstance(value, torch.Tensor):
            return set().union(*(size.node.expr.free_symbols for size in value.shape
                                 if isinstance(size, torch.SymInt)))
        if isinstance(value, (list, tuple)):
            return set().union(set(), *(sizes_of(item) for item in value))
        return set()

    for node in gm.graph.nodes:
        if node.op != "call_function" or not node.meta.get("stack_trace"):
            continue
        operands = [arg.meta.get("val") for arg in node.all_input_nodes] + [node.meta.get("val")]
        if symbols <= sizes_of(operands):
            source, code = source_location(node.meta["stack_trace"])
            if source != "<unknown>":
                return source, f"{code}  (the first op reading these sizes; torch recorded no user frame)"
    return None


# ---------------------------------------------------------------------------------------------
# sympy condition -> Python integer expression over v0, v1, ... (what the op carries)
# ---------------------------------------------------------------------------------------------

def _reduce(function: Any) -> Any:
    return lambda *values: functools.reduce(function, values)


_VECTORISED: Dict[str, Any] = {}


def _vectorised_names() -> Dict[str, Any]:
    import numpy as np

    if not _VECTORISED:
        _VECTORISED.update(minimum=_reduce(np.minimum), maximum=_reduce(np.maximum),
                           to_float=lambda v: np.asarray(v, dtype=np.float64),
                           true_div=lambda a, b: np.true_divide(a, b, dtype=np.float64),
                           ceil_to_int=lambda v: np.ceil(v).astype(np.int64),
                           floor_to_int=lambda v: np.floor(v).astype(np.int64))
    return _VECTORISED


def guard_expression(expr: Any, vectorised: bool = False) -> Tuple[str, List[Any]]:
    """``expr`` as a Python expression over ``v0, v1, ...`` (Python's integer semantics: ``//`` and
    ``%`` round toward -inf, as sympy's FloorDiv/Mod do) and the symbols ``v0, v1, ...`` stand for.
    ``vectorised`` writes it for NumPy arrays (``&``, ``|``, ``~``, ``minimum``, ``maximum``).
    Raises ``ValueError`` naming the function when ``expr`` uses anything else."""
    import sympy
    from torch.utils._sympy import functions as F

    symbols: List[Any] = []

    def name(symbol: Any) -> str:
        if symbol not in symbols:
            symbols.append(symbol)
        return f"v{symbols.index(symbol)}"

    def join(parts: Sequence[Any], separator: str) -> str:
        return "(" + separator.join(text(p) for p in parts) + ")"

    binary = {F.FloorDiv: "//", F.Mod: "%", F.PythonMod: "%", sympy.Mod: "%"}
    compare = {sympy.Eq: "==", sympy.Ne: "!=", sympy.Le: "<=", sympy.Lt: "<", sympy.Ge: ">=", sympy.Gt: ">"}
    calls = {F.Max: "max", F.Min: "min", sympy.Max: "max", sympy.Min: "min"}
    # float size arithmetic (arange lengths: ceil((end - start) / step)), evaluated in float64 as the traced
    # Python code did; only for deciding whether the ranges imply a guard: the engine has no such shape layers
    float_calls = {F.ToFloat: "to_float", F.FloatTrueDiv: "true_div", F.CeilToInt: "ceil_to_int",
                   F.FloorToInt: "floor_to_int"}

    def text(e: Any) -> str:
        if e is sympy.true or e is sympy.false:
            return str(bool(e))
        if e.is_Integer:
            return f"({int(e)})" if e < 0 else str(int(e))
        if e.is_Symbol:
            return name(e)
        kind = type(e)
        if kind is sympy.Add:
            return join(e.args, " + ")
        if kind is sympy.Mul:
            return join(e.args, " * ")
        if kind is sympy.Pow and e.exp.is_Integer and int(e.exp) >= 0:
            return f"({text(e.base)} ** {int(e.exp)})"
        if kind in binary:
            return f"({text(e.args[0])} {binary[kind]} {text(e.args[1])})"
        if kind in compare:
            return f"({text(e.lhs)} {compare[kind]} {text(e.rhs)})"
        if kind in calls:
            call = {"max": "maximum", "min": "minimum"}[calls[kind]] if vectorised else calls[kind]
            return f"{call}({', '.join(text(a) for a in e.args)})"
        if kind is sympy.And:
            return join(e.args, " & " if vectorised else " and ")
        if kind is sympy.Or:
            return join(e.args, " | " if vectorised else " or ")
        if kind is sympy.Not:
            return f"(~{text(e.args[0])})" if vectorised else f"(not {text(e.args[0])})"
        if vectorised and e.is_Float:
            return repr(float(e))
        if vectorised and kind in float_calls:
            return f"{float_calls[kind]}({', '.join(text(a) for a in e.args)})"
        raise ValueError(f"the guard uses {kind.__name__} ({e}), which has no integer shape arithmetic")

    return text(expr), symbols


def _unified_dims(gm: GraphModule) -> List[List[Tuple[Node, int]]]:
    """Input dimensions sharing one symbol (torch.export found them equal); each group has 2 or more."""
    return [dims for dims in input_dims_by_symbol(gm.graph).values() if len(dims) > 1]


def _readable(condition: str, symbols: Sequence[Any], dims: Dict[Any, Tuple[Node, int]]) -> str:
    for index in reversed(range(len(symbols))):
        node, dim = dims[symbols[index]]
        condition = condition.replace(f"v{index}", f"{node.name}.size()[{dim}]")
    return condition


def _problem(guard: InputSizeGuard, reason: str) -> MissingEntry:
    return MissingEntry(op="torch.export guard", node="<input sizes>", argument=str(guard.expr),
                        source=guard.source, code=guard.code,
                        reason=f"{reason}; with on_missing='warn' the compiled module does not check this guard")


def guard_problems(gm: GraphModule) -> List[MissingEntry]:
    """Guards the engine cannot check (not integer arithmetic of input sizes): refused, with source."""
    if not _dynamo_free():
        return []
    dims = _input_dims(gm)
    problems = []
    for guard in input_size_guards(gm):
        unknown = [s for s in guard.expr.free_symbols if s not in dims]
        if unknown:
            problems.append(_problem(guard, f"the guard reads {', '.join(map(str, unknown))}, which is no "
                                            "input size: an engine cannot check it"))
            continue
        try:
            guard_expression(guard.expr)
        except ValueError as error:
            problems.append(_problem(guard, str(error)))
    return problems


def _dynamo_free() -> bool:
    """Outside torch.compile (whose dynamo checks every guard itself and recompiles)."""
    return torch._guards.TracingContext.try_get() is None


def _guarded_output(gm: GraphModule) -> Optional[Tuple[Node, int]]:
    """The output the checks are chained onto: the first computed tensor output; a computed output whose traced
    value is unknown (upstream passes such as decompose_dynamic_slice_scatter add nodes without ``meta['val']``)
    when no other output qualifies."""
    output = next(n for n in reversed(gm.graph.nodes) if n.op == "output")
    flat = output.args[0] if isinstance(output.args[0], (list, tuple)) else (output.args[0],)
    computed = [index for index, value in enumerate(flat)
                if isinstance(value, Node) and value.op == "call_function"
                and isinstance(value.meta.get("val", torch.empty(())), torch.Tensor)]
    traced = [index for index in computed if isinstance(flat[index].meta.get("val"), torch.Tensor)]
    if traced or computed:
        return output, (traced or computed)[0]
    return None


def insert_guards(gm: GraphModule, on_missing: Optional[str] = None) -> int:
    """Add one ``shape_guard_dyn`` per unimplied guard on the first tensor output; returns how many.

    A guard the engine cannot check raises :class:`MissingDynVariantError` before the graph changes, or
    with ``on_missing="warn"`` is reported in a warning and left unchecked (the others are still added)."""
    problems = guard_problems(gm)
    if problems:
        report = DynReport(dynamic=True, missing=problems)
        if (on_missing or settings.get_on_missing()) == "raise":
            raise MissingDynVariantError(report)
        warnings.warn(str(report), stacklevel=2)
    unchecked = {entry.argument for entry in problems}
    checks = []  # (condition over v0, v1, ..., the input dims they read, message)
    if _dynamo_free():
        dims = _input_dims(gm)
        shape_env = _shape_env(gm)
        for guard in input_size_guards(gm):
            if str(guard.expr) in unchecked:
                continue
            condition, symbols = guard_expression(guard.expr)
            checks.append((condition, [dims[s] for s in symbols],
                           f"guard {_readable(condition, symbols, dims)} recorded by torch.export at {guard.source} "
                           "does not hold for these input sizes (the engine was built for inputs that satisfy it"
                           f"{_where_it_holds(guard.expr, shape_env, dims)})"))
        for group in _unified_dims(gm):
            names = [f"{node.name}.size()[{dim}]" for node, dim in group]
            checks.append((" and ".join(f"(v0 == v{i})" for i in range(1, len(group))), group,
                           f"{' and '.join(names)} must be equal: torch.export found them equal and made them "
                           "one size (an optimization profile cannot say so)"))
    if not checks:
        return 0
    target = _guarded_output(gm)
    if target is None:
        if problems or not input_size_guards(gm):
            return 0  # nothing computed: no traced branch to get wrong
        raise MissingDynVariantError(DynReport(dynamic=True, missing=[
            _problem(input_size_guards(gm)[0], "the program has no computed tensor output to attach the check to")]))
    output, index = target
    flat = list(output.args[0]) if isinstance(output.args[0], (list, tuple)) else [output.args[0]]
    guarded = flat[index]
    sizes: Dict[Tuple[Node, int], Node] = {}
    with gm.graph.inserting_before(output):
        for condition, sources, message in checks:
            for node, dim in sources:
                if (node, dim) not in sizes:
                    size = gm.graph.call_function(torch.ops.trt_dyn.sym_size_dyn.default, (node, dim))
                    size.meta["val"] = torch.ops.trt_dyn.sym_size_dyn.default(node.meta["val"], dim)
                    sizes[(node, dim)] = size
            new = gm.graph.call_function(torch.ops.trt_dyn.shape_guard_dyn.default,
                                         (guarded, [sizes[source] for source in sources], condition, message))
            if "val" in guarded.meta:
                new.meta["val"] = guarded.meta["val"]
            new.meta["stack_trace"] = guarded.meta.get("stack_trace")
            guarded = new
    flat[index] = guarded
    output.args = (type(output.args[0])(flat) if isinstance(output.args[0], (list, tuple)) else guarded,)
    gm.graph.lint()
    generate_code_on_first_use(gm)
    return len(checks)


def export_guard_pass(gm: GraphModule, settings_: Any = None) -> GraphModule:
    """torch_tensorrt post-lowering pass: :func:`insert_guards` when the lowering is enabled."""
    if settings.is_enabled():
        insert_guards(gm, settings.get_on_missing(settings_))
    return gm


__all__ = ["InputSizeGuard", "input_size_guards", "guard_expression", "guard_problems", "insert_guards",
           "export_guard_pass"]
