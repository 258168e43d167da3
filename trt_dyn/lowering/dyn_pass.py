"""The static -> dyn lowering pass, driven by :mod:`trt_dyn.lowering.translation_map`.

On a graph with at least one symbolic input dimension it

* turns every SymInt/SymFloat expression that reaches a consumer into shape-tensor ops
  (``sym_size.int`` -> ``sym_size_dyn``, ``operator.add`` -> ``add_dyn`` ...), created right after
  the node they replace, with Python numbers frozen by ``const`` / ``const_scalar``; sizes of one tensor
  side by side in a list (``x.shape[-2:]``) are one ``sym_sizes_dyn``, one read of that tensor's shape;
* replaces each consumer that receives a symbolic value in an int / int[] / Scalar slot with the
  dyn op of its :class:`DynRule` (static entries of the same list are frozen with ``const``);
* drops assertions on symbolic values (the TensorRT optimization profile enforces the ranges)
  and the now-dead SymInt nodes.

Rewritten nodes keep the original ``meta`` (``val`` with its precise symbolic shape,
``stack_trace``, ``nn_module_stack``); new shape-tensor nodes get a fake ``val`` and, under
``meta["trt_dyn_symbolic"]``, the symbolic value they compute. A graph without symbolic inputs is
not touched at all (its generated code stays byte-identical).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import gc
import math
import warnings
from typing import Any, Collection, Dict, FrozenSet, Iterator, List, Optional, Sequence, Tuple, Union

import torch
from torch.fx import GraphModule, Node
from torch._subclasses.fake_tensor import FakeTensor
from torch.fx.experimental.symbolic_shapes import free_symbols

from ..ops._registry import DEFINITIONS, recall, run_fake_kernel_directly
from . import settings
from .export_guards import guard_problems
from .float_sizes import (ARANGE, arange_length_mismatch, exact_division_op, inputs_sizing_data,
                          float_size_reason, rational_scaling, sign)
from .pytorch_fallback import leave_to_pytorch
from .report import DynReport, MissingDynVariantError, MissingEntry, source_location
from .toolbox import (bind_arguments as _bind, generate_code_on_first_use, graph_fake_mode, input_dims_by_symbol,
                      input_sizes, op_name as _op_name, schema_arguments, schema_default)
from .segment_local import localise_shape_values
from .specialised_inputs import specialised_inputs
from .translation_map import ASSERTIONS, RULES, SYM_RULES, SYM_SUM, DynRule

dyn = torch.ops.trt_dyn
_SYM_TYPES = (torch.SymInt, torch.SymFloat, torch.SymBool)
_STATIC_TYPES = (bool, int, float) + _SYM_TYPES
_META_KEYS = ("stack_trace", "nn_module_stack", "source_fn_stack", "from_node", "seq_nr")


# ---------------------------------------------------------------------------------------------
# Classifying values
# ---------------------------------------------------------------------------------------------

def _is_symbolic(value: Any) -> bool:
    return isinstance(value, _SYM_TYPES) and bool(free_symbols(value))


#: node -> (its meta['val'] and target when classified, kind) while a pass runs (see :func:`_kinds_memoised`)
_KIND_MEMO: Optional[Dict[Node, Tuple[Any, Any, str]]] = None
_NO_VAL = object()


@contextlib.contextmanager
def _kinds_memoised() -> Iterator[None]:
    """Classify each node once per pass: :func:`_kind` is asked ~15 times per node (analysis, builder, erasure) and
    a SymInt's answer walks its sympy expression (``free_symbols``). An entry holds the ``val`` and target it was
    computed from and is recomputed when either is replaced (``leave_to_pytorch`` retargets nodes as it asks), so a
    rewritten node is never answered stale."""
    global _KIND_MEMO
    if _KIND_MEMO is not None:  # nested (lower -> analyse): the outer pass's memo serves both
        yield
        return
    _KIND_MEMO = {}
    try:
        yield
    finally:
        _KIND_MEMO = None


def _memoising_kinds(fn: Any) -> Any:
    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        with _kinds_memoised():
            return fn(*args, **kwargs)

    return run


def _kind(node: Node) -> str:
    """'symbolic' (a SymInt/SymFloat/SymBool expression), 'static' (a Python number, or a Sym* that
    specialised), or 'tensor' (anything else)."""
    value = node.meta.get("val", _NO_VAL)
    if isinstance(value, torch.Tensor):  # most asks: what _classify answers first, without the memo's look-up
        return "tensor"
    memo = _KIND_MEMO
    if memo is None:
        return _classify(node)
    known = memo.get(node)
    if known is not None and known[0] is value and known[1] is node.target:
        return known[2]
    kind = _classify(node)
    memo[node] = (value, node.target, kind)
    return kind


def _classify(node: Node) -> str:
    if "val" not in node.meta:
        return "symbolic" if node.op == "call_function" and node.target in SYM_RULES else "tensor"
    value = node.meta["val"]
    if isinstance(value, torch.Tensor):  # most nodes: answered before any symbolic-expression walk
        return "tensor"
    if _is_symbolic(value):
        return "symbolic"
    if isinstance(value, _STATIC_TYPES):
        return "static"
    return "tensor"


def _static_value(node: Node) -> Union[int, float, bool]:
    value = node.meta["val"]
    if isinstance(value, (torch.SymBool, bool)):
        return bool(value)
    if isinstance(value, (torch.SymFloat, float)):
        return float(value)
    return int(value)


def _symbolic_nodes(value: Any) -> List[Node]:
    found: List[Node] = []
    torch.fx.node.map_arg(value, lambda n: found.append(n) if _kind(n) == "symbolic" else None)
    return found


def _receives_symbolic(node: Node) -> bool:
    """Whether a symbolic value is among ``node``'s inputs: :func:`_symbolic_nodes` of its args and kwargs as a
    yes / no, read from the input nodes FX keeps (asked several times per node, rebuilding the arguments was most
    of it)."""
    return any(_kind(arg) == "symbolic" for arg in node.all_input_nodes)


def _describe(value: Any) -> str:
    if isinstance(value, Node):
        return str(value.meta.get("val", value.name)) if _kind(value) != "tensor" else value.name
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_describe(v) for v in value) + "]"
    return repr(value)


def has_dynamic_inputs(gm: GraphModule) -> bool:
    """True when a placeholder has a symbolic dimension (or is itself a symbolic int)."""
    return any(_is_symbolic(size) for _, _, size in input_sizes(gm.graph))


def _size_expression_ops() -> Dict[type, Any]:
    import sympy
    from torch.utils._sympy.functions import FloorDiv, Max, Min, Mod, PythonMod

    return {sympy.Add: dyn.add_dyn.default, sympy.Mul: dyn.mul_dyn.default, FloorDiv: dyn.floordiv_dyn.default,
            PythonMod: dyn.mod_dyn.default, Mod: dyn.mod_dyn.default, Min: dyn.min_dyn.default,
            Max: dyn.max_dyn.default, sympy.Min: dyn.min_dyn.default, sympy.Max: dyn.max_dyn.default}


def placeholder_shape_value(placeholder: Node, make: Any) -> Any:
    """SymInt placeholder ``placeholder`` as a shape tensor, built with ``make(op, *args)``.

    torch.compile(dynamic=True) / mark_dynamic hand AOT graphs sizes as SymInt placeholders too (``s0``,
    sometimes ``16*s0``); dynamo's source metadata is gone by then, so each symbol is matched to the input
    dimension whose fake size is that symbol, and the value is computed from ``sym_size_dyn`` of those
    tensors. When some symbol is no input tensor's size (the graph only reads ``feat.shape``, or the model
    takes a Python int) the int becomes an engine shape input: ``symint_dyn(placeholder)``.
    Raises ``ValueError`` for SymFloat / SymBool placeholders.
    """
    value = placeholder.meta.get("val")
    if not isinstance(value, torch.SymInt):
        raise ValueError(f"a symbolic {type(value).__name__} graph input {value}; engines take tensors and "
                         "int shape inputs only: pass it as a tensor")
    sources = {symbol: dims[0] for symbol, dims in input_dims_by_symbol(placeholder.graph).items()}
    operations = _size_expression_ops()

    def build(expr: Any, make: Any) -> Any:
        if expr.is_Integer:
            return make(dyn.const_scalar.default, int(expr))
        if expr.is_Symbol:
            if expr not in sources:
                raise LookupError(expr)
            return make(dyn.sym_size_dyn.default, *sources[expr])
        op = operations.get(type(expr))
        if op is None:
            raise LookupError(expr)
        parts = [build(arg, make) for arg in expr.args]
        result = parts[0]
        for part in parts[1:]:
            result = make(op, result, part)
        return result

    try:
        build(value.node.expr, lambda op, *args: None)
    except LookupError:
        return make(dyn.symint_dyn.default, placeholder)
    return build(value.node.expr, make)


def _guarded_by_dynamo() -> bool:
    """Inside a torch.compile backend: dynamo guards every input value the graph specialised (a new value
    recompiles), so a specialised int placeholder is safe there, unlike in an exported program."""
    return torch._guards.TracingContext.try_get() is not None


def _read_as_shape_input(node: Node) -> bool:
    """An int graph input that only ``symint_dyn`` reads: the engine takes it as a shape input."""
    return node.op == "placeholder" and bool(node.users) and \
        all(user.target is dyn.symint_dyn.default for user in node.users)


def _placeholder_problem(placeholder: Node) -> Optional[str]:
    """Why symbolic placeholder ``placeholder`` has no shape-tensor form (None: it has one)."""
    try:
        placeholder_shape_value(placeholder, lambda op, *args: None)
    except ValueError as error:
        return str(error)
    return None


# ---------------------------------------------------------------------------------------------
# Analysis: what would be missing (no graph changes)
# ---------------------------------------------------------------------------------------------

class _Missing(Exception):
    def __init__(self, entry: MissingEntry):
        super().__init__(entry.reason)
        self.entry = entry


def _entry(node: Node, argument: str, reason: str) -> MissingEntry:
    source, code = source_location(node.meta.get("stack_trace"))
    return MissingEntry(op=_op_name(node.target) if node.op == "call_function" else f"{node.op} {node.target}",
                        node=node.name, argument=argument, source=source, code=code, reason=reason)


def _producer_problem(node: Node, memo: Dict[Node, Optional[Node]]) -> Optional[Node]:
    """The first node in ``node``'s SymInt expression that has no dyn variant, or None."""
    if node in memo:
        return memo[node]
    memo[node] = None
    if _kind(node) != "symbolic" or (node.op == "placeholder" and _placeholder_problem(node) is None):
        return None
    if node.op != "call_function" or not (node.target in SYM_RULES or node.target is SYM_SUM) \
            or float_size_reason(node) is not None:
        memo[node] = node
        return node
    for arg in _symbolic_nodes((node.args, node.kwargs)):
        bad = _producer_problem(arg, memo)
        if bad is not None:
            memo[node] = bad
            return bad
    return None


