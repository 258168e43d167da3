"""Small, randomly initialised replica of ViTDet Cascade Mask R-CNN (detectron2), for dynamic-shape tests.

Structure follows detectron2's ``GeneralizedRCNN`` with a ``ViT`` + ``SimpleFeaturePyramid`` backbone,
an ``RPN`` without NMS and ``CascadeROIHeads`` with a mask head; see docs/model.md for the mapping.
Widths are tiny so eager and export run in seconds on two CPU cores. Weights are deterministic
for a given seed and nothing is downloaded.
"""

from __future__ import annotations

import dataclasses
from typing import Tuple

import torch
from torch import nn

from .roi_heads import CascadeROIHeads
from .rpn import RPN
from .vit import ViT, SimpleFeaturePyramid


@dataclasses.dataclass(frozen=True)
class CascadeConfig:
    """Every width and count of the replica (names follow detectron2's config keys where there is one)."""

    patch_size: int = 16
    embed_dim: int = 64
    depth: int = 4
    num_heads: int = 4
    mlp_ratio: float = 4.0
    window_size: int = 7
    window_block_indexes: Tuple[int, ...] = (0, 2)  # the other blocks attend globally
    pretrain_img_size: int = 512
    fpn_channels: int = 32
    anchor_sizes: Tuple[Tuple[float, ...], ...] = ((32,), (64,), (128,), (256,), (512,))
    aspect_ratios: Tuple[float, ...] = (0.5, 1.0, 2.0)
    rpn_pre_topk: int = 64  # per level; min(pre_topk, anchors) is symbolic on small levels
    rpn_post_topk: int = 100
    num_classes: int = 5
    box_conv_dims: Tuple[int, ...] = (32, 32)
    box_fc_dims: Tuple[int, ...] = (64,)
    mask_conv_dims: Tuple[int, ...] = (32, 32)
    cascade_bbox_reg_weights: Tuple[Tuple[float, ...], ...] = (
        (10.0, 10.0, 5.0, 5.0),
        (20.0, 20.0, 10.0, 10.0),
        (30.0, 30.0, 15.0, 15.0),
    )
    cls_agnostic_bbox_reg: bool = False
    detections_per_image: int = 20
    # Random init scale of the position embeddings: large enough that numeric tests see them.
    pos_embed_std: float = 0.2
    rel_pos_std: float = 0.2
    pixel_mean: Tuple[float, float, float] = (123.675, 116.28, 103.53)
    pixel_std: Tuple[float, float, float] = (58.395, 57.12, 57.375)


class CascadeMaskRCNN(nn.Module):
    """images (N, 3, H, W) float pixels 0..255 -> (boxes, scores, classes, masks).

    boxes (N, D, 4) xyxy in image pixels, scores (N, D), classes (N, D) int64 in [0, num_classes),
    masks (N, D, 1, 28, 28) probabilities of each detection's class; D = min(detections_per_image,
    proposals * num_classes). H and W must be multiples of the patch size.
    """

    def __init__(self, config: CascadeConfig):
        super().__init__()
        self.config = config
        c = config
        self.register_buffer("pixel_mean", torch.tensor(c.pixel_mean).view(-1, 1, 1), False)
        self.register_buffer("pixel_std", torch.tensor(c.pixel_std).view(-1, 1, 1), False)
        self.vit = ViT(
            patch_size=c.patch_size,
            embed_dim=c.embed_dim,
            depth=c.depth,
            num_heads=c.num_heads,
            mlp_ratio=c.mlp_ratio,
            window_size=c.window_size,
            window_block_indexes=c.window_block_indexes,
            pretrain_img_size=c.pretrain_img_size,
            pos_embed_std=c.pos_embed_std,
            rel_pos_std=c.rel_pos_std,
        )
        self.pyramid = SimpleFeaturePyramid(c.embed_dim, c.fpn_channels)
        levels = self.pyramid.out_features  # p2 .. p6
        self.rpn = RPN(
            c.fpn_channels,
            levels,
            self.pyramid.strides,
            c.anchor_sizes,
            c.aspect_ratios,
            pre_topk=c.rpn_pre_topk,
            post_topk=c.rpn_post_topk,
        )
        roi_levels = levels[:-1]  # ROI heads pool from p2..p5, never p6
        self.roi_heads = CascadeROIHeads(
            c.fpn_channels,
            roi_levels,
            [1.0 / s for s in self.pyramid.strides[:-1]],
            c.num_classes,
            c.box_conv_dims,
            c.box_fc_dims,
            c.mask_conv_dims,
            c.cascade_bbox_reg_weights,
            c.cls_agnostic_bbox_reg,
            c.detections_per_image,
        )

    def forward(self, images: torch.Tensor):
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"CascadeMaskRCNN expects images of shape (N, 3, H, W), got {tuple(images.shape)}")
        image_size = (images.shape[2], images.shape[3])
        patch = self.config.patch_size
        for name, size in zip(("height", "width"), image_size):
            # torch.compile cannot trace a message closure over a SymInt (a graph break per check): the size is
            # named only in eager
            shown = "" if torch.compiler.is_compiling() else f" {size}"
            torch._check(
                size % patch == 0,
                lambda: f"CascadeMaskRCNN: image {name}{shown} is not a multiple of the patch size {patch}",
            )
        x = (images - self.pixel_mean) / self.pixel_std
        features = self.pyramid(self.vit(x))
        proposals = self.rpn(features, image_size)
        return self.roi_heads(features, proposals, image_size)


def build_cascade_mask_rcnn(seed: int = 0, **width_options) -> CascadeMaskRCNN:
    """The replica in eval mode with weights drawn from ``torch.manual_seed(seed)``.

    ``width_options`` override :class:`CascadeConfig` fields (e.g. ``embed_dim=32, depth=2``); an
    unknown name raises ``TypeError``. The global RNG state is restored afterwards.
    """
    known = {f.name for f in dataclasses.fields(CascadeConfig)}
    unknown = sorted(set(width_options) - known)
    if unknown:
        raise TypeError(f"build_cascade_mask_rcnn: unknown option(s) {unknown}; known: {sorted(known)}")
    config = CascadeConfig(**width_options)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = CascadeMaskRCNN(config)
    return model.eval()


def cascade_benchmark_model(count: int, min_hw: int = 256, max_hw: int = 768, step: int = 16):
    """(model, sizes, min_hw, max_hw, step) for benchmarks: the default replica and ``count`` square
    image sizes, multiples of ``step``, spread evenly over [min_hw, max_hw] (both ends included)."""
    if count < 1:
        raise ValueError(f"cascade_benchmark_model: count must be >= 1, got {count}")
    steps = (max_hw - min_hw) // step
    sizes = [min_hw + step * ((i * steps) // max(1, count - 1)) for i in range(count)]
    return build_cascade_mask_rcnn(seed=0), sizes, min_hw, max_hw, step
