"""Dense masked compute in place of select -> row-wise compute -> write back to the same rows.

Pattern (aten graph after ``run_decompositions``)::

    sel = mask                          # bool, or nonzero(mask).squeeze(1) for a 1-d mask
    g_i = aten.index(x_i, [sel])        # gathers with the same selection
    v   = f(g_1, ..., externals)        # f row-independent (whitelist below)
    out = aten.index_put(base, [sel], v)   # accumulate=False

becomes ``out = where(mask[..., None...], f(x_1, ...), base)``. This is exact because every
selected row of ``v`` depends on the same row of the inputs only, indices from a mask are unique,
and unselected rows of ``base`` are kept. f is checked node by node against :data:`ELEMENTWISE_OPS`
and :data:`ROW_OPS`; anything else (a reduction over rows, a sort, an op we do not know) leaves
the graph untouched. Values that do not depend on the selection at all (``out[mask] = 0``) are
written with the same ``where``.

The rewrite removes every data-dependent shape of the pattern, so it is what TensorRT-RTX needs
(no NonZero runner). On full TensorRT the native NonZero path is kept by default: the dense form
computes f on every row instead of the selected ones. :func:`set_mode` is the switch:

``"auto"`` (default, or env ``TRT_DYN_DATA_DEPENDENT``)
    dense rewrite and compaction converters on TensorRT-RTX, native NonZero on full TensorRT;
``"dense"``
    always rewrite (also forces the compaction converters of trt_dyn.converters.selection);
``"native"``
    never rewrite; on RTX the compaction converters still convert what is left.

Nodes the rewrite creates are named ``dd_dense_*``, so
:func:`trt_dyn.converters.selection.count_fallback_layers` can count the layers they become.
"""

from __future__ import annotations

import logging
from typing import Any, ContextManager, Dict, List, Optional, Set, Tuple

import torch
from torch.fx import GraphModule, Node

from .. import settings
from .toolbox import (DETECT_FAKE_MODE, RESHAPE_OPS, WRITE_BACK_OPS, argument, fake_propagate,
                      generate_code_on_first_use, graph_fake_mode)
from .._trt import IS_RTX

MODES = settings.SWITCHES["data_dependent"].choices

DENSE_PREFIX = "dd_dense"
_log = logging.getLogger("trt_dyn.data_dependent")

aten = torch.ops.aten


def requested_mode() -> str:
    """The mode asked for: :func:`set_mode`'s, else ``$TRT_DYN_DATA_DEPENDENT``, else ``auto``."""
    return settings.get("data_dependent")


def get_mode() -> str:
    """The effective mode, ``"dense"`` or ``"native"`` (``auto`` resolved by the TensorRT flavour)."""
    mode = requested_mode()
    if mode == "auto":
        return "dense" if IS_RTX else "native"
    return mode


def set_mode(mode: Optional[str]) -> None:
    """Select ``"auto"``, ``"dense"`` or ``"native"`` (``None`` returns to the environment/default); an alias of
    ``trt_dyn.settings.set("data_dependent", mode)``."""
    settings.set("data_dependent", mode)


def data_dependent_mode(mode: str) -> ContextManager[None]:
    """``with data_dependent_mode("dense"): ...`` sets the mode for the block only."""
    return settings.overrides(data_dependent=mode)


# --------------------------------------------------------------------------------------------
# What counts as row-independent
# --------------------------------------------------------------------------------------------


def _overloads(*packets: Any) -> Set[Any]:
    found = set()
    for packet in packets:
        for overload in packet.overloads():
            found.add(getattr(packet, overload))
    return found


#: Pointwise ops: any row of the output depends on the same row of each input only.
ELEMENTWISE_OPS: Set[Any] = _overloads(
    aten.add, aten.sub, aten.rsub, aten.mul, aten.div, aten.neg, aten.abs, aten.exp, aten.expm1,
    aten.log, aten.log1p, aten.log2, aten.sqrt, aten.rsqrt, aten.reciprocal, aten.sigmoid,
    aten.tanh, aten.relu, aten.gelu, aten.silu, aten.hardtanh, aten.leaky_relu, aten.elu,
    aten.clamp, aten.clamp_min, aten.clamp_max, aten.pow, aten.maximum, aten.minimum, aten.where,
    aten.eq, aten.ne, aten.lt, aten.le, aten.gt, aten.ge, aten.logical_and, aten.logical_or,
    aten.logical_not, aten.logical_xor, aten.bitwise_and, aten.bitwise_or, aten.bitwise_not,
    aten.floor, aten.ceil, aten.round, aten.trunc, aten.sign, aten.erf, aten.sin, aten.cos,
    aten.masked_fill, aten._to_copy, aten.clone, aten.alias, aten.floor_divide, aten.remainder,
    aten.fmod, aten.atan2, aten.exp2,
)
# where(condition) with one argument is nonzero, not a select
ELEMENTWISE_OPS.discard(aten.where.default)