def _consumer_problems(node: Node, memo: Dict[Node, Optional[Node]]) -> List[MissingEntry]:
    if node.op == "output":
        symbolic = _symbolic_nodes(node.args)
        if symbolic:
            return [_entry(symbolic[0], f"output={_describe(node.args[0])}",
                           "the graph returns a symbolic int; TensorRT engines return tensors only")]
        return []
    if node.op in ("call_module", "call_method") and _receives_symbolic(node):
        return [_entry(node, _describe(list(node.args)), f"{node.op} {node.target} receives a symbolic value")]
    if node.op != "call_function" or _kind(node) != "tensor" or node.target in ASSERTIONS:
        return []
    if not _receives_symbolic(node):
        return []
    rule = RULES.get(node.target)
    if rule is None:
        names = _symbolic_arg_names(node)
        return [_entry(node, names, f"no dyn variant for {_op_name(node.target)}; add a row to RULES")]
    bound = _bind(node.target, node.args, node.kwargs)
    problems = []
    for name, value in bound.items():
        if not _symbolic_nodes(value):
            continue
        if name not in rule.shape_args and name not in rule.drop:
            problems.append(_entry(node, f"{name}={_describe(value)}",
                                   f"the dyn variant {_op_name(rule.op)} takes '{name}' as a static value"))
            continue
        if name in rule.drop:
            continue
        for sym in _symbolic_nodes(value):
            bad = _producer_problem(sym, memo)
            if bad is not None:
                source, code = source_location(bad.meta.get("stack_trace") or node.meta.get("stack_trace"))
                problems.append(MissingEntry(
                    op=_op_name(bad.target) if bad.op == "call_function" else f"{bad.op} {bad.target}",
                    node=bad.name, argument=f"{node.name}.{name}={_describe(value)}", source=source, code=code,
                    reason=_placeholder_problem(bad) if bad.op == "placeholder" else float_size_reason(bad)
                    or "produces a symbolic value with no dyn variant; add it to SYM_RULES"))
    return problems


