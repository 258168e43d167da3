"""Detector post-processing through ``torch.export`` with a data-dependent box count, exactly.

``torchvision.ops.boxes.batched_nms`` dispatches in Python on ``boxes.numel()``: ``== 0`` returns early,
``> 4000`` (CPU) runs per-class NMS in a loop over ``torch.unique(idxs)``, otherwise NMS on boxes shifted
by a per-class offset. After score thresholding the box count is an unbacked size, so each of those
branches is a guard ``torch.export`` cannot decide, and the per-class loop has a data-dependent trip
count. :func:`exact_batched_nms` points ``batched_nms`` (in ``torchvision.ops.boxes``, where every
torchvision detector calls it, and in ``torchvision.ops``) at ``trt_dyn::batched_nms``, one op whose
eager kernel is torchvision's own function and whose converter evaluates the same dispatch at run time
(trt_dyn/converters/nms.py). Nothing else of the post-processing changes: score thresholds,
``remove_small_boxes``, ``clip_boxes_to_image``, ``keep[:detections_per_img]`` are traced as written.

Everything is scoped: the originals are restored on exit, also on error.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch

__all__ = ["exact_batched_nms", "batched_nms_op"]


def batched_nms_op(boxes: torch.Tensor, scores: torch.Tensor, idxs: torch.Tensor,
                   iou_threshold: float) -> torch.Tensor:
    """``torchvision.ops.batched_nms`` as the single traceable op ``trt_dyn::batched_nms``."""
    return torch.ops.trt_dyn.batched_nms(boxes, scores, idxs, float(iou_threshold))


@contextlib.contextmanager
def exact_batched_nms() -> Iterator[None]:
    """While the block runs, torchvision's ``batched_nms`` is :func:`batched_nms_op` (same results)."""
    import torchvision.ops
    from torchvision.ops import boxes as box_ops

    owners = (box_ops, torchvision.ops)
    originals = [vars(owner)["batched_nms"] for owner in owners]
    try:
        for owner in owners:
            owner.batched_nms = batched_nms_op
        yield
    finally:
        for owner, original in zip(owners, originals):
            owner.batched_nms = original