#: Ops that keep rows independent when told not to work along dim 0 (1-d masks only).
#: value: how to find the dims the op works along from (args, kwargs).
_DIM_ARG_OPS: Dict[Any, Any] = {}


def _dims_at(position: int, key: str, default: Any = None):
    return lambda args, kwargs: argument(args, kwargs, position, key, default)


for _packet, _where in (
    (aten.sum.dim_IntList, _dims_at(1, "dim")),
    (aten.mean.dim, _dims_at(1, "dim")),
    (aten.amax.default, _dims_at(1, "dim")),
    (aten.amin.default, _dims_at(1, "dim")),
    (aten.prod.dim_int, _dims_at(1, "dim")),
    (aten._softmax.default, _dims_at(1, "dim")),
    (aten._log_softmax.default, _dims_at(1, "dim")),
    (aten.softmax.int, _dims_at(1, "dim")),
    (aten.cumsum.default, _dims_at(1, "dim")),
    (aten.unsqueeze.default, _dims_at(1, "dim")),
    (aten.squeeze.dim, _dims_at(1, "dim")),
    (aten.squeeze.dims, _dims_at(1, "dim")),
    (aten.select.int, _dims_at(1, "dim")),
    (aten.slice.Tensor, _dims_at(1, "dim", 0)),
    (aten.cat.default, _dims_at(1, "dim", 0)),
    (aten.transpose.int, lambda args, kwargs: [args[1], args[2]]),
):
    _DIM_ARG_OPS[_packet] = _where

#: matrix products ``rows @ weight``: position of the row operand; every other tensor is a weight
_MATMUL_OPS = {aten.mm.default: (0,), aten.addmm.default: (1,), aten.linear.default: (0,),
               aten.matmul.default: (0,)}

def _is_roi_pool(target: Any) -> bool:
    """roi_align / roi_pool style ops: output row j depends on box row j (args[1]) only."""
    name = target.name() if isinstance(target, torch._ops.OpOverload) else str(target)
    return "roi_align" in name or "roi_pool" in name


def _val(node: Any) -> Any:
    return node.meta.get("val") if isinstance(node, Node) else None


def _same_size(a: Any, b: Any) -> bool:
    if isinstance(a, int) and isinstance(b, int):
        return a == b
    if isinstance(a, torch.SymInt) and isinstance(b, torch.SymInt):
        return a.node.expr == b.node.expr
    return False


def _has_unbacked(value: Any) -> bool:
    from torch.fx.experimental.symbolic_shapes import free_unbacked_symbols

    if isinstance(value, torch.Tensor):
        return bool(free_unbacked_symbols(value.shape))
    if isinstance(value, (list, tuple)):
        return any(_has_unbacked(item) for item in value)
    if isinstance(value, torch.SymInt):
        return bool(free_unbacked_symbols(value))
    return False


def _node_inputs(node: Node) -> List[Node]:
    return list(node.all_input_nodes)


# --------------------------------------------------------------------------------------------
# Selections
# --------------------------------------------------------------------------------------------


def selection_mask(index: Any) -> Optional[Tuple[Node, int]]:
    """``(mask node, mask rank)`` when ``index`` selects the true elements of a mask, else None.

    A bool tensor selects itself; ``nonzero(m).squeeze(1)``, ``nonzero(m)[:, 0]`` and
    ``nonzero(m).view(-1)`` of a 1-d ``m`` select ``m``'s true rows in the same (increasing) order.
    """
    value = _val(index)
    if value is None or not isinstance(value, torch.Tensor):
        return None
    if value.dtype == torch.bool:
        return (index, value.dim()) if value.dim() >= 1 else None
    source: Optional[Node] = None
    if index.target in (aten.squeeze.dim, aten.squeeze.dims) and index.args[1] in (1, [1], -1, [-1]):
        source = index.args[0]
    elif index.target is aten.select.int and index.args[1] in (1, -1) and index.args[2] == 0:
        source = index.args[0]
    elif index.target in RESHAPE_OPS and list(index.args[1]) == [-1]:
        source = index.args[0]
    if not isinstance(source, Node) or source.target is not aten.nonzero.default:
        return None
    mask = source.args[0]
    mask_value = _val(mask)
    if mask_value is None or mask_value.dim() != 1:
        return None
    return mask, 1


