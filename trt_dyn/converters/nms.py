"""Exact non-maximum suppression from native layers: ``torchvision::nms`` and ``trt_dyn::batched_nms``.

TensorRT-RTX 1.6 has ``add_nms`` but no runner for it, and no plugins, so NMS is built from
elementwise, matrix-multiply, reduce, Cumulative, Scatter, Slice and one ``ILoop`` (all measured to
build on the CPU builder; docs/nms.md).

Semantics reproduced (torchvision's CPU kernel): boxes are visited in descending score order, ties
by increasing index (its sort is stable); a visited box that is not yet suppressed is kept and
suppresses every later box whose IoU with it is ``> iou_threshold``. IoU is computed with the
kernel's float32 operations (``inter / (area_i + area_j - inter)``); the threshold, a double in the
kernel, is compared through the largest float32 not above it, which decides every float32 IoU the
same way.

Formulation (docs/nms.md has the measurements): with ``first[i, j]`` ("box i is visited before box
j") and ``S = first & (IoU > t)``, the kept set is the unique solution of
``keep[j] = not any_i(keep[i] & S[i, j])`` (S is acyclic). Starting from all-true, the iteration
``keep <- not (keep @ S > 0)`` fixes at least one more box in visiting order per step, so it reaches
that solution after at most N steps; an ``ILoop`` with a WHILE limit stops as soon as a step changes
nothing. Each step is one ``[1, N] x [N, N]`` product; the number of steps is the length of the
longest chain of "suppressed because the suppressor was kept" decisions, a handful for detector
outputs. The kept boxes are then ordered by their rank in visiting order (another product with
``first``) and compacted with a Scatter to a permutation, sliced by the kept count: the count is a
run-time value, so later layers (top-k, gathers) stay in the same engine.

Every layer carries the name prefix ``nms:<node>`` (:func:`count_nms_layers`).
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Sequence

import numpy as np
import torch

from .. import settings
from .._hooks import ConverterPriority
from .common import registered
from .._trt import trt
from .errors import fail
from .compaction import _arange, _cast, _elementwise, _itensor, _named, _reshape, _slice_rows
from .shape_tensor import dim_of, int64_constant, to_1d

LAYER_PREFIX = "nms"
#: torchvision's CPU batched_nms switches from the coordinate trick to per-class NMS above this numel
VANILLA_NUMEL = 4000

E = trt.ElementWiseOperation


def count_nms_layers(network: Any) -> int:
    """How many layers of ``network`` the NMS converters emitted."""
    return sum(
        network.get_layer(i).name.startswith(LAYER_PREFIX + ":") for i in range(network.num_layers)
    )


def float32_threshold(iou_threshold: float) -> float:
    """The largest float32 ``<= iou_threshold``: for float32 x, ``x > it`` iff ``x > iou_threshold``."""
    value = np.float32(iou_threshold)
    if float(value) > iou_threshold:
        value = np.nextafter(value, np.float32(-np.inf))
    return float(value)


class _Layers:
    """Named layer helpers for one NMS node."""

    def __init__(self, ctx: Any, name: str):
        self.ctx, self.net, self.name = ctx, ctx.net, name
        self.label = f"{LAYER_PREFIX}:{name}"

    def named(self, layer: Any, what: str) -> Any:
        return _named(layer, LAYER_PREFIX, self.name, what)

    def binary(self, a: Any, b: Any, op: Any, what: str) -> Any:
        return _elementwise(self.ctx, a, b, op, LAYER_PREFIX, self.name, what)

    def reshape(self, tensor: Any, shape: Any, what: str) -> Any:
        return _reshape(self.ctx, tensor, shape, LAYER_PREFIX, self.name, what)

    def cast(self, tensor: Any, dtype: Any) -> Any:
        return _cast(self.ctx, tensor, dtype, LAYER_PREFIX, self.name)

    def constant(self, value: Any, dtype: Any, rank: int, what: str) -> Any:
        array = np.full((1,) * rank, value, dtype=trt.nptype(dtype))
        return self.named(self.net.add_constant(array.shape, array), what).get_output(0)

    def column(self, boxes: Any, index: int) -> Any:
        """``boxes[:, index:index+1]`` as ``[N, 1]``."""
        indices = self.named(self.net.add_constant((1,), np.array([index], dtype=np.int32)), "col")
        return self.named(self.net.add_gather(boxes, indices.get_output(0), 1),
                          f"column{index}").get_output(0)

    def matmul(self, a: Any, b: Any, what: str) -> Any:
        layer = self.net.add_matrix_multiply(a, trt.MatrixOperation.NONE, b, trt.MatrixOperation.NONE)
        return self.named(layer, what).get_output(0)

    def reduce_all_axes(self, tensor: Any, op: Any, what: str) -> Any:
        axes = (1 << len(tensor.shape)) - 1
        return self.named(self.net.add_reduce(tensor, op, axes, False), what).get_output(0)


def _pairwise_iou(nl: _Layers, boxes: Any) -> Any:
    """``[N, N]`` float32 IoU with torchvision's operation order (symmetric)."""
    x1, y1, x2, y2 = (nl.column(boxes, k) for k in range(4))
    area = nl.binary(nl.binary(x2, x1, E.SUB, "width"), nl.binary(y2, y1, E.SUB, "height"),
                     E.PROD, "area")
    row = lambda tensor, what: nl.reshape(tensor, (1, -1), what)  # noqa: E731
    zero = nl.constant(0.0, trt.float32, 2, "zero")
    inter_w = nl.binary(
        nl.binary(nl.binary(x2, row(x2, "x2_row"), E.MIN, "xx2"),
                  nl.binary(x1, row(x1, "x1_row"), E.MAX, "xx1"), E.SUB, "w"),
        zero, E.MAX, "w_clamped")
    inter_h = nl.binary(
        nl.binary(nl.binary(y2, row(y2, "y2_row"), E.MIN, "yy2"),
                  nl.binary(y1, row(y1, "y1_row"), E.MAX, "yy1"), E.SUB, "h"),
        zero, E.MAX, "h_clamped")
    inter = nl.binary(inter_w, inter_h, E.PROD, "inter")
    union = nl.binary(nl.binary(area, row(area, "area_row"), E.SUM, "area_sum"), inter, E.SUB,
                      "union")
    return nl.binary(inter, union, E.DIV, "iou")


