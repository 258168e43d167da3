"""Box arithmetic of the replica, written the way detectron2's ``Box2BoxTransform`` and ``Boxes`` write it.

Boxes are ``(..., 4)`` tensors in absolute ``(x1, y1, x2, y2)`` pixel coordinates.
"""

from __future__ import annotations

import math
from typing import Sequence, Tuple

import torch

# detectron2's default: never let a predicted box grow more than 1000/16 times its reference in log space.
DEFAULT_SCALE_CLAMP = math.log(1000.0 / 16)


class Box2BoxTransform:
    """Decodes ``(dx, dy, dw, dh)`` deltas relative to reference boxes (detectron2 ``Box2BoxTransform``).

    ``weights`` divide the deltas (each cascade stage has its own); ``dw``/``dh`` are clamped to
    ``scale_clamp`` before ``exp`` so a wild prediction cannot overflow.
    """

    def __init__(self, weights: Sequence[float], scale_clamp: float = DEFAULT_SCALE_CLAMP):
        if len(weights) != 4:
            raise ValueError(f"Box2BoxTransform needs 4 weights (wx, wy, ww, wh), got {tuple(weights)}")
        self.weights = tuple(float(w) for w in weights)
        self.scale_clamp = float(scale_clamp)

    def apply_deltas(self, deltas: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
        """``deltas`` (R, 4*k), ``boxes`` (R, 4) -> decoded boxes (R, 4*k), one box per group of 4 deltas."""
        deltas = deltas.float()
        boxes = boxes.to(deltas.dtype)

        widths = boxes[:, 2] - boxes[:, 0]
        heights = boxes[:, 3] - boxes[:, 1]
        ctr_x = boxes[:, 0] + 0.5 * widths
        ctr_y = boxes[:, 1] + 0.5 * heights

        wx, wy, ww, wh = self.weights
        dx = deltas[:, 0::4] / wx
        dy = deltas[:, 1::4] / wy
        dw = deltas[:, 2::4] / ww
        dh = deltas[:, 3::4] / wh
        dw = torch.clamp(dw, max=self.scale_clamp)
        dh = torch.clamp(dh, max=self.scale_clamp)

        pred_ctr_x = dx * widths[:, None] + ctr_x[:, None]
        pred_ctr_y = dy * heights[:, None] + ctr_y[:, None]
        pred_w = torch.exp(dw) * widths[:, None]
        pred_h = torch.exp(dh) * heights[:, None]

        x1 = pred_ctr_x - 0.5 * pred_w
        y1 = pred_ctr_y - 0.5 * pred_h
        x2 = pred_ctr_x + 0.5 * pred_w
        y2 = pred_ctr_y + 0.5 * pred_h
        pred_boxes = torch.stack((x1, y1, x2, y2), dim=-1)
        return pred_boxes.reshape(deltas.shape)


def clip_boxes(boxes: torch.Tensor, image_size: Tuple) -> torch.Tensor:
    """Clamp ``(..., 4)`` boxes into an image of ``(height, width)`` (detectron2 ``Boxes.clip``).

    ``image_size`` may hold symbolic sizes: they stay symbolic in an exported graph.
    """
    height, width = image_size
    x1 = boxes[..., 0].clamp(min=0, max=width)
    y1 = boxes[..., 1].clamp(min=0, max=height)
    x2 = boxes[..., 2].clamp(min=0, max=width)
    y2 = boxes[..., 3].clamp(min=0, max=height)
    return torch.stack((x1, y1, x2, y2), dim=-1)


def box_area(boxes: torch.Tensor) -> torch.Tensor:
    """Area of ``(R, 4)`` boxes (detectron2 ``Boxes.area``)."""
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