def _single_leading_index(node: Node) -> Optional[Node]:
    indices = node.args[1]
    if len(indices) != 1 or not isinstance(indices[0], Node):
        return None
    return indices[0]


class _Unsupported(Exception):
    """The values of a write-back are not provably row-independent: leave the graph as it is."""


class _DenseBuilder:
    """Rebuilds the values of one write-back over all rows (see module docstring)."""

    def __init__(self, gm: GraphModule, mask: Node, mask_rank: int, tainted: Set[Node], *,
                 fake_mode: Any = DETECT_FAKE_MODE):
        self.gm = gm
        self.fake_mode = fake_mode
        self.graph = gm.graph
        self.mask = mask
        self.mask_rank = mask_rank
        self.mask_shape = _val(mask).shape
        self.tainted = tainted
        self.dense: Dict[Node, Any] = {}
        self.created: List[Node] = []
        self.anchor: Optional[Node] = None

    # -- classification -------------------------------------------------------------------
    def _gather_source(self, node: Node) -> Optional[Node]:
        if node.target is not aten.index.Tensor:
            return None
        index = _single_leading_index(node)
        if index is None:
            return None
        selection = selection_mask(index)
        if selection is None or selection[0] is not self.mask:
            return None
        source = node.args[0]
        shape = _val(source).shape
        if len(shape) < self.mask_rank or not all(
            _same_size(a, b) for a, b in zip(shape[: self.mask_rank], self.mask_shape)
        ):
            raise _Unsupported(f"{node.name}: gathered tensor's rows differ from the mask's")
        return source

    def dense_of(self, node: Any) -> Any:
        """The all-rows version of ``node`` (externals are themselves)."""
        if not isinstance(node, Node):
            if isinstance(node, (list, tuple)):
                return type(node)(self.dense_of(item) for item in node)
            return node
        if node in self.dense:
            return self.dense[node]
        if node not in self.tainted:
            self.dense[node] = node
            return node
        source = self._gather_source(node)
        if source is not None:
            if source in self.tainted:
                raise _Unsupported(f"{node.name}: gathers from a data-dependent tensor")
            self.dense[node] = source
            return source
        self.dense[node] = self._rebuild(node)
        return self.dense[node]

    def _check_row_axis(self, node: Node, broadcast_operands: bool = True) -> None:
        from torch.fx.experimental.symbolic_shapes import free_unbacked_symbols

        value = _val(node)
        if not isinstance(value, torch.Tensor) or value.dim() == 0:
            raise _Unsupported(f"{node.name}: not a tensor with rows")
        if not free_unbacked_symbols(value.shape[0]):
            raise _Unsupported(f"{node.name}: the selection's row count is not dim 0")
        for operand in _node_inputs(node) if broadcast_operands else ():
            operand_value = _val(operand)
            if operand in self.tainted or not isinstance(operand_value, torch.Tensor):
                continue
            # An external operand must broadcast along the rows: fewer dims, or size 1 there.
            if operand_value.dim() >= value.dim() and not (
                operand_value.dim() == value.dim() and _same_size(operand_value.shape[0], 1)
            ):
                raise _Unsupported(f"{node.name}: operand {operand.name} spans the rows")
        if free_unbacked_symbols(value.shape[1:]):
            raise _Unsupported(f"{node.name}: the selection's row count moved off dim 0")

    def _rebuild(self, node: Node) -> Node:
        if node.op != "call_function":
            raise _Unsupported(f"{node.name}: {node.op} depends on the selection")
        target = node.target
        args, kwargs = node.args, dict(node.kwargs)
        if target in ELEMENTWISE_OPS:
            self._check_row_axis(node)
        elif target in _DIM_ARG_OPS and self.mask_rank == 1:
            self._check_row_axis(node)
            dims = _DIM_ARG_OPS[target](args, kwargs)
            dims = [dims] if isinstance(dims, int) else list(dims or [])
            rank = _val(node.args[0] if target is not aten.cat.default else node.args[0][0]).dim()
            if not dims or any(d % max(rank, 1) == 0 for d in dims):
                raise _Unsupported(f"{node.name}: works along the rows")
            if target is aten.cat.default and any(item not in self.tainted for item in args[0]):
                raise _Unsupported(f"{node.name}: concatenates selected and unselected tensors")
        elif target in RESHAPE_OPS and self.mask_rank == 1:
            self._check_row_axis(node)
            shape = list(args[1])
            if not all(isinstance(size, int) for size in shape[1:]) or not (
                shape and _same_size(_val(node).shape[0], _val(args[0]).shape[0])
            ):
                raise _Unsupported(f"{node.name}: reshape that mixes rows")
            args = (args[0], [-1] + shape[1:]) + tuple(args[2:])
        elif target in _MATMUL_OPS and self.mask_rank == 1:
            self._check_row_axis(node, broadcast_operands=False)
            rows = _MATMUL_OPS[target]
            if _val(args[rows[0]]).dim() != 2:
                raise _Unsupported(f"{node.name}: only [rows, features] @ weight is row-wise")
            if any(
                (i in rows) != (arg in self.tainted)
                for i, arg in enumerate(args) if isinstance(arg, Node)
            ):
                raise _Unsupported(f"{node.name}: selected tensor used as a weight")
        elif _is_roi_pool(target) and self.mask_rank == 1:
            # the feature map is read through each box's batch index, not broadcast over rows
            self._check_row_axis(node, broadcast_operands=False)
            if len(args) < 2 or args[1] not in self.tainted or any(
                arg in self.tainted for i, arg in enumerate(args) if i != 1 and isinstance(arg, Node)
            ):
                raise _Unsupported(f"{node.name}: only the boxes may be selected")
        else:
            raise _Unsupported(f"{node.name}: {target} is not known to be row-independent")
        new_args = tuple(self.dense_of(arg) for arg in args)
        new_kwargs = {key: self.dense_of(value) for key, value in kwargs.items()}
        with self.graph.inserting_before(self.anchor):
            created = self.graph.create_node("call_function", target, new_args, new_kwargs,
                                             name=f"{DENSE_PREFIX}_{node.name}")
        created.meta["stack_trace"] = node.meta.get("stack_trace")
        self.created.append(created)
        fake_propagate(self.gm, [created], self.fake_mode)
        return created

    def build(self, values: Any, anchor: Node) -> Any:
        """Dense ``values``; new nodes go right before ``anchor`` (the write-back)."""
        self.anchor = anchor
        return self.dense_of(values)