def _visited_first(nl: _Layers, scores: Any, count_1d: Any) -> Any:
    """``[N, N]`` bool: box i is visited before box j (higher score, or equal score and i < j)."""
    index = nl.reshape(_arange(nl.ctx, count_1d, LAYER_PREFIX, nl.name), (-1, 1), "index_col")
    index_row = nl.reshape(index, (1, -1), "index_row")
    score = nl.reshape(scores, (-1, 1), "score_col")
    score_row = nl.reshape(scores, (1, -1), "score_row")
    higher = nl.binary(score, score_row, E.GREATER, "higher")
    tie = nl.binary(nl.binary(score, score_row, E.EQUAL, "tie"),
                    nl.binary(index, index_row, E.LESS, "earlier"), E.AND, "tie_earlier")
    return nl.binary(higher, tie, E.OR, "first")


def _fixed_point_keep(nl: _Layers, suppresses: Any, first: Any, count_1d: Any) -> Any:
    """``[1, N]`` float32 0/1: the greedy kept set, by fixed-point iteration (module docstring)."""
    loop = nl.net.add_loop()
    keep = loop.add_recurrence(_all_ones_row(nl, count_1d))
    nl.named(keep, "keep")
    changed = loop.add_recurrence(
        nl.named(nl.net.add_constant((), np.array(True)), "start").get_output(0))
    nl.named(changed, "changed")
    nl.named(loop.add_trip_limit(changed.get_output(0), trt.TripLimit.WHILE), "until_stable")
    current = keep.get_output(0)
    hits = nl.matmul(current, suppresses, "suppressor_hits")
    half = nl.constant(0.5, trt.float32, 2, "half")
    next_keep = nl.cast(nl.binary(hits, half, E.LESS, "unsuppressed"), trt.float32)
    difference = nl.cast(nl.binary(next_keep, current, E.EQUAL, "same"), trt.float32)
    # changed = any(next != current) = sum(1 - same) > 0; SUM is defined (0) for N = 0
    one = nl.constant(1.0, trt.float32, 2, "one2d")
    flips = nl.reduce_all_axes(nl.binary(one, difference, E.SUB, "flipped"),
                               trt.ReduceOperation.SUM, "flips")
    next_changed = nl.binary(flips, nl.constant(0.0, trt.float32, 0, "zero0d"), E.GREATER,
                             "changed_next")
    keep.set_input(1, next_keep)
    changed.set_input(1, next_changed)
    output = loop.add_loop_output(keep.get_output(0), trt.LoopOutput.LAST_VALUE)
    return nl.named(output, "kept").get_output(0)