def _symbolic_arg_names(node: Node) -> str:
    try:
        bound = _bind(node.target, node.args, node.kwargs)
    except (AttributeError, TypeError):
        bound = {f"arg{i}": a for i, a in enumerate(node.args)}
        bound.update(node.kwargs)
    return ", ".join(f"{k}={_describe(v)}" for k, v in bound.items() if _symbolic_nodes(v))


def _inexact_problems(node: Node, sizing_inputs: Dict[Node, Node]) -> List[MissingEntry]:
    """Rows TensorRT would build, but not with torch's result (see :mod:`.float_sizes`)."""
    if node in sizing_inputs:
        source = sizing_inputs[node]
        value = source.meta["val"]
        if value.dtype.is_floating_point:
            kind, why = "float", ("shape tensors must be int32/int64 ('Network input ... is a shape tensor and must "
                                  "have type Int32 or Int64')")
        else:
            kind, why = "int", ("torch_tensorrt gives a static input no shape-tensor values ('Optimization profile 0 "
                                "is missing values for shape input tensor ...')")
        return [_entry(node, f"{source.name} ({value.dtype}, shape {tuple(value.shape)})",
                       f"the data-dependent size of {node.name} is computed from the {kind} graph input "
                       f"'{source.target}': TensorRT takes a small static input feeding a size as a shape tensor, "
                       f"and {why}; pass it with shape (1,) instead (inputs of rank >= 1 build, static or dynamic); "
                       "in a dynamic-shape graph warn mode runs the selection in PyTorch")]
    if node.op != "call_function" or node.target not in ARANGE or not _receives_symbolic(node):
        return []
    bound = _bind(node.target, node.args, node.kwargs)
    fixed = RULES[node.target].fixed
    values = [bound.get(name, fixed.get(name)) for name in ("start", "end", "step")]
    reason = arange_length_mismatch(values)
    return [] if reason is None else [_entry(node, _symbolic_arg_names(node), reason)]


@_memoising_kinds
def analyse(gm: GraphModule, lifted: Collection[str] = ()) -> DynReport:
    """The report for ``gm`` without changing it (``lifted``: placeholders holding an exported program's
    parameters, buffers and constants, which become engine weights, not inputs)."""
    return _analyse(gm, lifted)[0]


