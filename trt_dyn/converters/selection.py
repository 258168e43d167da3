"""Converters for selection without a NonZero layer: nonzero, boolean-mask index, masked index_put, bounded
nonzero, dynamic-k top-k (the layer constructions are in :mod:`trt_dyn.converters.compaction`).

On full TensorRT (``IS_RTX`` False) the nonzero and boolean-index converters here stay disabled and
upstream's native NonZero path is used, unless :func:`trt_dyn.lowering.data_dependent.set_mode`
selects ``"dense"`` (which forces the compaction converters too). A static input from which a
data-dependent size is computed is declared with a dynamic dim 0 (min = opt = max) when the network
is built (:func:`relax_inputs_feeding_data_dependent_sizes`).
"""

from __future__ import annotations

import functools
import logging
from typing import Any, Callable, Dict, Optional, Sequence

import torch
from torch.fx.node import Node

from .._hooks import ConverterPriority, after_placeholder, optimization_profiles, upstream_gather
from .common import registered
from .._trt import IS_RTX, trt
from .compaction import (  # noqa: F401  (FALLBACK_PREFIXES, count_fallback_layers re-exported)
    FALLBACK_PREFIXES,
    TOPK_MAX_K,
    _assert_mask_covers,
    _itensor,
    _named,
    _reshape,
    _slice_rows,
    compact_true_positions,
    count_fallback_layers,
    masked_put,
    nonzero_bounded_layers,
    nonzero_exact,
    topk_dynamic_k,
)
from .errors import fail
from .shape_tensor import as_shape_tensor, host_read, shape_items

_log = logging.getLogger("trt_dyn.data_dependent")


def _reported(key: str) -> Callable:
    """Log how many layers the wrapped converter added for one node (the fallback's GPU cost)."""

    def wrap(converter: Callable) -> Callable:
        @functools.wraps(converter)
        def run(ctx: Any, target: Any, args: Any, kwargs: Any, name: str) -> Any:
            before = ctx.net.num_layers
            result = converter(ctx, target, args, kwargs, name)
            _log.info("%s fallback for node %s: %d TensorRT layers", key, name,
                      ctx.net.num_layers - before)
            return result

        return run

    return wrap


def _use_compaction() -> bool:
    """RTX always (no NonZero runner); full TensorRT only when dense mode is forced."""
    if IS_RTX:
        return True
    from ..lowering.data_dependent import get_mode

    return get_mode() == "dense"


# --------------------------------------------------------------------------------------------
# aten.nonzero (exact, data-dependent row count) on TensorRT-RTX
# --------------------------------------------------------------------------------------------


def _nonzero_validator(node: Node, settings: Any = None) -> bool:
    value = node.args[0].meta.get("val") if isinstance(node.args[0], Node) else None
    return _use_compaction() and value is not None and value.dim() >= 1


@registered(
    torch.ops.aten.nonzero.default,
    capability_validator=_nonzero_validator,
    priority=ConverterPriority.HIGH,
    requires_output_allocator=True,
)
@_reported("nonzero")
def convert_nonzero(ctx: Any, target: Any, args: Sequence[Any], kwargs: Dict[str, Any],
                    name: str) -> Any:
    mask = _itensor(ctx, args[0], f"{name}_mask")
    if len(mask.shape) == 0:
        raise fail(ctx, target, name, "nonzero of a 0-d tensor is not supported")
    return nonzero_exact(ctx, mask, FALLBACK_PREFIXES["nonzero"], name)


# --------------------------------------------------------------------------------------------
# aten.index.Tensor with one boolean mask (x[mask], x[:, mask]) on TensorRT-RTX
# --------------------------------------------------------------------------------------------


def _single_bool_index(node: Node) -> Optional[int]:
    """Position of the only index of ``node`` if it is a boolean mask after leading Nones."""
    indices = node.args[1]
    present = [i for i, index in enumerate(indices) if index is not None]
    if len(present) != 1 or any(index is not None for index in indices[: present[0]]):
        return None
    value = indices[present[0]].meta.get("val") if isinstance(indices[present[0]], Node) else None
    if value is None or value.dtype not in (torch.bool, torch.uint8):
        return None
    return present[0]


def _mask_index_validator(node: Node, settings: Any = None) -> bool:
    return _use_compaction() and _single_bool_index(node) is not None


