"""Keypoint R-CNN's ``heatmaps_to_keypoints`` without the per-box Python loop: one batched, exportable formulation.

torchvision resizes each detection's ``(K, 56, 56)`` heatmap bicubically to ``(ceil(box height), ceil(box width))``
in a loop over the detections and takes the first maximum of each resized map. The output size differs per box and
is read with ``.item()``, so ``torch.export`` cannot trace it with a data-dependent detection count.

:func:`heatmaps_to_keypoints_bounded` evaluates the same bicubic interpolation (``align_corners=False``, cubic
coefficient -0.75, source indices clamped to the border as aten does) for every box at every output pixel of a
bounded grid ``(max_height, max_width)``; pixels outside a box's own ``(ceil(h), ceil(w))`` are masked out before
the maximum. Bicubic resizing is separable, so each box's resize is two matrix products with that box's weight
matrices, ``W_h[i] @ heatmap @ W_w[i]^T``, batched over the boxes. The first maximum in row-major order is taken
as the smallest flat index holding the maximum (the same element on every backend, ties included).

The maps are the same up to float rounding: aten sums 4 taps per axis with fused multiply-adds (the summation
and contraction depend on the CPU build), the matrix product sums the same non-zero terms in another order. So a
keypoint position can differ from torchvision's only where two pixels of one map hold values within that
rounding of the maximum (:func:`keypoint_rounding_bound`); ``tests/adapters/test_keypoints.py`` checks that
every difference is such a near-tie, and measures how often it happens.

Memory: the resized maps are ``(boxes, K, max_height, max_width)`` float32 (20 boxes, 17 keypoints at 512 x 512:
356 MB), so the bound should be the image size (boxes are clipped to the image), not more.
"""

from __future__ import annotations

from typing import Tuple

import torch

__all__ = ["heatmaps_to_keypoints_bounded", "bicubic_weight_matrices", "keypoint_rounding_bound"]

#: aten's cubic convolution coefficient for ``mode="bicubic"`` without antialiasing (OpenCV's choice)
CUBIC_A = -0.75


def _cubic_near(x: torch.Tensor) -> torch.Tensor:
    """Cubic convolution kernel for |x| <= 1."""
    return ((CUBIC_A + 2) * x - (CUBIC_A + 3)) * x * x + 1


def _cubic_far(x: torch.Tensor) -> torch.Tensor:
    """Cubic convolution kernel for 1 < |x| < 2."""
    return ((CUBIC_A * x - 5 * CUBIC_A) * x + 8 * CUBIC_A) * x - 4 * CUBIC_A


def bicubic_weight_matrices(in_size: int, out_sizes: torch.Tensor, max_out) -> torch.Tensor:
    """``(boxes, max_out, in_size)`` matrices resizing a length-``in_size`` axis to each box's ``out_sizes[i]``.

    Row ``o`` of box ``i`` holds the 4 bicubic taps of output pixel ``o`` for an output of ``out_sizes[i]`` pixels,
    as aten computes them with ``align_corners=False``: source coordinate ``(o + 0.5) * in / out - 0.5`` in float32,
    taps at ``floor - 1 .. floor + 2`` clamped to the border (a clamped tap adds its weight to the border pixel).
    Rows ``o >= out_sizes[i]`` are computed the same way and must be ignored by the caller.
    """
    out_sizes = out_sizes.to(torch.float32)[:, None]  # (boxes, 1)
    scale = in_size / out_sizes
    position = torch.arange(max_out, device=out_sizes.device).to(torch.float32)[None, :]
    source = scale * (position + 0.5) - 0.5
    floor = source.floor().clamp(max=in_size - 1)
    t = (source - floor).clamp(0, 1)
    taps = (_cubic_far(t + 1), _cubic_near(t), _cubic_near(1 - t), _cubic_far((1 - t) + 1))
    columns = torch.arange(in_size, device=out_sizes.device).to(torch.float32)
    weights = None
    for offset, tap in zip((-1, 0, 1, 2), taps):
        index = (floor + offset).clamp(0, in_size - 1)
        term = torch.where(index[..., None] == columns, tap[..., None], 0.0)
        weights = term if weights is None else weights + term
    return weights


