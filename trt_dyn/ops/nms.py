"""``trt_dyn::batched_nms``: torchvision's ``batched_nms`` as one op (both of its CPU branches)."""

from __future__ import annotations

import torch
from torchvision.ops.boxes import batched_nms as _torchvision_batched_nms

from ._registry import define


@define("batched_nms", "(Tensor boxes, Tensor scores, Tensor idxs, float iou_threshold) -> Tensor")
def batched_nms(boxes: torch.Tensor, scores: torch.Tensor, idxs: torch.Tensor,
                iou_threshold: float) -> torch.Tensor:
    """``batched_nms(Tensor boxes, Tensor scores, Tensor idxs, float iou_threshold) -> Tensor``

    Exactly ``torchvision.ops.boxes.batched_nms``: int64 indices of the kept boxes, score
    descending; boxes of different ``idxs`` never suppress each other. One op instead of
    torchvision's Python dispatch (``boxes.numel() > 4000`` picks per-class NMS, otherwise the
    coordinate-offset trick; an empty input returns early), whose branches are guards on a
    data-dependent size that ``torch.export`` cannot trace. The converter evaluates that dispatch at
    run time (trt_dyn/converters/nms.py).
    """
    # torchvision's own function as imported here: the post-processing adapter
    # (trt_dyn.adapters.postprocess) points torchvision.ops.boxes.batched_nms at this op
    return _torchvision_batched_nms(boxes, scores, idxs, iou_threshold)


@batched_nms.register_fake
def _batched_nms_fake(boxes, scores, idxs, iou_threshold):
    torch._check(boxes.dim() == 2 and boxes.size(1) == 4, lambda: "boxes must be [N, 4]")
    torch._check(scores.dim() == 1 and scores.size(0) == boxes.size(0),
                 lambda: "scores must be [N] with N = boxes.size(0)")
    torch._check(idxs.dim() == 1 and idxs.size(0) == boxes.size(0),
                 lambda: "idxs must be [N] with N = boxes.size(0)")
    kept = torch.library.get_ctx().new_dynamic_size()
    return boxes.new_empty((kept,), dtype=torch.int64)


__all__ = ["batched_nms"]
