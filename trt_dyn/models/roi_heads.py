"""Cascade box heads and mask head of the replica (detectron2 ``ROIPooler``, ``FastRCNNConvFCHead``,
``FastRCNNOutputLayers``, ``CascadeROIHeads``, ``MaskRCNNConvUpsampleHead``, ``mask_rcnn_inference``).

The multi-level pooler is where upstream Torch-TensorRT partitions: per level it finds the boxes
assigned to that level with ``nonzero``, gathers them with ``index.Tensor``, pools them with
``torchvision.ops.roi_align`` and scatters the result back with ``index_put_``.
"""

from __future__ import annotations

import math
from typing import Dict, List, Sequence, Tuple

import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from .boxes import Box2BoxTransform, box_area, clip_boxes
from .rpn import count_at_most
from .vit import ConvNorm


def convert_boxes_to_pooler_format(box_lists: List[torch.Tensor]) -> torch.Tensor:
    """Per-image (Ri, 4) boxes -> (sum Ri, 5) rows ``(image index, x1, y1, x2, y2)`` for roi_align."""
    return torch.cat(
        [torch.cat((torch.full_like(boxes[:, :1], i), boxes), dim=1) for i, boxes in enumerate(box_lists)],
        dim=0,
    )


def assign_boxes_to_levels(
    box_lists: List[torch.Tensor], min_level: int, max_level: int, canonical_box_size: int, canonical_level: int
) -> torch.Tensor:
    """FPN level index (0-based from ``min_level``) of each box: floor(k0 + log2(sqrt(area) / 224))."""
    box_sizes = torch.sqrt(torch.cat([box_area(boxes) for boxes in box_lists]))
    level_assignments = torch.floor(canonical_level + torch.log2(box_sizes / canonical_box_size + 1e-8))
    level_assignments = torch.clamp(level_assignments, min=min_level, max=max_level)
    return level_assignments.to(torch.int64) - min_level


class ROIPooler(nn.Module):
    """ROIAlignV2 (``aligned=True``, adaptive sampling) over the FPN level each box is assigned to."""

    def __init__(self, output_size: int, scales: Sequence[float], canonical_box_size=224, canonical_level=4):
        super().__init__()
        self.output_size = output_size
        self.scales = list(scales)
        self.min_level = int(-math.log2(scales[0]))
        self.max_level = int(-math.log2(scales[-1]))
        if len(scales) != self.max_level - self.min_level + 1:
            raise ValueError(f"ROIPooler: scales {scales} are not consecutive powers of 1/2")
        self.canonical_box_size = canonical_box_size
        self.canonical_level = canonical_level

    def forward(self, x: List[torch.Tensor], box_lists: List[torch.Tensor]) -> torch.Tensor:
        pooler_fmt_boxes = convert_boxes_to_pooler_format(box_lists)
        if len(self.scales) == 1:
            return self._roi_align(x[0], pooler_fmt_boxes, self.scales[0])
        level_assignments = assign_boxes_to_levels(
            box_lists, self.min_level, self.max_level, self.canonical_box_size, self.canonical_level
        )
        num_boxes = pooler_fmt_boxes.shape[0]
        num_channels = x[0].shape[1]
        output = torch.zeros(
            (num_boxes, num_channels, self.output_size, self.output_size), dtype=x[0].dtype, device=x[0].device
        )
        for level, scale in enumerate(self.scales):
            inds = torch.nonzero(level_assignments == level).squeeze(1)
            pooler_fmt_boxes_level = pooler_fmt_boxes[inds]
            output.index_put_((inds,), self._roi_align(x[level], pooler_fmt_boxes_level, scale))
        return output

    def _roi_align(self, features, rois, scale):
        return torchvision.ops.roi_align(
            features, rois, (self.output_size, self.output_size), scale, sampling_ratio=0, aligned=True
        )