def _is_consumer(node: Node) -> bool:
    """A node the rewrite replaces (or, when it is reported missing, leaves): a call that receives a symbolic value
    and produces something other than one."""
    return node.op == "call_function" and _kind(node) == "tensor" and node.target not in ASSERTIONS \
        and _receives_symbolic(node)


def _analyse(gm: GraphModule, lifted: Collection[str]) -> Tuple[DynReport, List[Node]]:
    """:func:`analyse`, and the consumers (:func:`_is_consumer`) in graph order: the rewrite visits those alone. The
    rewrite changes no consumer's value, target or inputs' values before it reaches it, so the answer found here is
    the one it would find, and it skips re-asking it of every node (~4% of the pass)."""
    report = DynReport(dynamic=has_dynamic_inputs(gm),
                       missing=[] if _guarded_by_dynamo() else specialised_inputs(gm))
    sizing_inputs = inputs_sizing_data(gm, lifted)
    consumers: List[Node] = []
    if not report.dynamic:
        # a static graph is not lowered, so nothing can be left to PyTorch: refused in every mode
        report.missing.extend(dataclasses.replace(entry, refused=True) for node in sizing_inputs
                              for entry in _inexact_problems(node, sizing_inputs))
        return report, consumers
    memo: Dict[Node, Optional[Node]] = {}
    planner = _Planner(gm)
    for node in gm.graph.nodes:
        problems = _consumer_problems(node, memo) or _inexact_problems(node, sizing_inputs)
        if _is_consumer(node):
            consumers.append(node)
            if not problems and node.target in RULES:  # no assertion has a row (ASSERTIONS and RULES are disjoint)
                try:
                    planner.apply(node, RULES[node.target])
                except _Missing as missing:
                    problems = [missing.entry]
        report.missing.extend(problems)
    return report, consumers


# ---------------------------------------------------------------------------------------------
# Rewriting
# ---------------------------------------------------------------------------------------------


def _is_sym_size(item: Any) -> bool:
    return (isinstance(item, Node) and item.op == "call_function" and item.target is torch.ops.aten.sym_size.int
            and isinstance(item.args[0], Node))


