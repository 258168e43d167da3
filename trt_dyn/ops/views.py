"""View-like ops whose target shape is a runtime shape tensor.

Outputs never alias inputs (``custom_op`` requires it), so eager implementations copy; a
TensorRT converter is free to emit a plain shuffle / slice.
"""

from __future__ import annotations

import torch

from ._registry import (
    check_shape_tensor, define, fake_shape_dims, recall_scalar, recall_shape, scalar_value, shape_values,
)


def _like(result: torch.Tensor) -> torch.Tensor:
    # a fake kernel must not return a view of its input
    return result.new_empty(result.shape)


@define("reshape_dyn", "(Tensor self, Tensor shape) -> Tensor")
def reshape_dyn(self: torch.Tensor, shape: torch.Tensor) -> torch.Tensor:
    """``reshape_dyn(Tensor self, Tensor shape) -> Tensor``: ``self.reshape(shape)``; ``shape`` is 1-d int64,
    one entry may be -1. Target of ``aten.view`` / ``reshape`` / ``_reshape_copy`` / ``_unsafe_view``."""
    return self.reshape(shape_values("reshape_dyn", "shape", shape)).clone()


@reshape_dyn.register_fake
def _(self, shape):
    known = recall_shape(shape)
    if known is not None:
        return self.new_empty(_infer_minus_one(self.numel(), known))
    return self.new_empty(fake_shape_dims("reshape_dyn", "shape", shape))


def _infer_minus_one(numel, sizes):
    # done here rather than with Tensor.reshape, whose stride logic adds guards export cannot prove
    sizes = list(sizes)
    holes = [i for i, s in enumerate(sizes) if isinstance(s, int) and s == -1]
    if len(holes) > 1:
        raise ValueError(f"trt_dyn: only one dimension can be -1, got {sizes}")
    if holes:
        rest = 1
        for i, s in enumerate(sizes):
            if i != holes[0]:
                rest = rest * s
        sizes[holes[0]] = numel // rest
    return sizes


@define("expand_dyn", "(Tensor self, Tensor shape) -> Tensor")
def expand_dyn(self: torch.Tensor, shape: torch.Tensor) -> torch.Tensor:
    """``expand_dyn(Tensor self, Tensor shape) -> Tensor``: ``self.expand(shape)`` (-1 keeps a dim; new leading
    dims allowed), materialised."""
    return self.expand(shape_values("expand_dyn", "shape", shape)).clone()


@expand_dyn.register_fake
def _(self, shape):
    known = recall_shape(shape)
    if known is not None:
        return _like(self.expand(known))
    return self.new_empty(fake_shape_dims("expand_dyn", "shape", shape))


@define("unflatten_dyn", "(Tensor self, int dim, Tensor sizes) -> Tensor")
def unflatten_dyn(self: torch.Tensor, dim: int, sizes: torch.Tensor) -> torch.Tensor:
    """``unflatten_dyn(Tensor self, int dim, Tensor sizes) -> Tensor``: ``self.unflatten(dim, sizes)``; one entry
    of ``sizes`` may be -1."""
    return self.unflatten(dim, shape_values("unflatten_dyn", "sizes", sizes)).clone()


@unflatten_dyn.register_fake
def _(self, dim, sizes):
    known = recall_shape(sizes)
    dims = list(self.shape)
    if known is not None:
        at = dim % self.dim()
        return self.new_empty(dims[:at] + _infer_minus_one(dims[at], known) + dims[at + 1:])
    dim = dim % self.dim() if self.dim() else 0
    new = fake_shape_dims("unflatten_dyn", "sizes", sizes)
    return self.new_empty(dims[:dim] + new + dims[dim + 1:])


@define("repeat_dyn", "(Tensor self, Tensor repeats) -> Tensor")
def repeat_dyn(self: torch.Tensor, repeats: torch.Tensor) -> torch.Tensor:
    """``repeat_dyn(Tensor self, Tensor repeats) -> Tensor``: ``self.repeat(repeats)``;
    ``len(repeats) >= self.dim()``."""
    return self.repeat(shape_values("repeat_dyn", "repeats", repeats))


@repeat_dyn.register_fake
def _(self, repeats):
    known = recall_shape(repeats)
    if known is not None:
        return self.repeat(known)
    return self.new_empty(fake_shape_dims("repeat_dyn", "repeats", repeats))


@define("select_dyn", "(Tensor self, int dim, Tensor index) -> Tensor")
def select_dyn(self: torch.Tensor, dim: int, index: torch.Tensor) -> torch.Tensor:
    """``select_dyn(Tensor self, int dim, Tensor index) -> Tensor``: ``self.select(dim, index)``; ``index`` is a 0-d
    int64 tensor, negative wraps."""
    return self.select(dim, int(scalar_value("select_dyn", "index", index))).clone()


@select_dyn.register_fake
def _(self, dim, index):
    check_shape_tensor("select_dyn", "index", index, rank=0)
    known = recall_scalar(index)
    if known is not None:
        return _like(self.select(dim, known))
    dims = list(self.shape)
    del dims[dim % self.dim()]
    return self.new_empty(dims)


__all__ = ["reshape_dyn", "expand_dyn", "unflatten_dyn", "repeat_dyn", "select_dyn"]