@registered(
    torch.ops.aten.index.Tensor,
    capability_validator=_mask_index_validator,
    priority=ConverterPriority.HIGH,
    requires_output_allocator=True,
)
@_reported("mask_index")
def convert_mask_index(ctx: Any, target: Any, args: Sequence[Any], kwargs: Dict[str, Any],
                       name: str) -> Any:
    prefix = FALLBACK_PREFIXES["mask_index"]
    source = _itensor(ctx, args[0], f"{name}_self")
    leading = next(i for i, index in enumerate(args[1]) if index is not None)
    mask = _itensor(ctx, args[1][leading], f"{name}_mask")
    rank, mask_rank = len(source.shape), len(mask.shape)
    if mask_rank == 0 or leading + mask_rank > rank:
        raise fail(ctx, target, name, f"boolean index of rank {mask_rank} at dim {leading} does not "
                   f"fit a tensor of rank {rank}")
    # The mask must cover exactly the indexed dims; eager raises for a mismatch, so must we.
    for axis in range(mask_rank):
        a, b = mask.shape[axis], source.shape[leading + axis]
        if a >= 0 and b >= 0 and a != b:
            raise fail(ctx, target, name, f"mask dim {axis} has size {a} but the indexed tensor's "
                       f"dim {leading + axis} has size {b}")
    _assert_mask_covers(ctx, mask, source, leading, prefix, name)
    positions, count, _ = compact_true_positions(ctx, mask, prefix, name)
    label = f"{prefix}:{name}"
    # the kept dims' static sizes stay ints, joined with the -1 into one constant (constants per part would be
    # folded into another and left unread)
    items = shape_items(ctx, source, label, list(range(leading))) + [-1] + \
        shape_items(ctx, source, label, list(range(leading + mask_rank, rank)))
    flattened = _reshape(ctx, source, as_shape_tensor(ctx, items, label), prefix, name, "flatten_masked_dims")
    selected = _slice_rows(ctx, positions, count, prefix, name)
    gather = ctx.net.add_gather(flattened, selected, leading)
    return _named(gather, prefix, name, "gather").get_output(0)


# --------------------------------------------------------------------------------------------
# aten.index_put with one boolean mask (out[mask] = values), when the dense rewrite did not apply
# --------------------------------------------------------------------------------------------


def _masked_put_validator(node: Node, settings: Any = None) -> bool:
    accumulate = node.args[3] if len(node.args) > 3 else node.kwargs.get("accumulate", False)
    return _use_compaction() and not accumulate and _single_bool_index(node) == 0


@registered(
    torch.ops.aten.index_put.default,
    capability_validator=_masked_put_validator,
    priority=ConverterPriority.HIGH,
)
@_reported("masked_put")
def convert_masked_index_put(ctx: Any, target: Any, args: Sequence[Any], kwargs: Dict[str, Any],
                             name: str) -> Any:
    base = _itensor(ctx, args[0], f"{name}_self")
    mask = _itensor(ctx, args[1][0], f"{name}_mask")
    values = _itensor(ctx, args[2], f"{name}_values")
    if len(mask.shape) == 0 or len(mask.shape) > len(base.shape):
        raise fail(ctx, target, name, f"mask of rank {len(mask.shape)} cannot index a tensor of "
                   f"rank {len(base.shape)}")
    return masked_put(ctx, base, mask, values, FALLBACK_PREFIXES["masked_put"], name)


# --------------------------------------------------------------------------------------------
# trt_dyn::nonzero_bounded (padded nonzero + count; no data-dependent shape)
# --------------------------------------------------------------------------------------------


def _register_nonzero_bounded() -> None:
    op = getattr(getattr(torch.ops, "trt_dyn", None), "nonzero_bounded", None)
    if op is None:
        return

    @registered(op.default)
    @_reported("nonzero_bounded")
    def convert_nonzero_bounded(ctx: Any, target: Any, args: Sequence[Any],
                                kwargs: Dict[str, Any], name: str) -> Any:
        mask = _itensor(ctx, args[0], f"{name}_mask")
        if len(mask.shape) == 0:
            raise fail(ctx, target, name, "nonzero_bounded of a 0-d tensor is not supported")
        return nonzero_bounded_layers(ctx, mask, FALLBACK_PREFIXES["nonzero_bounded"], name)


# --------------------------------------------------------------------------------------------
# trt_dyn::topk_dyn (k a run-time tensor)
# --------------------------------------------------------------------------------------------

def _register_topk_dyn() -> None:
    op = getattr(getattr(torch.ops, "trt_dyn", None), "topk_dyn", None)
    if op is None:
        return

    @registered(op.default)
    @_reported("topk_dyn")
    def convert_topk_dyn(ctx: Any, target: Any, args: Sequence[Any], kwargs: Dict[str, Any],
                         name: str) -> Any:
        values = list(args) + [None] * (5 - len(args))
        source, k, dim, largest = values[0], values[1], values[2], values[3]
        dim = kwargs.get("dim", -1 if dim is None else dim)
        largest = kwargs.get("largest", True if largest is None else largest)
        source = _itensor(ctx, source, f"{name}_self")
        if isinstance(k, torch.Tensor) and k.numel() == 1:
            k = int(host_read(k, lambda t: t.reshape(()).item()))
        if isinstance(k, int) and k > TOPK_MAX_K:
            raise fail(ctx, target, name, f"k={k} exceeds TensorRT's TopK limit of {TOPK_MAX_K}")
        if isinstance(k, trt.ITensor) and len(k.shape) > 1:
            raise fail(ctx, target, name, f"k must be a 0-d or [1] tensor, got shape {tuple(k.shape)}")
        return topk_dynamic_k(ctx, source, k, int(dim), bool(largest), FALLBACK_PREFIXES["topk_dyn"], name)


def _rank_below_2(node: Any, settings: Any = None) -> bool:
    value = node.args[0].meta.get("val") if isinstance(node.args[0], torch.fx.Node) else None
    return value is not None and value.dim() < 2