def _conv_norm_stack(channels: int, conv_dims: Sequence[int]) -> Tuple[List[nn.Module], int]:
    """conv3x3+LN+ReLU per entry of ``conv_dims`` (the start of both heads) and the channels it ends with."""
    layers: List[nn.Module] = []
    dim = channels
    for conv_dim in conv_dims:
        layers.append(ConvNorm(dim, conv_dim, 3, activation=True))
        dim = conv_dim
    return layers, dim


class FastRCNNConvFCHead(nn.Module):
    """conv3x3+LN+ReLU stack, flatten, fc+ReLU stack."""

    def __init__(self, channels: int, pooler_resolution: int, conv_dims: Sequence[int], fc_dims: Sequence[int]):
        super().__init__()
        layers, dim = _conv_norm_stack(channels, conv_dims)
        layers.append(nn.Flatten())
        dim = dim * pooler_resolution * pooler_resolution
        for fc_dim in fc_dims:
            layers += [nn.Linear(dim, fc_dim), nn.ReLU()]
            dim = fc_dim
        self.layers = nn.Sequential(*layers)
        self.output_dim = dim

    def forward(self, x):
        return self.layers(x)


class FastRCNNOutputLayers(nn.Module):
    """Class scores (K + 1 with background last) and per-class (or class-agnostic) box deltas."""

    def __init__(self, input_dim: int, num_classes: int, box2box_transform: Box2BoxTransform, cls_agnostic_bbox_reg):
        super().__init__()
        self.num_classes = num_classes
        self.cls_score = nn.Linear(input_dim, num_classes + 1)
        num_bbox_reg_classes = 1 if cls_agnostic_bbox_reg else num_classes
        self.bbox_pred = nn.Linear(input_dim, num_bbox_reg_classes * 4)
        self.box2box_transform = box2box_transform

    def forward(self, x):
        return self.cls_score(x), self.bbox_pred(x)

    def predict_boxes(self, proposal_deltas: torch.Tensor, proposal_boxes: torch.Tensor) -> torch.Tensor:
        """(R, 4*k) decoded boxes, k = 1 or num_classes."""
        return self.box2box_transform.apply_deltas(proposal_deltas, proposal_boxes)

    def predict_probs(self, scores: torch.Tensor) -> torch.Tensor:
        return F.softmax(scores, dim=-1)


class MaskHead(nn.Module):
    """conv3x3+LN+ReLU stack, 2x deconv + ReLU, per-class 1x1 mask logits (``MaskRCNNConvUpsampleHead``)."""

    def __init__(self, channels: int, conv_dims: Sequence[int], num_classes: int):
        super().__init__()
        layers, dim = _conv_norm_stack(channels, conv_dims)
        layers += [nn.ConvTranspose2d(dim, dim, kernel_size=2, stride=2), nn.ReLU()]
        self.layers = nn.Sequential(*layers)
        self.predictor = nn.Conv2d(dim, num_classes, kernel_size=1)

    def forward(self, x):
        return self.predictor(self.layers(x))


def mask_rcnn_inference(pred_mask_logits: torch.Tensor, pred_classes: torch.Tensor) -> torch.Tensor:
    """(R, K, M, M) logits, (R,) classes -> (R, 1, M, M) probabilities of each detection's own class."""
    if pred_mask_logits.shape[1] == 1:
        return pred_mask_logits.sigmoid()
    indices = torch.arange(pred_mask_logits.shape[0], device=pred_classes.device)
    return pred_mask_logits[indices, pred_classes][:, None].sigmoid()


