"""Resize with a runtime output size: nearest (1-3 spatial dims), linear / bilinear / bicubic /
trilinear (1 / 2 / 2 / 3 spatial dims), each exactly as ``aten.upsample_*``."""

from __future__ import annotations

from typing import List, Optional

import torch

from ._registry import define, recall_shape, shape_values, static_length, unknown_sizes

_NEAREST = {1: torch.ops.aten.upsample_nearest1d.default, 2: torch.ops.aten.upsample_nearest2d.default,
            3: torch.ops.aten.upsample_nearest3d.default}
#: interpolating modes -> (spatial dims, aten op taking (self, size, align_corners, *scales))
_INTERPOLATING = {
    "linear": (1, torch.ops.aten.upsample_linear1d.default),
    "bilinear": (2, torch.ops.aten.upsample_bilinear2d.default),
    "bicubic": (2, torch.ops.aten.upsample_bicubic2d.default),
    "trilinear": (3, torch.ops.aten.upsample_trilinear3d.default),
}
MODES = ("nearest",) + tuple(_INTERPOLATING)


def _check(self: torch.Tensor, spatial: int, mode: str, scales: Optional[List[float]]) -> None:
    if mode == "nearest":
        if spatial not in _NEAREST or self.dim() != spatial + 2:
            raise ValueError(f"trt_dyn::interpolate_dyn: nearest needs 1-3 spatial dims matching a (N, C, *) input, "
                             f"got size of length {spatial} for an input of rank {self.dim()}")
    elif mode in _INTERPOLATING:
        wanted = _INTERPOLATING[mode][0]
        if spatial != wanted or self.dim() != wanted + 2:
            raise ValueError(f"trt_dyn::interpolate_dyn: {mode} needs a {wanted + 2}-d input and a size of length "
                             f"{wanted}, got rank {self.dim()} and length {spatial}")
    else:
        raise NotImplementedError(f"trt_dyn::interpolate_dyn: mode '{mode}' is not implemented {MODES}")
    if scales is not None and len(scales) != spatial:
        raise ValueError(f"trt_dyn::interpolate_dyn: scales {scales} must have {spatial} entries")


@define("interpolate_dyn",
        "(Tensor self, Tensor size, str mode='nearest', bool align_corners=False, float[]? scales=None) -> Tensor")
def interpolate_dyn(self: torch.Tensor, size: torch.Tensor, mode: str = "nearest", align_corners: bool = False,
                    scales: Optional[List[float]] = None) -> torch.Tensor:
    """``interpolate_dyn(Tensor self, Tensor size, str mode='nearest', bool align_corners=False, float[]? scales=None)
    -> Tensor``: ``aten.upsample_<mode>`` to the spatial ``size`` (1-d int64); mode is nearest, linear, bilinear,
    bicubic (A = -0.75) or trilinear. When ``scales`` is given source coordinates use ``1 / scale`` (as aten does
    for ``scale_factor=``), else ``in / out``. ``align_corners`` is ignored by nearest."""
    out = shape_values("interpolate_dyn", "size", size)
    _check(self, len(out), mode, scales)
    per_dim = list(scales) if scales is not None else [None] * len(out)
    if mode == "nearest":
        return _NEAREST[len(out)](self, out, *per_dim)
    return _INTERPOLATING[mode][1](self, out, align_corners, *per_dim)


@interpolate_dyn.register_fake
def _(self, size, mode="nearest", align_corners=False, scales=None):
    spatial = static_length("interpolate_dyn", "size", size)
    _check(self, spatial, mode, scales)
    known = recall_shape(size)
    return self.new_empty(list(self.shape[:2]) + (known if known is not None else unknown_sizes(spatial)))


_ANTIALIASED = {"bilinear": torch.ops.aten._upsample_bilinear2d_aa.default,
                "bicubic": torch.ops.aten._upsample_bicubic2d_aa.default}


@define("interpolate_aa_dyn", "(Tensor self, Tensor size, str mode='bicubic', bool align_corners=False) -> Tensor")
def interpolate_aa_dyn(self: torch.Tensor, size: torch.Tensor, mode: str = "bicubic",
                       align_corners: bool = False) -> torch.Tensor:
    """``interpolate_aa_dyn(Tensor self, Tensor size, str mode='bicubic', bool align_corners=False) -> Tensor``:
    ``aten._upsample_<mode>2d_aa`` (``F.interpolate(..., antialias=True)``) of a 4-d input to the spatial
    ``size``; mode is bilinear or bicubic."""
    out = shape_values("interpolate_aa_dyn", "size", size)
    if mode not in _ANTIALIASED or self.dim() != 4 or len(out) != 2:
        raise ValueError(f"trt_dyn::interpolate_aa_dyn: needs a 4-d input, 2 sizes and mode in "
                         f"{sorted(_ANTIALIASED)}, got rank {self.dim()}, {out}, {mode!r}")
    return _ANTIALIASED[mode](self, out, align_corners)


@interpolate_aa_dyn.register_fake
def _(self, size, mode="bicubic", align_corners=False):
    spatial = static_length("interpolate_aa_dyn", "size", size)
    known = recall_shape(size)
    return self.new_empty(list(self.shape[:2]) + (known if known is not None else unknown_sizes(spatial)))