def _first_max_position(maps: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """Max over the last dim and the smallest index holding it (torch.argmax's choice among equal values).

    TensorRT leaves the order of equal values in top-k unspecified, so the index is the minimum over the
    positions holding the maximum: the same element on every backend.
    """
    best = maps.amax(dim=-1)
    positions = torch.arange(maps.shape[-1], device=maps.device, dtype=torch.int32)
    past_end = maps.shape[-1]
    first = torch.where(maps == best[..., None], positions, past_end).amin(dim=-1)
    return best, first


def heatmaps_to_keypoints_bounded(maps: torch.Tensor, rois: torch.Tensor, max_height,
                                  max_width) -> Tuple[torch.Tensor, torch.Tensor]:
    """torchvision's ``heatmaps_to_keypoints(maps, rois)`` for boxes no larger than ``max_height`` x ``max_width``.

    ``maps``: ``(boxes, K, S, S)`` keypoint logits; ``rois``: ``(boxes, 4)`` boxes ``x1, y1, x2, y2``. Returns
    ``(boxes, K, 3)`` keypoints ``(x, y, 1)`` and ``(boxes, K)`` scores, computed as torchvision does (see module
    doc). Each box's ``ceil(width)`` must be at most ``max_width`` (and the height likewise): boxes clipped to an
    image of that size are.
    """
    offset_x, offset_y = rois[:, 0], rois[:, 1]
    widths = (rois[:, 2] - rois[:, 0]).clamp(min=1)
    heights = (rois[:, 3] - rois[:, 1]).clamp(min=1)
    widths_ceil, heights_ceil = widths.ceil(), heights.ceil()
    map_height, map_width = maps.shape[-2:]

    rows = bicubic_weight_matrices(map_height, heights_ceil, max_height)  # (boxes, max_height, S)
    columns = bicubic_weight_matrices(map_width, widths_ceil, max_width)  # (boxes, max_width, S)
    resized = rows[:, None] @ (maps @ columns[:, None].transpose(-1, -2))  # (boxes, K, max_height, max_width)

    # pixels outside a box's own (ceil(h), ceil(w)) never win: -inf added to those columns, rows masked after the
    # row maxima (x + 0 is x, x + -inf is -inf: the values inside are untouched)
    outside_x = torch.arange(max_width, device=maps.device)[None, :] >= widths_ceil[:, None]
    outside_y = torch.arange(max_height, device=maps.device)[None, :] >= heights_ceil[:, None]
    resized = resized + torch.where(outside_x, float("-inf"), 0.0)[:, None, None, :]

    # first maximum in row-major order: the first row holding the maximum, then the first column in that row
    row_best, row_first_x = _first_max_position(resized)  # (boxes, K, max_height)
    row_best = torch.where(outside_y[:, None, :], float("-inf"), row_best)
    scores, y_int = _first_max_position(row_best)  # (boxes, K)
    # the column found in row y_int (a one-hot select: gather with data-dependent indices is avoided)
    rows_index = torch.arange(max_height, device=maps.device)
    x_int = torch.where(rows_index == y_int[..., None], row_first_x, 0).sum(dim=-1)

    width_correction = widths / widths_ceil
    height_correction = heights / heights_ceil
    x = (x_int.float() + 0.5) * width_correction[:, None] + offset_x[:, None]
    y = (y_int.float() + 0.5) * height_correction[:, None] + offset_y[:, None]
    keypoints = torch.stack([x, y, torch.ones_like(x)], dim=2)
    return keypoints, scores


def keypoint_rounding_bound(maps: torch.Tensor) -> torch.Tensor:
    """``(boxes, K)``: how far a resized map value of ours may be from aten's, per map (float32 rounding only).

    A resized value is ``sum_j sum_k w_h[j] * w_w[k] * heatmap[..]`` with 4 taps per axis. The two computations
    round differently in three places:

    * the source coordinate ``(o + 0.5) * scale - 0.5`` (``scale = in / out`` rounds the same in both): aten may
      fuse the multiply-add, so the two differ by at most two roundings of values below 64: ``2**-17``. The value
      moves by at most ``|d value / d source| <= max|heatmap| * D * S`` per axis, where ``D = 3`` bounds the sum of
      the 4 kernel slopes and ``S = 1.375`` the sum of the 4 ``|weights|`` on the other axis;
    * the weights' cubic polynomials (fused or not): a few ulps each, and
    * the sums (4 terms per axis in aten, the same non-zero terms in another order here),

    together at most ``2**-17 * max|heatmap|``. So the bound is ``(2 * D * S + 1) * 2**-17 * max|heatmap|``
    (7.1e-5 relative; measured differences stay below 2e-5).
    """
    slopes, weights = 3.0, 1.375
    return maps.abs().amax(dim=(-2, -1)) * (2 * slopes * weights + 1) * 2.0 ** -17