def _sequential_keep(nl: _Layers, suppresses: Any, first: Any, count_1d: Any) -> Any:
    """``[1, N]`` float32 0/1: the greedy kept set, one loop iteration per box in visiting order.

    The visiting order is the permutation ``order[rank[j]] = j`` with ``rank[j]`` the number of boxes
    visited before j (a Scatter, no TopK: exact for ties and for N above TopK's 3840).
    """
    ones = _all_ones_row(nl, count_1d)
    rank = nl.cast(nl.reshape(nl.matmul(ones, nl.cast(first, trt.float32), "visited_before"), (-1,),
                              "rank"), trt.int64)
    index = _arange(nl.ctx, count_1d, LAYER_PREFIX, nl.name)
    scatter = nl.net.add_scatter(index, rank, index, trt.ScatterMode.ELEMENT)
    scatter.axis = 0
    order = nl.named(scatter, "visiting_order").get_output(0)
    loop = nl.net.add_loop()
    nl.named(loop.add_trip_limit(nl.reshape(count_1d, (), "trips"), trt.TripLimit.COUNT), "per_box")
    keep = loop.add_recurrence(ones)
    nl.named(keep, "keep")
    box = nl.named(loop.add_iterator(order, 0, False), "box").get_output(0)
    current = keep.get_output(0)
    alive = nl.named(nl.net.add_gather(current, box, 1), "alive").get_output(0)  # [1]
    row = nl.named(nl.net.add_gather(suppresses, nl.reshape(box, (1,), "box_1d"), 0),
                   "row").get_output(0)  # [1, N]
    hit = nl.binary(row, nl.reshape(alive, (1, 1), "alive2d"), E.PROD, "hit")
    keep.set_input(1, nl.binary(current, nl.binary(current, hit, E.PROD, "suppressed"), E.SUB,
                                "next_keep"))
    output = loop.add_loop_output(keep.get_output(0), trt.LoopOutput.LAST_VALUE)
    return nl.named(output, "kept").get_output(0)


#: how the greedy kept set is computed (docs/nms.md): "fixed_point" (default) or "sequential"
FORMULATIONS = {"fixed_point": _fixed_point_keep, "sequential": _sequential_keep}


def set_formulation(name: str) -> str:
    """Select the NMS formulation for later conversions; returns the previous one (an alias of
    ``trt_dyn.settings.set("nms_formulation", name)``; env ``TRT_DYN_NMS_FORMULATION``)."""
    previous = settings.get("nms_formulation")
    settings.set("nms_formulation", name)
    return previous


def _all_ones_row(nl: _Layers, count_1d: Any) -> Any:
    """float32 ones of shape ``[1, N]``."""
    fill = nl.net.add_fill((0,), trt.FillOperation.LINSPACE, trt.float32)
    fill.set_input(0, _row_shape(nl, count_1d))
    fill.set_input(1, nl.named(nl.net.add_constant((), np.array(1.0, dtype=np.float32)),
                               "one").get_output(0))
    fill.set_input(2, nl.named(nl.net.add_constant((2,), np.zeros(2, dtype=np.float32)),
                               "step").get_output(0))
    return nl.named(fill, "all_ones").get_output(0)


def _row_shape(nl: _Layers, count_1d: Any) -> Any:
    """``[1, N]`` as a shape tensor."""
    layer = nl.net.add_concatenation([int64_constant(nl.ctx, [1], nl.label), count_1d])
    layer.axis = 0
    return nl.named(layer, "row_shape").get_output(0)


