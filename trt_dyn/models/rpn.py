"""Region proposal network of the replica (detectron2 ``DefaultAnchorGenerator``, ``StandardRPNHead``, ``RPN``).

As in the case study there is no NMS: each level keeps its top ``min(pre_topk, anchors)`` proposals,
the levels are concatenated and the overall top ``min(post_topk, candidates)`` are kept. Every ``min``
is taken with ``torch.sym_min`` so the counts stay symbolic in an exported program.
"""

from __future__ import annotations

import math
from typing import Dict, List, Sequence, Tuple

import torch
from torch import nn
from torch.fx.experimental.symbolic_shapes import statically_known_true

from .boxes import Box2BoxTransform, clip_boxes


def count_at_most(limit: int, count):
    """``min(limit, count)``; a plain int when every size the program accepts gives ``count >= limit``.

    Both forms are equal at run time. The plain int keeps exported shapes simple: a chain of symbolic
    ``Min`` expressions is costly to serialize and to reason about downstream, so only the counts that
    really vary (the smallest levels at small images) stay symbolic.
    """
    if statically_known_true(count >= limit):
        return limit
    return torch.sym_min(limit, count)


def generate_cell_anchors(sizes: Sequence[float], aspect_ratios: Sequence[float]) -> torch.Tensor:
    """Anchors centred on (0, 0) for every (size, aspect ratio): (len(sizes) * len(ratios), 4)."""
    anchors = []
    for size in sizes:
        area = size ** 2.0
        for aspect_ratio in aspect_ratios:
            w = math.sqrt(area / aspect_ratio)
            h = aspect_ratio * w
            anchors.append([-w / 2.0, -h / 2.0, w / 2.0, h / 2.0])
    return torch.tensor(anchors)


class AnchorGenerator(nn.Module):
    """Anchors over each level's (dynamic) grid: cell anchors shifted by ``arange(0, W*stride, stride)``."""

    def __init__(self, sizes, aspect_ratios, strides, offset: float = 0.0):
        super().__init__()
        self.strides = list(strides)
        self.offset = offset
        for i, level_sizes in enumerate(sizes):
            self.register_buffer(f"cell_anchors_{i}", generate_cell_anchors(level_sizes, aspect_ratios), False)
        self.num_anchors = len(sizes[0]) * len(aspect_ratios)

    def _grid_offsets(self, size, stride):
        grid_height, grid_width = size
        # The values of detectron2's arange(offset * stride, size * stride, step=stride), computed from an
        # integer arange so the length is exactly the grid size rather than a float ceil expression.
        shifts_x = torch.arange(grid_width, dtype=torch.float32) * stride + self.offset * stride
        shifts_y = torch.arange(grid_height, dtype=torch.float32) * stride + self.offset * stride
        shift_y, shift_x = torch.meshgrid(shifts_y, shifts_x, indexing="ij")
        return shift_x.reshape(-1), shift_y.reshape(-1)

    def forward(self, features: List[torch.Tensor]) -> List[torch.Tensor]:
        """Per level: (Hi * Wi * A, 4) anchors, ordered (y, x, anchor) like the head's flattened outputs."""
        anchors = []
        for i, (feature, stride) in enumerate(zip(features, self.strides)):
            base_anchors = getattr(self, f"cell_anchors_{i}")
            shift_x, shift_y = self._grid_offsets(feature.shape[-2:], stride)
            shifts = torch.stack((shift_x, shift_y, shift_x, shift_y), dim=1)
            anchors.append((shifts.view(-1, 1, 4) + base_anchors.view(1, -1, 4)).reshape(-1, 4))
        return anchors


class RPNHead(nn.Module):
    """Shared conv stack, then per-anchor objectness logits and box deltas (detectron2 ``StandardRPNHead``)."""

    def __init__(self, channels: int, num_anchors: int, num_convs: int = 2):
        super().__init__()
        convs = []
        for _ in range(num_convs):
            convs += [nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU()]
        self.conv = nn.Sequential(*convs)
        self.objectness_logits = nn.Conv2d(channels, num_anchors, 1)
        self.anchor_deltas = nn.Conv2d(channels, num_anchors * 4, 1)

    def forward(self, features: List[torch.Tensor]):
        logits, deltas = [], []
        for x in features:
            t = self.conv(x)
            logits.append(self.objectness_logits(t))
            deltas.append(self.anchor_deltas(t))
        return logits, deltas


class RPN(nn.Module):
    """Proposals (N, P, 4) clipped to the image, P = min(post_topk, sum_l min(pre_topk, anchors_l))."""

    def __init__(
        self,
        channels: int,
        in_features: Sequence[str],
        strides: Sequence[int],
        anchor_sizes: Sequence[Sequence[float]],
        aspect_ratios: Sequence[float] = (0.5, 1.0, 2.0),
        pre_topk: int = 64,
        post_topk: int = 100,
    ):
        super().__init__()
        self.in_features = list(in_features)
        self.anchor_generator = AnchorGenerator(anchor_sizes, aspect_ratios, strides)
        self.head = RPNHead(channels, self.anchor_generator.num_anchors)
        self.box2box_transform = Box2BoxTransform(weights=(1.0, 1.0, 1.0, 1.0))
        self.pre_topk = pre_topk
        self.post_topk = post_topk

    def forward(self, features: Dict[str, torch.Tensor], image_size: Tuple) -> torch.Tensor:
        features = [features[f] for f in self.in_features]
        anchors = self.anchor_generator(features)
        pred_logits, pred_deltas = self.head(features)
        # (N, A, Hi, Wi) -> (N, Hi*Wi*A) and (N, A*4, Hi, Wi) -> (N, Hi*Wi*A, 4), matching the anchor order.
        pred_logits = [score.permute(0, 2, 3, 1).flatten(1) for score in pred_logits]
        pred_deltas = [
            x.view(x.shape[0], -1, 4, x.shape[-2], x.shape[-1]).permute(0, 3, 4, 1, 2).flatten(1, -2)
            for x in pred_deltas
        ]
        proposals = self._decode_proposals(anchors, pred_deltas)
        return self._top_proposals(proposals, pred_logits, image_size)

    def _decode_proposals(self, anchors, pred_deltas):
        proposals = []
        for anchors_i, deltas_i in zip(anchors, pred_deltas):
            N = deltas_i.shape[0]
            B = anchors_i.shape[1]
            deltas_i = deltas_i.reshape(-1, B)
            anchors_i = anchors_i.unsqueeze(0).expand(N, -1, -1).reshape(-1, B)
            proposals.append(self.box2box_transform.apply_deltas(deltas_i, anchors_i).view(N, -1, B))
        return proposals

    def _top_proposals(self, proposals, pred_logits, image_size):
        N = proposals[0].shape[0]
        batch_idx = torch.arange(N)
        topk_scores, topk_proposals = [], []
        for proposals_i, logits_i in zip(proposals, pred_logits):
            num_proposals_i = count_at_most(self.pre_topk, logits_i.shape[1])
            scores_i, topk_idx = logits_i.topk(num_proposals_i, dim=1)
            topk_proposals.append(proposals_i[batch_idx[:, None], topk_idx])
            topk_scores.append(scores_i)
        scores = torch.cat(topk_scores, dim=1)
        boxes = clip_boxes(torch.cat(topk_proposals, dim=1), image_size)
        # Stands in for batched NMS + keep[:post_nms_topk]: rank all levels together.
        num_kept = count_at_most(self.post_topk, scores.shape[1])
        _, keep = scores.topk(num_kept, dim=1)
        return boxes[batch_idx[:, None], keep]