@registered(torch.ops.aten.topk.default, capability_validator=_rank_below_2, priority=ConverterPriority.HIGH)
def convert_rank1_topk(ctx: Any, target: Any, args: Sequence[Any], kwargs: Dict[str, Any], name: str) -> Any:
    """aten.topk of a rank-0/1 tensor (detectron2's ``scores.flatten().topk(k)``): upstream hands it to TensorRT's
    TopK, which needs rank >= 2 ("at least 2 dimensions are required"); viewed as [1, N] like topk_dyn."""
    values = list(args) + [None] * (6 - len(args))
    k = values[1]
    dim = kwargs.get("dim", -1 if values[2] is None else values[2])
    largest = kwargs.get("largest", True if values[3] is None else values[3])
    if isinstance(k, int) and k > TOPK_MAX_K:
        raise fail(ctx, target, name, f"k={k} exceeds TensorRT's TopK limit of {TOPK_MAX_K}")
    return topk_dynamic_k(ctx, _itensor(ctx, values[0], f"{name}_self"), k, int(dim), bool(largest),
                          FALLBACK_PREFIXES["topk_dyn"], name)


@registered(torch.ops.aten.gather.default, priority=ConverterPriority.HIGH)
def convert_gather(ctx: Any, target: Any, args: Sequence[Any], kwargs: Dict[str, Any], name: str) -> Any:
    """aten.gather with upstream's conversion, an ELEMENT-mode gather (output shaped like the index, index dims
    at most the data's: torch.gather's rules) that reads no static size. Upstream registers it without
    ``supports_dynamic_shapes``, so in a dynamic graph the node was left to PyTorch."""
    values = list(args) + [None] * (4 - len(args))
    if kwargs.get("sparse_grad", values[3]):
        raise fail(ctx, target, name, "sparse_grad=True is not supported")
    return upstream_gather(ctx, target, name, _itensor(ctx, values[0], f"{name}_self"),
                           int(kwargs.get("dim", values[1])), _itensor(ctx, values[2], f"{name}_index"))


# --------------------------------------------------------------------------------------------
# Static inputs feeding a data-dependent size: declared with a dynamic dim 0 (min = opt = max)
# --------------------------------------------------------------------------------------------


def inputs_feeding_data_dependent_sizes(graph_module: torch.fx.GraphModule) -> set:
    """Names of the placeholders from which a data-dependent (unbacked) size is computed."""
    from ..lowering.float_sizes import _unbacked

    reaching: Dict[Node, frozenset] = {}
    feeding: set = set()
    for node in graph_module.graph.nodes:
        if node.op == "placeholder":
            # only tensor inputs: a SymInt placeholder (torch.compile's size inputs) is fed as a scalar
            is_tensor = isinstance(node.meta.get("val"), torch.Tensor)
            reaching[node] = frozenset([node.name]) if is_tensor else frozenset()
            continue
        sources = frozenset().union(*[reaching.get(arg, frozenset()) for arg in node.all_input_nodes])
        reaching[node] = sources
        # the node creating the data-dependent size (nonzero, x[mask]), not the ones consuming it
        if node.op == "call_function" and _unbacked(node.meta.get("val")) and \
                not any(_unbacked(arg.meta.get("val")) for arg in node.all_input_nodes):
            feeding |= sources
    return feeding


def _relax_static_input(interpreter: Any, tensor: Any) -> None:
    """Measured on TensorRT-RTX 1.6: in a network whose inputs are all static, a Slice sized by a count
    computed from the data fails at ``getDimensions`` (a rank-1 float input is taken as a shape tensor,
    "Network input x is a shape tensor and must have type Int32 or Int64"; a (6, 4) input trips an
    internal shape-analyser assertion), whether the count comes from a Reduce, a Cumulative, a MatMul or a
    cast chain. The same network builds once the input's dim 0 is declared -1 with a min = opt = max
    profile at the static size, so the engine still accepts exactly the static shape."""
    static = tuple(tensor.shape)
    if not static or -1 in static or tensor.is_shape_tensor:
        return
    tensor.shape = (-1,) + static[1:]
    for profile in optimization_profiles(interpreter):
        profile.set_shape(tensor.name, static, static, static)


def relax_inputs_feeding_data_dependent_sizes(interpreter: Any, node: Optional[Node], tensor: Any) -> None:
    """Placeholder callback: a static input from which a data-dependent size is computed gets a dynamic dim 0."""
    if not _use_compaction():
        return
    feeding = interpreter.__dict__.get("_trt_dyn_feeding_sizes")
    if feeding is None:
        feeding = interpreter._trt_dyn_feeding_sizes = inputs_feeding_data_dependent_sizes(interpreter.module)
    if node is not None and node.name in feeding:
        _relax_static_input(interpreter, tensor)


after_placeholder(relax_inputs_feeding_data_dependent_sizes)
_register_nonzero_bounded()
_register_topk_dyn()

__all__ = [
    "FALLBACK_PREFIXES",
    "count_fallback_layers",
    "inputs_feeding_data_dependent_sizes",
    "relax_inputs_feeding_data_dependent_sizes",
]
