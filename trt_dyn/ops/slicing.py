"""Slicing ops whose bounds / sizes are runtime shape tensors: slice, narrow, split, constant and reflection pad."""

from __future__ import annotations

from typing import List

import torch

from ._registry import (
    check_shape_tensor, define, recall_scalar, recall_shape, scalar_value, shape_values, static_length, unknown_sizes,
)


def _like(result: torch.Tensor) -> torch.Tensor:
    # a fake kernel must not return a view of its input
    return result.new_empty(result.shape)


def _with_dim(self: torch.Tensor, dim: int, size) -> List:
    dims = list(self.shape)
    dims[dim % self.dim()] = size
    return dims


@define("slice_dyn", "(Tensor self, int dim, Tensor start, Tensor end, int step=1) -> Tensor")
def slice_dyn(self: torch.Tensor, dim: int, start: torch.Tensor, end: torch.Tensor, step: int = 1) -> torch.Tensor:
    """``slice_dyn(Tensor self, int dim, Tensor start, Tensor end, int step=1) -> Tensor``: ``aten.slice.Tensor``
    with 0-d int64 bounds: negative bounds add the dim size, then both clamp to ``[0, size]``
    (an omitted end is INT64_MAX)."""
    return torch.ops.aten.slice.Tensor(
        self, dim, int(scalar_value("slice_dyn", "start", start)), int(scalar_value("slice_dyn", "end", end)), step
    ).clone()


@slice_dyn.register_fake
def _(self, dim, start, end, step=1):
    check_shape_tensor("slice_dyn", "start", start, rank=0)
    check_shape_tensor("slice_dyn", "end", end, rank=0)
    begin, stop = recall_scalar(start), recall_scalar(end)
    if begin is not None and stop is not None:
        return _like(torch.ops.aten.slice.Tensor(self, dim, begin, stop, step))
    return self.new_empty(_with_dim(self, dim, unknown_sizes(1)[0]))


@define("narrow_dyn", "(Tensor self, int dim, Tensor start, Tensor length) -> Tensor")
def narrow_dyn(self: torch.Tensor, dim: int, start: torch.Tensor, length: torch.Tensor) -> torch.Tensor:
    """``narrow_dyn(Tensor self, int dim, Tensor start, Tensor length) -> Tensor``: ``self.narrow(dim, start, length)``
    (negative start wraps; out-of-range is an error)."""
    return self.narrow(dim, int(scalar_value("narrow_dyn", "start", start)),
                       int(scalar_value("narrow_dyn", "length", length))).clone()


@narrow_dyn.register_fake
def _(self, dim, start, length):
    check_shape_tensor("narrow_dyn", "start", start, rank=0)
    check_shape_tensor("narrow_dyn", "length", length, rank=0)
    begin, count = recall_scalar(start), recall_scalar(length)
    if begin is not None and count is not None:
        return _like(self.narrow(dim, begin, count))
    return self.new_empty(_with_dim(self, dim, unknown_sizes(1)[0]))


@define("split_dyn", "(Tensor self, Tensor sizes, int dim=0) -> Tensor[]")
def split_dyn(self: torch.Tensor, sizes: torch.Tensor, dim: int = 0) -> List[torch.Tensor]:
    """``split_dyn(Tensor self, Tensor sizes, int dim=0) -> Tensor[]``: ``torch.split(self, sizes, dim)`` with a
    1-d int64 ``sizes`` summing to ``self.size(dim)``. The number of outputs is ``len(sizes)``, which is
    static (the tensor's length), so the output list has a fixed arity."""
    return [part.clone() for part in torch.split(self, shape_values("split_dyn", "sizes", sizes), dim)]


@split_dyn.register_fake
def _(self, sizes, dim=0):
    count = static_length("split_dyn", "sizes", sizes)
    known = recall_shape(sizes)
    if known is not None:
        return [self.new_empty(_with_dim(self, dim, size)) for size in known]
    return [self.new_empty(_with_dim(self, dim, size)) for size in unknown_sizes(count)]


@define("pad_dyn", "(Tensor self, Tensor pad, float value=0.0) -> Tensor")
def pad_dyn(self: torch.Tensor, pad: torch.Tensor, value: float = 0.0) -> torch.Tensor:
    """``pad_dyn(Tensor self, Tensor pad, float value=0.0) -> Tensor``: ``aten.constant_pad_nd`` with a 1-d int64
    ``pad`` of even length ``2k`` (``(left, right)`` pairs from the last dim backwards; negative crops)."""
    return torch.ops.aten.constant_pad_nd(self, shape_values("pad_dyn", "pad", pad), value)


@pad_dyn.register_fake
def _(self, pad, value=0.0):
    count = static_length("pad_dyn", "pad", pad)
    if count % 2 or count // 2 > self.dim():
        raise ValueError(f"trt_dyn::pad_dyn: pad length {count} must be even and at most 2 * {self.dim()}")
    known = recall_shape(pad)
    if known is not None:
        return torch.ops.aten.constant_pad_nd(self, known, value)
    dims = list(self.shape)
    for index, size in enumerate(unknown_sizes(count // 2)):
        dims[self.dim() - 1 - index] = size
    return self.new_empty(dims)


_REFLECTION_PADS = {2: torch.ops.aten.reflection_pad1d, 4: torch.ops.aten.reflection_pad2d,
                    6: torch.ops.aten.reflection_pad3d}


def _reflection_pad(op: str, self: torch.Tensor, count: int):
    if count not in _REFLECTION_PADS or self.dim() < count // 2 + 1:
        raise ValueError(f"trt_dyn::{op}: pad length {count} must be 2, 4 or 6 and pad at most self.dim() - 1 dims, "
                         f"got self of rank {self.dim()}")
    return _REFLECTION_PADS[count]


@define("reflection_pad_dyn", "(Tensor self, Tensor pad) -> Tensor", cpp_kernel=False)
def reflection_pad_dyn(self: torch.Tensor, pad: torch.Tensor) -> torch.Tensor:
    """``reflection_pad_dyn(Tensor self, Tensor pad) -> Tensor``: ``aten.reflection_pad{1,2,3}d`` with a 1-d int64
    ``pad`` of 2, 4 or 6 entries (``(left, right)`` pairs from the last dim backwards; each below its dim's size,
    negative crops)."""
    values = shape_values("reflection_pad_dyn", "pad", pad)
    return _reflection_pad("reflection_pad_dyn", self, len(values))(self, values)


@reflection_pad_dyn.register_fake
def _(self, pad):
    count = static_length("reflection_pad_dyn", "pad", pad)
    op = _reflection_pad("reflection_pad_dyn", self, count)
    known = recall_shape(pad)
    if known is not None:
        return op(self, known)
    dims = list(self.shape)
    for index, size in enumerate(unknown_sizes(count // 2)):
        dims[self.dim() - 1 - index] = size
    return self.new_empty(dims)