class CascadeROIHeads(nn.Module):
    """Three box stages, each refining the previous stage's clipped boxes, then top-D detections and masks."""

    def __init__(
        self,
        channels: int,
        in_features: Sequence[str],
        scales: Sequence[float],
        num_classes: int,
        box_conv_dims: Sequence[int],
        box_fc_dims: Sequence[int],
        mask_conv_dims: Sequence[int],
        bbox_reg_weights: Sequence[Sequence[float]],
        cls_agnostic_bbox_reg: bool,
        detections_per_image: int,
        box_pooler_resolution: int = 7,
        mask_pooler_resolution: int = 14,
    ):
        super().__init__()
        self.in_features = list(in_features)
        self.num_classes = num_classes
        self.detections_per_image = detections_per_image
        self.box_pooler = ROIPooler(box_pooler_resolution, scales)
        self.box_heads = nn.ModuleList()
        self.box_predictors = nn.ModuleList()
        for weights in bbox_reg_weights:
            head = FastRCNNConvFCHead(channels, box_pooler_resolution, box_conv_dims, box_fc_dims)
            self.box_heads.append(head)
            self.box_predictors.append(
                FastRCNNOutputLayers(head.output_dim, num_classes, Box2BoxTransform(weights), cls_agnostic_bbox_reg)
            )
        self.mask_pooler = ROIPooler(mask_pooler_resolution, scales)
        self.mask_head = MaskHead(channels, mask_conv_dims, num_classes)

    @property
    def num_stages(self) -> int:
        return len(self.box_heads)

    def _run_stage(self, features, proposals: torch.Tensor, stage: int):
        pooled = self.box_pooler(features, list(proposals.unbind(0)))
        return self.box_predictors[stage](self.box_heads[stage](pooled))

    def forward(self, features: Dict[str, torch.Tensor], proposals: torch.Tensor, image_size: Tuple):
        """proposals (N, P, 4) -> boxes (N, D, 4), scores (N, D), classes (N, D), masks (N, D, 1, M, M)."""
        features = [features[f] for f in self.in_features]
        N, P = proposals.shape[0], proposals.shape[1]
        stage_probs = []
        for stage in range(self.num_stages):
            if stage > 0:
                proposals = self._next_stage_proposals(probs, boxes, N, P, image_size)
            scores, deltas = self._run_stage(features, proposals, stage)
            predictor = self.box_predictors[stage]
            probs = predictor.predict_probs(scores)
            boxes = predictor.predict_boxes(deltas, proposals.reshape(-1, 4))
            stage_probs.append(probs)

        # Cascade inference scores every box with the mean of all stages' probabilities.
        mean_probs = sum(stage_probs) * (1.0 / self.num_stages)
        det_boxes, det_scores, det_classes = self._select_detections(mean_probs, boxes, N, P, image_size)

        pooled = self.mask_pooler(features, list(det_boxes.unbind(0)))
        mask_logits = self.mask_head(pooled)
        masks = mask_rcnn_inference(mask_logits, det_classes.reshape(-1))
        D = det_boxes.shape[1]
        return det_boxes, det_scores, det_classes, masks.view(N, D, *masks.shape[1:])

    def _next_stage_proposals(self, probs, boxes, N, P, image_size):
        boxes = boxes.view(N * P, -1, 4)
        if boxes.shape[1] == 1:
            boxes = boxes[:, 0]
        else:
            # Class-specific regression: refine each proposal with the box of its best foreground class
            # (detectron2's CascadeROIHeads only supports class-agnostic regression; this is mmdet's rule).
            best_class = probs[:, :-1].argmax(dim=1)
            boxes = boxes[torch.arange(N * P), best_class]
        return clip_boxes(boxes.view(N, P, 4), image_size)

    def _select_detections(self, probs, boxes, N, P, image_size):
        """Top D (proposal, class) pairs per image by score, like fast_rcnn_inference without threshold/NMS."""
        K = self.num_classes
        scores = probs.view(N, P, K + 1)[:, :, :-1]
        boxes = clip_boxes(boxes.view(N, P, -1, 4), image_size)
        flat_scores = scores.reshape(N, P * K)
        num_detections = count_at_most(self.detections_per_image, flat_scores.shape[1])
        det_scores, flat_idx = flat_scores.topk(num_detections, dim=1)
        proposal_idx = torch.div(flat_idx, K, rounding_mode="floor")
        det_classes = flat_idx % K
        batch_idx = torch.arange(N)[:, None]
        if boxes.shape[2] == 1:
            det_boxes = boxes[batch_idx, proposal_idx, 0]
        else:
            det_boxes = boxes[batch_idx, proposal_idx, det_classes]
        return det_boxes, det_scores, det_classes