def _taint(gm: GraphModule, unbacked: Optional[Dict[Node, Tuple[Any, bool]]] = None) -> Set[Node]:
    """Nodes whose value or shape depends on a data-dependent size (transitively).

    ``unbacked`` (node -> (its ``val``, whether that val has an unbacked size)) keeps the per-node sympy walk, the
    walk's whole cost, across the recomputations of one pass; an entry is redone when ``meta['val']`` changed."""
    tainted: Set[Node] = set()
    for node in gm.graph.nodes:
        if any(arg in tainted for arg in node.all_input_nodes):
            tainted.add(node)
            continue
        if _has_unbacked_val(node, unbacked if unbacked is not None else {}):
            tainted.add(node)
    return tainted


def _write_back(node: Node) -> Optional[Tuple[Node, Node, int]]:
    """``(base, mask, mask_rank)`` for ``index_put(base, [selection], values)`` without accumulate."""
    if node.target not in WRITE_BACK_OPS:
        return None
    accumulate = node.args[3] if len(node.args) > 3 else node.kwargs.get("accumulate", False)
    if accumulate:
        return None
    index = _single_leading_index(node)
    if index is None:
        return None
    selection = selection_mask(index)
    if selection is None:
        return None
    mask, mask_rank = selection
    base_shape = _val(node.args[0]).shape
    if len(base_shape) < mask_rank or not all(
        _same_size(a, b) for a, b in zip(base_shape[:mask_rank], _val(mask).shape)
    ):
        return None
    return node.args[0], mask, mask_rank


def _has_unbacked_val(node: Node, unbacked: Dict[Node, Tuple[Any, bool]]) -> bool:
    """:func:`_has_unbacked` of ``node``'s val, kept in ``unbacked`` while its val is the same object."""
    value = _val(node)
    known = unbacked.get(node)
    if known is None or known[0] is not value:
        known = unbacked[node] = (value, _has_unbacked(value))
    return known[1]


def _remove_dead_selection(gm: GraphModule, unbacked: Optional[Dict[Node, Tuple[Any, bool]]] = None) -> None:
    """Drop dead nodes, and data-dependent tensors whose only uses are shape assertions (``unbacked``: as for
    :func:`_taint`; this loop starts over after each erased selection and asked every node again)."""
    unbacked = {} if unbacked is None else unbacked
    graph = gm.graph
    changed = True
    while changed:
        changed = False
        for node in reversed(list(graph.nodes)):
            if node.op != "call_function":
                continue
            if not node.users and not node.is_impure():
                graph.erase_node(node)
                changed = True
            elif isinstance(_val(node), torch.Tensor) and _has_unbacked_val(node, unbacked) and \
                    _only_assertions(node):
                _erase_with_assertions(graph, node)
                changed = True
                break