class Builder:
    """Creates shape-tensor nodes. Adapters in the translation map receive one."""

    def __init__(self, gm: GraphModule):
        self.gm = gm
        self.graph = gm.graph
        self.fake_mode = graph_fake_mode(gm)
        self._dyn_of: Dict[Node, Node] = {}
        self._anchor: Optional[Node] = None
        self._origin: Optional[Node] = None
        # constants are shared and live before the first computation
        self._consts: Dict[Tuple[Any, ...], Node] = {}
        #: (op, arguments' shapes / dtypes / remembered values) -> the fake value of the first node that asked
        self._shape_answers: Dict[Tuple[Any, ...], FakeTensor] = {}
        self._question_parts: Dict[int, Tuple[Any, Any]] = {}
        # after the last placeholder: an unlifted graph may put get_attr nodes before some of the inputs
        inputs = self.graph.find_nodes(op="placeholder")
        self._const_anchor = inputs[-1].next if inputs else next(iter(self.graph.nodes))

    # -- node creation ------------------------------------------------------------------------
    def call(self, op: Any, *args: Any, **kwargs: Any) -> Node:
        """A new node ``op(*args, **kwargs)`` at the current insertion point, with a fake ``val``."""
        with self.graph.inserting_before(self._anchor):
            node = self.graph.call_function(op, tuple(args), kwargs)
        for key in _META_KEYS:
            if self._origin is not None and key in self._origin.meta:
                node.meta[key] = self._origin.meta[key]
        node.meta["val"] = self._fake(op, args, kwargs)
        return node

    def _fake(self, op: Any, args: Any, kwargs: Any) -> Any:
        fake_args, fake_kwargs = torch.fx.node.map_arg((args, kwargs), lambda n: n.meta.get("val"))
        if self.fake_mode is None:
            return None
        overload, kernel = _own_fake_kernel(op)
        if kernel is None:
            with self.fake_mode:
                return op(*fake_args, **fake_kwargs)
        # A shape producer's kernel is a function of its arguments' shapes, dtypes and remembered values: a
        # repeated block asks the same question once per copy (sym_size of each block's output is s0), so the
        # answer is kept, and so is the fake value itself: every node asking that question gets the same FakeTensor
        # (making one per node was ~15% of the pass). Sharing is what torch.fx's node_copy does with meta too
        # (segment_local's copies share theirs); it is safe because nothing writes into these values: the remembered
        # value is fixed when the fake is made, readers of meta['val'] (torch_tensorrt's passes, converters,
        # partitioner) read shape / dtype or replace the entry, and shape tensors feed only trt_dyn ops, whose fake
        # kernels read remembered values instead of running item() / nonzero(), which would cache an unbacked
        # size on the tensor (tests/lowering/test_shared_fake_values.py checks the values equal fresh propagation).
        key = _shape_question(overload, fake_args, fake_kwargs, self._question_parts) \
            if _is_shape_producer(overload) else None
        answer = self._shape_answers.get(key) if key is not None else None
        if answer is not None:
            return answer
        value = self._run_kernel(overload, kernel, fake_args, fake_kwargs)
        if key is not None and isinstance(value, FakeTensor) and value.device.type == "cpu" \
                and all(type(size) is int for size in value.shape):
            self._shape_answers[key] = value
        return value

    def _run_kernel(self, overload: Any, kernel: Any, fake_args: Any, fake_kwargs: Any) -> Any:
        # What FakeTensorMode does for a custom op (it never caches those), minus the dispatcher's
        # autograd and cache-key layers, which made this the pass's main cost (~1 ms per new node),
        # and minus entering the mode itself, which cost more than the kernel (the kernel makes its
        # fake through new_shape_tensor, told the mode directly)
        context = torch._library.fake_impl.FakeImplCtx(self.fake_mode, overload)
        with torch._library.fake_impl.set_ctx_getter(lambda: context):
            value = run_fake_kernel_directly(self.fake_mode, kernel, *fake_args, **fake_kwargs)
        if isinstance(value, FakeTensor) and value.fake_mode is self.fake_mode:
            return value
        with torch._library.fake_impl.set_ctx_getter(lambda: context), self.fake_mode:  # a kernel that made its own
            return kernel(*fake_args, **fake_kwargs)

    def const(self, op: Any, value: Any) -> Node:
        """A shared ``const`` / ``const_scalar`` node for ``value``."""
        key = (op, type(value), tuple(value) if isinstance(value, list) else value)
        if key not in self._consts:
            saved = self._anchor, self._origin
            self._anchor, self._origin = self._const_anchor, None
            try:
                self._consts[key] = self.call(op, value)
            finally:
                self._anchor, self._origin = saved
        return self._consts[key]

    def unsupported(self, node: Node, argument: str, reason: str) -> _Missing:
        return _Missing(_entry(node, argument, reason))

    # -- shape values -------------------------------------------------------------------------
    def scalar(self, value: Any) -> Node:
        """A 0-d shape tensor for a Python number, a SymInt/SymFloat node or a shape-tensor node."""
        if isinstance(value, _Planned):
            return value
        if isinstance(value, Node):
            kind = _kind(value)
            if kind == "tensor":
                return value
            if kind == "static":
                return self.const(dyn.const_scalar.default, _static_value(value))
            return self.dyn_of(value)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"trt_dyn lowering: cannot make a shape value from {value!r}")
        return self.const(dyn.const_scalar.default, value)

    def shape(self, values: Any) -> Node:
        """A 1-d shape tensor for a list of ints / SymInt nodes (or an existing shape-tensor node)."""
        if isinstance(values, _Planned):
            return values
        if isinstance(values, Node):
            if _kind(values) == "tensor":
                return values
            return self.call(dyn.shape_cat_dyn.default, [self.scalar(values)])
        parts: List[Node] = []
        run: List[int] = []
        sizes: List[Node] = []  # sym_size nodes of one tensor, in a row: one read of its shape

        def flush() -> None:
            if run:
                parts.append(self.const(dyn.const.default, list(run)))
                run.clear()
            if len(sizes) == 1:
                parts.append(self.scalar(sizes[0]))
            elif sizes:
                parts.append(self.call(dyn.sym_sizes_dyn.default, sizes[0].args[0], [s.args[1] for s in sizes]))
            sizes.clear()

        for item in values:
            if isinstance(item, Node) and _kind(item) == "static":
                item = _static_value(item)
            if isinstance(item, int) and not isinstance(item, bool):
                if sizes:
                    flush()
                run.append(item)
                continue
            if _is_sym_size(item) and (not sizes or sizes[0].args[0] is item.args[0]):
                if run:
                    flush()
                sizes.append(item)
                continue
            flush()
            if _is_sym_size(item):
                sizes.append(item)
            else:
                parts.append(self.scalar(item))
        flush()
        if not parts:
            parts.append(self.const(dyn.const.default, []))
        if len(parts) == 1 and getattr(parts[0], "target", None) is dyn.const.default:
            return parts[0]
        return self.call(dyn.shape_cat_dyn.default, parts)

    def dyn_of(self, node: Node) -> Node:
        """The shape-tensor node computing SymInt/SymFloat node ``node`` (created once, right after it)."""
        if node in self._dyn_of:
            return self._dyn_of[node]
        saved = self._anchor, self._origin
        # a placeholder's shape value goes after all placeholders (its tensor may come later)
        self._anchor, self._origin = (self._const_anchor if node.op == "placeholder" else node.next), node
        try:
            result = self._translate_producer(node)
        finally:
            self._anchor, self._origin = saved
        result.meta["trt_dyn_symbolic"] = node.meta.get("val")
        self._dyn_of[node] = result
        return result

    def _translate_producer(self, node: Node) -> Node:
        target = node.target
        if node.op == "placeholder":
            problem = _placeholder_problem(node)
            if problem is not None:
                raise _Missing(_entry(node, _describe(node), problem))
            return placeholder_shape_value(node, lambda op, *args: self.const(op, *args)
                                           if op is dyn.const_scalar.default else self.call(op, *args))
        if node.op != "call_function" or not (target in SYM_RULES or target is SYM_SUM):
            raise _Missing(_entry(node, _describe(node), "produces a symbolic value with no dyn variant"))
        if float_size_reason(node) is not None:
            raise _Missing(_entry(node, _describe(node), float_size_reason(node)))
        if target is SYM_SUM:
            terms = [self.scalar(t) for t in node.args[0]]
            total = terms[0] if terms else self.scalar(0)
            for term in terms[1:]:
                total = self.call(dyn.add_dyn.default, total, term)
            return total
        exact = exact_division_op(node)
        if exact is not None:
            inner = node.args[0]
            return self.call(exact, self.scalar(inner.args[0]), self.scalar(inner.args[1]))
        scaling = rational_scaling(node)
        if scaling is not None:
            size, numerator, denominator = scaling
            # trunc rounds like floor where the product is >= 0 (its sign is known: rational_scaling checked)
            negative = node.target not in (math.floor, math.ceil) and sign(size.meta["val"]) * numerator < 0
            division = dyn.ceildiv_dyn.default if node.target is math.ceil or negative else dyn.floordiv_dyn.default
            scaled = self.call(dyn.mul_dyn.default, self.scalar(size), self.scalar(numerator))
            return self.call(division, scaled, self.scalar(denominator))
        op, arity = SYM_RULES[target]
        if op is dyn.sym_size_dyn.default:
            return self.call(op, node.args[0], node.args[1])
        if op is dyn.numel_dyn.default:
            return self.call(op, node.args[0])
        return self.call(op, *[self.scalar(a) for a in node.args[:arity]])

    # -- consumers ----------------------------------------------------------------------------
    def apply(self, node: Node, rule: DynRule) -> Node:
        """Build the dyn replacement of consumer ``node`` (the caller swaps uses and erases)."""
        self._anchor, self._origin = node, node
        bound = _bind(node.target, node.args, node.kwargs)
        for argument, variant in rule.when_symbolic.items():
            if _symbolic_nodes(bound.get(argument)):
                rule = variant
        if rule.prepare is not None:
            bound = rule.prepare(self, node, bound)
        inverse = {dyn_name: aten_name for aten_name, dyn_name in rule.rename.items()}
        used = set()
        args: List[Any] = []
        kwargs: Dict[str, Any] = {}
        for arg in schema_arguments(rule.op):
            source = inverse.get(arg.name, arg.name)
            if source in bound:
                value = bound[source]
                used.add(source)
            elif arg.name in rule.fixed:
                value = rule.fixed[arg.name]
            elif arg.has_default:
                value = schema_default(arg)
            else:
                raise self.unsupported(node, arg.name, f"{_op_name(rule.op)} needs '{arg.name}' and the row gives none")
            value = self._convert(node, rule, source, arg, value)
            if arg.kwarg_only:
                kwargs[arg.name] = value
            else:
                args.append(value)
        schema_args = {a.name: a for a in schema_arguments(node.target)}
        for name, value in bound.items():
            if name in used or name in rule.drop:
                continue
            default = schema_args[name].default if name in schema_args and schema_args[name].has_default \
                else object()
            if value is not default and value != default:
                raise self.unsupported(node, f"{name}={_describe(value)}",
                                       f"{_op_name(rule.op)} has no argument for '{name}'")
        return self._emit(node, rule.op, tuple(args), kwargs)

    def _emit(self, node: Node, op: Any, args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> Node:
        with self.graph.inserting_before(node):
            new = self.graph.call_function(op, args, kwargs)
        new.meta.update(node.meta)
        return new

    def _convert(self, node: Node, rule: DynRule, source: str, arg: Any, value: Any) -> Any:
        if arg.is_tensor:
            if value is None:
                if source in rule.none_defaults:
                    return self.scalar(rule.none_defaults[source])
                if arg.optional:
                    return None
                raise self.unsupported(node, source, f"{_op_name(rule.op)} needs a value for '{arg.name}'")
            if isinstance(value, (list, tuple)):
                return self.shape(value)
            return self.scalar(value)
        if _symbolic_nodes(value):
            raise self.unsupported(node, f"{source}={_describe(value)}",
                                   f"{_op_name(rule.op)} takes '{arg.name}' as a static value")
        return torch.fx.node.map_arg(value, lambda n: _static_value(n) if _kind(n) == "static" else n)


@functools.lru_cache(maxsize=None)
def _own_fake_kernel(op: Any) -> Tuple[Any, Any]:
    """(overload, registered fake kernel) of a trt_dyn op (``op`` may be the packet); (op, None) otherwise."""
    overload = op.default if isinstance(op, torch._ops.OpOverloadPacket) else op
    if not isinstance(overload, torch._ops.OpOverload) or overload.namespace != "trt_dyn":
        return op, None
    return overload, torch._library.simple_registry.singleton.find(overload.name()).fake_impl.kernel


#: op families whose fake kernels read only their arguments' shapes, dtypes and remembered values, make their result
#: with new_shape_tensor and allocate no unbacked sizes (the shape producers and their arithmetic)
_SHAPE_PRODUCER_MODULES = frozenset({"trt_dyn.ops.shape", "trt_dyn.ops.arith"})


@functools.lru_cache(maxsize=None)
def _is_shape_producer(overload: Any) -> bool:
    definition = DEFINITIONS.get(overload._schema.name.split("::")[-1])
    return getattr(definition, "__module__", None) in _SHAPE_PRODUCER_MODULES


def _question_part(value: Any, seen: Dict[int, Tuple[Any, Any]]) -> Any:
    """A hashable stand-in for one fake argument: Sym* by their expression (SymInts do not hash), numbers with their
    type (2, 2.0 and True are equal keys otherwise), fake tensors by device, dtype, shape and remembered value
    (kept in ``seen`` by id with the tensor itself, which keeps the id from being reused while the pass runs)."""
    if isinstance(value, torch.Tensor):
        known = seen.get(id(value))
        if known is not None and known[0] is value:
            return known[1]
        part = (torch.Tensor, value.device, value.dtype, tuple(_question_part(size, seen) for size in value.shape),
                _question_part(recall(value), seen))
        seen[id(value)] = (value, part)
        return part
    if isinstance(value, _SYM_TYPES):
        return type(value), value.node.expr
    if isinstance(value, (list, tuple)):
        return type(value), tuple(_question_part(item, seen) for item in value)
    if value is None or isinstance(value, (bool, int, float, str, torch.dtype, torch.device)):
        return type(value), value
    raise TypeError(type(value))


def _shape_question(overload: Any, fake_args: Any, fake_kwargs: Any,
                    seen: Dict[int, Tuple[Any, Any]]) -> Optional[Tuple[Any, ...]]:
    try:
        return (overload, _question_part(tuple(fake_args), seen),
                _question_part(tuple(sorted(fake_kwargs.items())), seen) if fake_kwargs else None)
    except TypeError:  # an argument with no faithful key: ask the kernel
        return None


class _Planned:
    """Stands for a node the planner would create (nothing is added to the graph)."""

    def __init__(self, op: Any):
        self.target = op


class _Planner(Builder):
    """Runs a row exactly as :meth:`Builder.apply` does, creating no nodes, to find the problems
    only a row's adapter or argument mapping can see (so "raise" mode changes nothing)."""

    def __init__(self, gm: GraphModule):  # noqa: D401  (no fake mode, no insertion points needed)
        self.gm = gm
        self.graph = gm.graph

    def call(self, op: Any, *args: Any, **kwargs: Any) -> Any:
        return _Planned(op)

    def const(self, op: Any, value: Any) -> Any:
        return _Planned(op)

    def dyn_of(self, node: Node) -> Any:
        return _Planned(node.target)

    def _emit(self, node: Node, op: Any, args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> Any:
        return _Planned(op)


def _erase_dead_scalars(gm: GraphModule) -> None:
    for node in reversed(list(gm.graph.nodes)):
        if node.op == "call_function" and not node.users and \
                (_kind(node) != "tensor" or node.target in SYM_RULES or node.target is SYM_SUM):
            gm.graph.erase_node(node)


def _erase_assertions(gm: GraphModule) -> None:
    for node in list(gm.graph.nodes):
        if node.op == "call_function" and node.target in ASSERTIONS:
            if _receives_symbolic(node) or all(
                    not isinstance(a, Node) or _kind(a) != "tensor" for a in node.args):
                gm.graph.erase_node(node)


def _graph_module(graph_module_or_program: Any) -> GraphModule:
    if isinstance(graph_module_or_program, torch.export.ExportedProgram):
        return graph_module_or_program.graph_module
    if isinstance(graph_module_or_program, GraphModule):
        return graph_module_or_program
    raise TypeError(f"expected a torch.fx.GraphModule or torch.export.ExportedProgram, "
                    f"got {type(graph_module_or_program).__name__}")


def _lifted(graph_module_or_program: Any) -> FrozenSet[str]:
    """Placeholder names of an exported program's lifted parameters, buffers and constants."""
    if not isinstance(graph_module_or_program, torch.export.ExportedProgram):
        return frozenset()
    user = torch.export.graph_signature.InputKind.USER_INPUT
    return frozenset(spec.arg.name for spec in graph_module_or_program.graph_signature.input_specs
                     if spec.kind != user and hasattr(spec.arg, "name"))


def report(graph_module_or_program: Any, compilation: Any = None) -> DynReport:
    """What a compile's dyn lowering would rewrite and what it is missing; the argument is not changed.

    The analysis reads the graph a compile hands the dyn lowering pass, made on a copy by the same steps
    (:func:`trt_dyn.lowering.pipeline.as_the_dyn_lowering_sees_it`): for an ``ExportedProgram`` torch_tensorrt's
    pre-export lowering (detach and assertion removal, rule-based autocast) and its decompositions, then every
    post-lowering pass registered before the dyn lowering (torch_tensorrt's own,
    e.g. its dynamic ``slice_scatter`` decomposition, and trt_dyn's data-dependent rewrite), each handed
    ``compilation`` (torch_tensorrt's ``CompilationSettings``; None: the defaults of a compile without options).
    ``str(report)`` is a readable table; ``report.missing`` entries carry op, node name, the
    symbolic argument and the user's ``file:line``.
    """
    from .pipeline import as_the_dyn_lowering_sees_it  # the pipeline imports this module

    gm = as_the_dyn_lowering_sees_it(graph_module_or_program, compilation)
    with _kinds_memoised():
        result = analyse(gm)
        if result.dynamic:
            result.rewritten = _planned_rewrites(gm, result)
            result.missing.extend(guard_problems(gm))
    return result


def _planned_rewrites(gm: GraphModule, result: DynReport) -> Dict[str, int]:
    missing = {m.node for m in result.missing}
    counts: Dict[str, int] = {}
    for node in gm.graph.nodes:
        if node.op == "call_function" and _kind(node) == "tensor" and node.target in RULES \
                and node.name not in missing and _receives_symbolic(node):
            name = _op_name(node.target)
            counts[name] = counts.get(name, 0) + 1
    return counts


def lower(graph_module_or_program: Any, on_missing: Optional[str] = None) -> Any:
    """Rewrite a dynamic-shape graph into the dyn IR in place; returns its argument.

    Does nothing when no input has a symbolic dimension or when the lowering is disabled
    (``trt_dyn.lowering.set_enabled(False)`` / ``TRT_DYN_LOWERING=0``). When some symbolic use has
    no dyn variant it raises :class:`MissingDynVariantError` before changing anything, or with
    ``on_missing="warn"`` (or :func:`settings.set_on_missing`) warns and leaves those nodes as they are.
    """
    gm = _graph_module(graph_module_or_program)
    if settings.is_enabled():
        lower_graph_module(gm, on_missing, _lifted(graph_module_or_program))
    return graph_module_or_program


def _collector_paused(fn: Any) -> Any:
    """Run ``fn`` with Python's cyclic garbage collector off (as the caller had it after). The pass allocates
    several objects per node (FX nodes, argument tuples, meta dicts), enough to set off full collections, and each
    full collection walks every object alive: the graph being lowered, the caller's program and model. Measured on
    the lowering_cost graphs that was up to a third of the pass, and a larger share the larger the graph. What the pass
    drops in cycles (erased FX nodes) is collected at the next collection after it. The switch is process-wide, so
    another thread's allocations go uncollected for the pass's duration too."""

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        if not gc.isenabled():
            return fn(*args, **kwargs)
        gc.disable()
        try:
            return fn(*args, **kwargs)
        finally:
            gc.enable()

    return run


@_collector_paused
@_memoising_kinds
def lower_graph_module(gm: GraphModule, on_missing: Optional[str] = None, lifted: Collection[str] = (), *,
                       localise: bool = False) -> DynReport:
    """:func:`lower` on a graph module; ``localise``: then make shape values local to each consumer's segment
    (:func:`localise_shape_values`) before the one lint. torch.fx's code generation (it alone cost more than the
    rest of the pass) is left to the module's first use (:func:`generate_code_on_first_use`)."""
    result, consumers = _analyse(gm, lifted)
    mode = on_missing or settings.get_on_missing()
    if any(m.refused for m in result.missing):
        raise MissingDynVariantError(result)
    if not result.dynamic:
        return result
    if result.missing:
        if mode == "raise":
            raise MissingDynVariantError(result)
        warnings.warn(str(result), stacklevel=3)
    skip = {m.node for m in result.missing}
    builder = Builder(gm)
    for node in consumers:
        if node.name in skip:
            continue
        rule = RULES[node.target]
        try:
            new = builder.apply(node, rule)
        except _Missing as missing:
            if mode == "raise":
                raise MissingDynVariantError(DynReport(dynamic=True, missing=[missing.entry])) from None
            warnings.warn(str(DynReport(dynamic=True, missing=[missing.entry])), stacklevel=3)
            continue
        node.replace_all_uses_with(new)
        gm.graph.erase_node(node)
        name = _op_name(node.target)
        result.rewritten[name] = result.rewritten.get(name, 0) + 1
    _erase_assertions(gm)
    _erase_dead_scalars(gm)
    leave_to_pytorch(gm, lambda n: _kind(n) == "symbolic" and not _read_as_shape_input(n),
                     {m.node for m in result.missing})
    if localise:
        localise_shape_values(gm)
    gm.graph.lint()
    generate_code_on_first_use(gm)
    return result


def dyn_lowering_pass(gm: GraphModule, settings_: Any = None) -> GraphModule:
    """torch_tensorrt post-lowering pass: :func:`lower` with the global settings; when torch_tensorrt
    may partition the graph, shape values are made local to each consumer's segment."""
    if settings.is_enabled():
        lower_graph_module(gm, settings.get_on_missing(settings_),
                           localise=not getattr(settings_, "require_full_compilation", True))
    return gm