def _ordered_kept(nl: _Layers, kept: Any, first: Any, count_1d: Any) -> Any:
    """Indices of the kept boxes in visiting order: int64 ``[kept count]``."""
    first_f = nl.cast(first, trt.float32)
    # kept boxes visited before each box: exact integers in float32 (N < 2**24)
    rank = nl.cast(nl.reshape(nl.matmul(kept, first_f, "kept_before"), (-1,), "rank_flat"),
                   trt.int64)
    kept_flat = nl.reshape(kept, (-1,), "kept_flat")
    kept_i32 = nl.cast(kept_flat, trt.int32)
    axis = nl.named(nl.net.add_constant((), np.array(0, dtype=np.int32)), "axis").get_output(0)
    inclusive = nl.named(nl.net.add_cumulative(kept_i32, axis, trt.CumulativeOperation.SUM,
                                               False, False), "cumsum").get_output(0)
    kept64 = nl.cast(kept_i32, trt.int64)
    kept_index_before = nl.binary(nl.cast(inclusive, trt.int64), kept64, E.SUB, "kept_index_before")
    total = nl.named(nl.net.add_reduce(kept64, trt.ReduceOperation.SUM, 1, True),
                     "kept_count").get_output(0)
    index = _arange(nl.ctx, count_1d, LAYER_PREFIX, nl.name)
    # dropped boxes go after the kept ones in index order: the destinations are a permutation
    dropped_slot = nl.binary(total, nl.binary(index, kept_index_before, E.SUB, "dropped_before"),
                             E.SUM, "dropped_slot")
    is_kept = nl.cast(kept_flat, trt.bool)
    destination = nl.named(nl.net.add_select(is_kept, rank, dropped_slot),
                           "destination").get_output(0)
    scatter = nl.net.add_scatter(index, destination, index, trt.ScatterMode.ELEMENT)
    scatter.axis = 0
    ordered = nl.named(scatter, "order").get_output(0)
    return _slice_rows(nl.ctx, ordered, total, LAYER_PREFIX, nl.name)


def nms_indices(ctx: Any, boxes: Any, scores: Any, iou_threshold: float, name: str,
                iou_boxes: Optional[Any] = None, allowed: Optional[Any] = None) -> Any:
    """Kept indices (int64 ``[K]``, visiting order) of greedy NMS over ``boxes [N, 4]``, ``scores [N]``.

    ``iou_boxes`` (default ``boxes``) are the coordinates IoU is computed from; ``allowed`` is an
    optional ``[N, N]`` bool: pairs where it is false never suppress each other.
    """
    nl = _Layers(ctx, name)
    count_1d = to_1d(ctx, dim_of(ctx, boxes, 0, nl.label), nl.label)
    iou = _pairwise_iou(nl, boxes if iou_boxes is None else iou_boxes)
    threshold = nl.constant(float32_threshold(iou_threshold), trt.float32, 2, "threshold")
    first = _visited_first(nl, scores, count_1d)
    suppresses = nl.binary(nl.binary(iou, threshold, E.GREATER, "overlaps"), first, E.AND,
                           "suppresses")
    if allowed is not None:
        suppresses = nl.binary(suppresses, allowed, E.AND, "allowed")
    keep = FORMULATIONS[settings.get("nms_formulation")]
    kept = keep(nl, nl.cast(suppresses, trt.float32), first, count_1d)
    return _ordered_kept(nl, kept, first, count_1d)