def _only_assertions(node: Node) -> bool:
    """True when every use of ``node`` ends in a shape assertion (sym_size -> compare -> assert)."""
    for user in node.users:
        if user.target in (aten._assert_scalar.default, aten.sym_constrain_range_for_size.default,
                           aten.sym_constrain_range.default):
            continue
        if user.op == "call_function" and (
            user.target is aten.sym_size.int or getattr(user.target, "__module__", "") in (
                "_operator", "operator") or user.target in (torch.sym_max, torch.sym_min)
        ) and _only_assertions(user):
            continue
        return False
    return True


def _erase_with_assertions(graph: Any, node: Node) -> None:
    doomed: Set[Node] = set()
    pending = [node]
    while pending:
        current = pending.pop()
        if current not in doomed:
            doomed.add(current)
            pending.extend(current.users)
    for item in reversed(list(graph.nodes)):
        if item in doomed:
            graph.erase_node(item)


def rewrite_data_dependent(gm: GraphModule) -> bool:
    """Rewrite every provably row-independent masked write-back of ``gm`` into dense ``where``.

    Returns True when the graph changed. Does nothing in ``"native"`` mode (see :func:`get_mode`).
    """
    if get_mode() != "dense":
        return False
    changed = False
    unbacked: Dict[Node, Tuple[Any, bool]] = {}
    tainted: Optional[Set[Node]] = None  # the taint changes only when a write-back is rewritten
    fake_mode: Any = DETECT_FAKE_MODE  # found at the first write-back
    for node in list(gm.graph.nodes):
        match = _write_back(node)
        if match is None:
            continue
        base, mask, mask_rank = match
        if tainted is None:
            tainted = _taint(gm, unbacked)
        if fake_mode is DETECT_FAKE_MODE:
            fake_mode = graph_fake_mode(gm)
        builder = _DenseBuilder(gm, mask, mask_rank, tainted, fake_mode=fake_mode)
        try:
            values = builder.build(node.args[2], node)
        except _Unsupported:
            for created in reversed(builder.created):
                if not created.users:
                    gm.graph.erase_node(created)
            continue
        created = list(builder.created)
        graph = gm.graph
        base_value = _val(base)
        def add(target: Any, args: Tuple[Any, ...], kwargs: Optional[Dict[str, Any]] = None,
                what: str = "") -> Node:
            made = graph.create_node("call_function", target, args, kwargs or {},
                                     name=f"{DENSE_PREFIX}_{node.name}_{what}")
            made.meta["stack_trace"] = node.meta.get("stack_trace")
            created.append(made)
            fake_propagate(gm, [made], fake_mode)
            return made

        with graph.inserting_before(node):
            broadcast_mask = mask
            extra = base_value.dim() - mask_rank
            if extra and mask_rank == 1:
                broadcast_mask = add(aten.view.default, (mask, [-1] + [1] * extra), what="mask")
            else:
                for _ in range(extra):
                    broadcast_mask = add(aten.unsqueeze.default, (broadcast_mask, -1), what="mask")
            if isinstance(values, Node) and _val(values).dtype != base_value.dtype:
                values = add(aten._to_copy.default, (values,), {"dtype": base_value.dtype},
                             what="cast")
            dense = add(aten.where.self, (broadcast_mask, values, base), what="where")
        _log.info("dense masked write-back for node %s (mask %s): %d new nodes", node.name,
                  mask.name, len(created))
        node.replace_all_uses_with(dense)
        graph.erase_node(node)
        changed = True
        tainted = None
    if changed:
        _remove_dead_selection(gm, unbacked)
        gm.graph.lint()
        generate_code_on_first_use(gm)
    return changed


def data_dependent_pass(gm: GraphModule, settings: Any = None) -> GraphModule:
    """torch_tensorrt lowering-pass form of :func:`rewrite_data_dependent` (``(gm, settings) -> gm``)."""
    rewrite_data_dependent(gm)
    return gm


__all__ = [
    "MODES",
    "DENSE_PREFIX",
    "ELEMENTWISE_OPS",
    "get_mode",
    "requested_mode",
    "set_mode",
    "data_dependent_mode",
    "selection_mask",
    "rewrite_data_dependent",
    "data_dependent_pass",
]
