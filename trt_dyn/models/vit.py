"""ViTDet backbone of the replica: plain ViT with window/global attention and a simple feature pyramid.

Mirrors detectron2's ``modeling/backbone/vit.py`` (``ViT``, ``Block``, ``Attention``, ``window_partition``,
``window_unpartition``, ``get_abs_pos``, ``get_rel_pos``, ``add_decomposed_rel_pos``) and
``SimpleFeaturePyramid``/``LastLevelMaxPool``. Where detectron2 branches in Python on a size
(``if pad_h > 0``, ``if size != h``, ``if rel_pos.shape[0] != max_rel_dist``) the replica takes the branch
unconditionally when the size is symbolic: padding by zero and resizing to the same length are exact
identities, and an ``if`` on a traced size would pin the exported program to the example image.
"""

from __future__ import annotations

import math
from typing import Dict, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn
from torch.fx.experimental.symbolic_shapes import statically_known_true


def _statically_equal(a, b) -> bool:
    """True only when ``a == b`` holds for every size the program can see (never adds a guard)."""
    return bool(statically_known_true(a == b))


class LayerNorm2d(nn.Module):
    """LayerNorm over the channel dim of an (N, C, H, W) map (detectron2 ``layers.LayerNorm``)."""

    def __init__(self, channels: int, eps: float = 1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(1, keepdim=True)
        var = (x - mean).pow(2).mean(1, keepdim=True)
        x = (x - mean) / torch.sqrt(var + self.eps)
        return self.weight[:, None, None] * x + self.bias[:, None, None]


class ConvNorm(nn.Sequential):
    """conv (no bias) -> LayerNorm2d -> optional activation (detectron2 ``Conv2d(norm=..., activation=...)``)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, activation: bool = False):
        layers = [
            nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False),
            LayerNorm2d(out_channels),
        ]
        if activation:
            layers.append(nn.ReLU())
        super().__init__(*layers)


def window_partition(x: torch.Tensor, window_size: int) -> Tuple[torch.Tensor, Tuple]:
    """(B, H, W, C) -> (B * num_windows, ws, ws, C) windows and the padded (Hp, Wp).

    H and W are padded up to a multiple of ``window_size`` first; detectron2 skips ``F.pad`` when the
    padding is zero, here it always pads (a zero pad is the identity and keeps H, W symbolic).
    """
    B, H, W, C = x.shape
    # Same padding as detectron2's (ws - H % ws) % ws, written as ceil(H / ws) * ws - H so that the
    # padded size is visibly a multiple of ws and symbolic shape expressions stay small.
    num_h = (H + window_size - 1) // window_size
    num_w = (W + window_size - 1) // window_size
    pad_h = num_h * window_size - H
    pad_w = num_w * window_size - W
    x = F.pad(x, (0, 0, 0, pad_w, 0, pad_h))
    Hp, Wp = H + pad_h, W + pad_w
    x = x.view(B, Hp // window_size, window_size, Wp // window_size, window_size, C)
    windows = x.permute(0, 1, 3, 2, 4, 5).contiguous().view(-1, window_size, window_size, C)
    return windows, (Hp, Wp)


def window_unpartition(windows: torch.Tensor, window_size: int, pad_hw: Tuple, hw: Tuple) -> torch.Tensor:
    """Inverse of :func:`window_partition`: windows -> (B, H, W, C), dropping the padding."""
    Hp, Wp = pad_hw
    H, W = hw
    C = windows.shape[-1]
    B = windows.shape[0] // ((Hp // window_size) * (Wp // window_size))
    x = windows.view(B, Hp // window_size, Wp // window_size, window_size, window_size, C)
    x = x.permute(0, 1, 3, 2, 4, 5).contiguous().view(B, Hp, Wp, C)
    return x[:, :H, :W, :].contiguous()


def get_rel_pos(q_size, k_size, rel_pos: torch.Tensor) -> torch.Tensor:
    """Relative position embeddings for every (query, key) pair along one axis: (q_size, k_size, C).

    ``rel_pos`` (L, C) is linearly resized to ``2 * max(q_size, k_size) - 1`` entries when L differs
    (global-attention blocks at an image size other than the pretraining one), then indexed by the
    scaled relative coordinate, exactly as detectron2's ``get_rel_pos``.
    """
    max_rel_dist = 2 * torch.sym_max(q_size, k_size) - 1
    if _statically_equal(rel_pos.shape[0], max_rel_dist):
        rel_pos_resized = rel_pos
    else:
        rel_pos_resized = F.interpolate(
            rel_pos.reshape(1, rel_pos.shape[0], -1).permute(0, 2, 1), size=max_rel_dist, mode="linear"
        )
        rel_pos_resized = rel_pos_resized.reshape(-1, max_rel_dist).permute(1, 0)

    # Scale the coordinates with the shorter side when q and k lengths differ.
    q_coords = torch.arange(q_size)[:, None] * torch.sym_max(k_size / q_size, 1.0)
    k_coords = torch.arange(k_size)[None, :] * torch.sym_max(q_size / k_size, 1.0)
    relative_coords = (q_coords - k_coords) + (k_size - 1) * torch.sym_max(q_size / k_size, 1.0)
    return rel_pos_resized[relative_coords.long()]


def add_decomposed_rel_pos(attn, q, rel_pos_h, rel_pos_w, q_size, k_size) -> torch.Tensor:
    """attn (B, qh*qw, kh*kw) + decomposed relative position bias along height and width (MViTv2 style)."""
    q_h, q_w = q_size
    k_h, k_w = k_size
    Rh = get_rel_pos(q_h, k_h, rel_pos_h)
    Rw = get_rel_pos(q_w, k_w, rel_pos_w)

    B, _, dim = q.shape
    r_q = q.reshape(B, q_h, q_w, dim)
    rel_h = torch.einsum("bhwc,hkc->bhwk", r_q, Rh)
    rel_w = torch.einsum("bhwc,wkc->bhwk", r_q, Rw)
    attn = attn.view(B, q_h, q_w, k_h, k_w) + rel_h[:, :, :, :, None] + rel_w[:, :, :, None, :]
    return attn.view(B, q_h * q_w, k_h * k_w)


def get_abs_pos(abs_pos: torch.Tensor, has_cls_token: bool, hw: Tuple) -> torch.Tensor:
    """Absolute position embeddings (1, L(+1), C) resized bicubically to the feature grid -> (1, h, w, C)."""
    h, w = hw
    if has_cls_token:
        abs_pos = abs_pos[:, 1:]
    num_positions = abs_pos.shape[1]
    size = int(math.sqrt(num_positions))
    if size * size != num_positions:
        raise ValueError(f"get_abs_pos: {num_positions} position embeddings do not form a square grid")
    grid = abs_pos.reshape(1, size, size, -1).permute(0, 3, 1, 2)
    if not (_statically_equal(h, size) and _statically_equal(w, size)):
        grid = F.interpolate(grid, size=(h, w), mode="bicubic", align_corners=False)
    return grid.permute(0, 2, 3, 1)


class Attention(nn.Module):
    """Multi-head self-attention over a (B, H, W, C) grid with decomposed relative position bias."""

    def __init__(self, dim: int, num_heads: int, input_size: Tuple[int, int], rel_pos_std: float):
        super().__init__()
        self.num_heads = num_heads
        head_dim = dim // num_heads
        self.scale = head_dim ** -0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=True)
        self.proj = nn.Linear(dim, dim)
        self.rel_pos_h = nn.Parameter(torch.randn(2 * input_size[0] - 1, head_dim) * rel_pos_std)
        self.rel_pos_w = nn.Parameter(torch.randn(2 * input_size[1] - 1, head_dim) * rel_pos_std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, H, W, _ = x.shape
        qkv = self.qkv(x).reshape(B, H * W, 3, self.num_heads, -1).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.reshape(3, B * self.num_heads, H * W, -1).unbind(0)

        attn = (q * self.scale) @ k.transpose(-2, -1)
        attn = add_decomposed_rel_pos(attn, q, self.rel_pos_h, self.rel_pos_w, (H, W), (H, W))
        attn = attn.softmax(dim=-1)
        x = (attn @ v).view(B, self.num_heads, H, W, -1).permute(0, 2, 3, 1, 4).reshape(B, H, W, -1)
        return self.proj(x)


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    """Pre-norm transformer block; ``window_size > 0`` attends within windows, 0 attends globally."""

    def __init__(self, dim, num_heads, mlp_ratio, window_size, input_size, rel_pos_std):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        attn_size = input_size if window_size == 0 else (window_size, window_size)
        self.attn = Attention(dim, num_heads, attn_size, rel_pos_std)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.window_size = window_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x
        x = self.norm1(x)
        if self.window_size > 0:
            H, W = x.shape[1], x.shape[2]
            x, pad_hw = window_partition(x, self.window_size)
        x = self.attn(x)
        if self.window_size > 0:
            x = window_unpartition(x, self.window_size, pad_hw, (H, W))
        x = shortcut + x
        return x + self.mlp(self.norm2(x))


class ViT(nn.Module):
    """Plain ViT (ViTDet): stride-16 patch embedding, absolute + relative positions, one stride-16 output."""

    def __init__(
        self,
        patch_size: int = 16,
        embed_dim: int = 64,
        depth: int = 4,
        num_heads: int = 4,
        mlp_ratio: float = 4.0,
        window_size: int = 7,
        window_block_indexes: Sequence[int] = (0, 2),
        pretrain_img_size: int = 512,
        pos_embed_std: float = 0.2,
        rel_pos_std: float = 0.2,
    ):
        super().__init__()
        self.patch_size = patch_size
        self.patch_embed = nn.Conv2d(3, embed_dim, kernel_size=patch_size, stride=patch_size)
        grid = pretrain_img_size // patch_size
        # Pretrained with a class token: its embedding is stored and dropped by get_abs_pos.
        self.pos_embed = nn.Parameter(torch.randn(1, grid * grid + 1, embed_dim) * pos_embed_std)
        self.blocks = nn.ModuleList(
            Block(
                embed_dim,
                num_heads,
                mlp_ratio,
                window_size if i in window_block_indexes else 0,
                (grid, grid),
                rel_pos_std,
            )
            for i in range(depth)
        )
        self.out_channels = embed_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(x).permute(0, 2, 3, 1)  # (B, H/16, W/16, C)
        x = x + get_abs_pos(self.pos_embed, True, (x.shape[1], x.shape[2]))
        for block in self.blocks:
            x = block(x)
        return x.permute(0, 3, 1, 2)


class SimpleFeaturePyramid(nn.Module):
    """p2..p5 from the single stride-16 ViT map (deconv x2 twice / deconv / identity / maxpool) + p6 maxpool."""

    def __init__(self, in_channels: int, out_channels: int, scale_factors=(4.0, 2.0, 1.0, 0.5)):
        super().__init__()
        self.scale_factors = tuple(scale_factors)
        stages = []
        for scale in self.scale_factors:
            dim = in_channels
            if scale == 4.0:
                layers = [
                    nn.ConvTranspose2d(dim, dim // 2, kernel_size=2, stride=2),
                    LayerNorm2d(dim // 2),
                    nn.GELU(),
                    nn.ConvTranspose2d(dim // 2, dim // 4, kernel_size=2, stride=2),
                ]
                dim = dim // 4
            elif scale == 2.0:
                layers = [nn.ConvTranspose2d(dim, dim // 2, kernel_size=2, stride=2)]
                dim = dim // 2
            elif scale == 1.0:
                layers = []
            elif scale == 0.5:
                layers = [nn.MaxPool2d(kernel_size=2, stride=2)]
            else:
                raise NotImplementedError(f"SimpleFeaturePyramid: scale_factor={scale} is not supported")
            layers += [ConvNorm(dim, out_channels, 1), ConvNorm(out_channels, out_channels, 3)]
            stages.append(nn.Sequential(*layers))
        self.stages = nn.ModuleList(stages)
        self.strides = [int(16 / s) for s in self.scale_factors] + [int(16 / self.scale_factors[-1]) * 2]
        self.out_features = [f"p{int(math.log2(s))}" for s in self.strides]
        self.out_channels = out_channels

    def forward(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        features = [stage(x) for stage in self.stages]
        # LastLevelMaxPool: p6 from p5 with a 1x1 max pool of stride 2.
        features.append(F.max_pool2d(features[-1], kernel_size=1, stride=2, padding=0))
        return dict(zip(self.out_features, features))