def batched_nms_indices(ctx: Any, boxes: Any, scores: Any, classes: Any, iou_threshold: float,
                        name: str) -> Any:
    """torchvision's CPU ``batched_nms``, both of its branches, chosen at run time by the box count.

    ``numel <= 4000``: NMS on ``boxes + classes * (max(boxes) + 1)`` (the coordinate trick; boxes of
    different classes may still overlap there when coordinates are negative, as in torchvision).
    Above: per-class NMS on the original coordinates (IoU only between boxes of one class). The
    kept order is the same in both (score descending, ties by index).
    """
    nl = _Layers(ctx, name)
    # max over the boxes and one -inf: equal to max(boxes) for N >= 1 and defined for N = 0
    flat = nl.reshape(boxes, (-1,), "flat_boxes")
    floor = nl.named(nl.net.add_constant((1,), np.array([-np.inf], dtype=np.float32)),
                     "minus_inf").get_output(0)
    padded = nl.net.add_concatenation([flat, floor])
    padded.axis = 0
    max_coordinate = nl.reduce_all_axes(nl.named(padded, "with_floor").get_output(0),
                                        trt.ReduceOperation.MAX, "max_coordinate")
    spread = nl.reshape(nl.binary(max_coordinate, nl.constant(1.0, trt.float32, 0, "one0d"), E.SUM,
                                  "spread"), (1, 1), "spread2d")
    offsets = nl.binary(nl.reshape(nl.cast(classes, trt.float32), (-1, 1), "class_col"), spread,
                        E.PROD, "offsets")
    shifted = nl.binary(boxes, offsets, E.SUM, "shifted")
    numel = nl.binary(dim_of(ctx, boxes, 0, nl.label), int64_constant(ctx, 4, nl.label), E.PROD,
                      "numel")
    vanilla = nl.binary(numel, int64_constant(ctx, VANILLA_NUMEL, nl.label), E.GREATER, "vanilla")
    vanilla2d = nl.reshape(vanilla, (1, 1), "vanilla2d")
    iou_boxes = nl.named(nl.net.add_select(vanilla2d, boxes, shifted), "iou_boxes").get_output(0)
    class_col = nl.reshape(classes, (-1, 1), "class_col_raw")
    same_class = nl.binary(class_col, nl.reshape(classes, (1, -1), "class_row"), E.EQUAL,
                           "same_class")
    not_vanilla = nl.named(nl.net.add_unary(vanilla2d, trt.UnaryOperation.NOT),
                           "trick").get_output(0)
    allowed = nl.binary(same_class, not_vanilla, E.OR, "allowed_pairs")
    return nms_indices(ctx, boxes, scores, iou_threshold, name, iou_boxes=iou_boxes,
                       allowed=allowed)


def _check_inputs(ctx: Any, target: Any, name: str, boxes: Any, scores: Any) -> None:
    if len(boxes.shape) != 2 or boxes.shape[1] != 4:
        raise fail(ctx, target, name, f"boxes must be [N, 4], got {tuple(boxes.shape)}")
    if len(scores.shape) != 1:
        raise fail(ctx, target, name, f"scores must be [N], got {tuple(scores.shape)}")
    for what, tensor in (("boxes", boxes), ("scores", scores)):
        if tensor.dtype != trt.float32:
            raise fail(ctx, target, name, f"{what} must be float32 (torchvision computes IoU in the "
                       f"boxes' dtype; only float32 is reproduced exactly), got {tensor.dtype}")


def _threshold_arg(ctx: Any, target: Any, name: str, value: Any) -> float:
    if not isinstance(value, (int, float)):
        raise fail(ctx, target, name, f"iou_threshold must be a constant float, got {type(value)}")
    return float(value)


@registered(
    torch.ops.torchvision.nms.default,
    priority=ConverterPriority.HIGH,
    requires_output_allocator=True,
)
def convert_nms(ctx: Any, target: Any, args: Sequence[Any], kwargs: Dict[str, Any],
                name: str) -> Any:
    boxes = _itensor(ctx, args[0], f"{name}_boxes")
    scores = _itensor(ctx, args[1], f"{name}_scores")
    _check_inputs(ctx, target, name, boxes, scores)
    threshold = _threshold_arg(ctx, target, name, args[2] if len(args) > 2 else kwargs["iou_threshold"])
    return nms_indices(ctx, boxes, scores, threshold, name)


def _register_batched_nms() -> None:
    op = getattr(getattr(torch.ops, "trt_dyn", None), "batched_nms", None)
    if op is None:
        return

    @registered(op.default,
                         priority=ConverterPriority.HIGH, requires_output_allocator=True)
    def convert_batched_nms(ctx: Any, target: Any, args: Sequence[Any], kwargs: Dict[str, Any],
                            name: str) -> Any:
        boxes = _itensor(ctx, args[0], f"{name}_boxes")
        scores = _itensor(ctx, args[1], f"{name}_scores")
        classes = _itensor(ctx, args[2], f"{name}_idxs")
        _check_inputs(ctx, target, name, boxes, scores)
        threshold = _threshold_arg(ctx, target, name,
                                   args[3] if len(args) > 3 else kwargs["iou_threshold"])
        if classes.dtype == trt.bool:
            classes = _cast(ctx, classes, trt.int32, LAYER_PREFIX, name)
        return batched_nms_indices(ctx, boxes, scores, classes, threshold, name)


_register_batched_nms()

__all__ = ["LAYER_PREFIX", "VANILLA_NUMEL", "FORMULATIONS", "set_formulation", "count_nms_layers", "float32_threshold", "nms_indices",
           "batched_nms_indices"]
