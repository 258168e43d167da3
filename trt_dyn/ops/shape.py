"""Shape producers: read a tensor's runtime shape into int64 shape tensors; freeze Python ints.

Shape tensors are int64 CPU tensors: 0-d for one size, 1-d for a shape.
"""

from __future__ import annotations

from typing import List

import torch

from ._registry import SHAPE_DTYPE, check_shape_tensor, define, new_shape_tensor, recall, remember


@define("size_dyn", "(Tensor self) -> Tensor")
def size_dyn(self: torch.Tensor) -> torch.Tensor:
    """``size_dyn(Tensor self) -> Tensor``: ``self.shape`` as a 1-d int64 tensor of length ``self.dim()``."""
    return torch.tensor(list(self.shape), dtype=SHAPE_DTYPE)


@size_dyn.register_fake
def _(self):
    return remember(new_shape_tensor((self.dim(),)), tuple(self.shape))


@define("sym_size_dyn", "(Tensor self, int dim) -> Tensor")
def sym_size_dyn(self: torch.Tensor, dim: int) -> torch.Tensor:
    """``sym_size_dyn(Tensor self, int dim) -> Tensor``: ``self.size(dim)`` as a 0-d int64 tensor (negative dim wraps)."""
    return torch.tensor(self.size(dim), dtype=SHAPE_DTYPE)


@sym_size_dyn.register_fake
def _(self, dim):
    return remember(new_shape_tensor(()), self.size(dim))


@define("sym_sizes_dyn", "(Tensor self, int[] dims) -> Tensor")
def sym_sizes_dyn(self: torch.Tensor, dims: List[int]) -> torch.Tensor:
    """``sym_sizes_dyn(Tensor self, int[] dims) -> Tensor``: ``[self.size(d) for d in dims]`` as a 1-d int64 tensor
    (negative dims wrap). The lowering writes ``x.shape[-2:]`` with this op: one read of the shape, not one
    ``sym_size_dyn`` per entry and a ``shape_cat_dyn``."""
    return torch.tensor([self.size(d) for d in dims], dtype=SHAPE_DTYPE)


@sym_sizes_dyn.register_fake
def _(self, dims):
    return remember(new_shape_tensor((len(dims),)), tuple(self.size(d) for d in dims))


@define("symint_dyn", "(SymInt value) -> Tensor")
def symint_dyn(value: int) -> torch.Tensor:
    """``symint_dyn(SymInt value) -> Tensor``: an int graph input as a 0-d int64 tensor. torch.compile passes
    sizes of tensors the graph never reads (``feat.shape[-2:]`` alone) as ints; the engine takes them as shape
    inputs."""
    return torch.tensor(value, dtype=SHAPE_DTYPE)


@symint_dyn.register_fake
def _(value):
    return remember(new_shape_tensor(()), value)


@define("numel_dyn", "(Tensor self) -> Tensor")
def numel_dyn(self: torch.Tensor) -> torch.Tensor:
    """``numel_dyn(Tensor self) -> Tensor``: ``self.numel()`` as a 0-d int64 tensor."""
    return torch.tensor(self.numel(), dtype=SHAPE_DTYPE)


@numel_dyn.register_fake
def _(self):
    return remember(new_shape_tensor(()), self.numel())


@define("const", "(int[] values) -> Tensor")
def const(values: List[int]) -> torch.Tensor:
    """``const(int[] values) -> Tensor``: freeze static ints into a 1-d int64 shape tensor."""
    return torch.tensor(list(values), dtype=SHAPE_DTYPE)


@const.register_fake
def _(values):
    return remember(new_shape_tensor((len(values),)), tuple(values))


@define("const_scalar", "(Scalar value) -> Tensor")
def const_scalar(value) -> torch.Tensor:
    """``const_scalar(Scalar value) -> Tensor``: freeze one number into a 0-d shape value
    (int -> int64, float -> float32; bool is rejected)."""
    return torch.tensor(value, dtype=_scalar_dtype(value))


@const_scalar.register_fake
def _(value):
    return remember(new_shape_tensor((), _scalar_dtype(value)), value)


def _scalar_dtype(value) -> torch.dtype:
    if isinstance(value, bool):
        raise TypeError("trt_dyn::const_scalar: a shape value cannot be a bool")
    if isinstance(value, int):
        return SHAPE_DTYPE
    if isinstance(value, float):
        return torch.float32
    raise TypeError(f"trt_dyn::const_scalar: expected int or float, got {type(value).__name__}")


@define("shape_cat_dyn", "(Tensor[] parts) -> Tensor")
def shape_cat_dyn(parts: List[torch.Tensor]) -> torch.Tensor:
    """``shape_cat_dyn(Tensor[] parts) -> Tensor``: concatenate 0-d and 1-d int shape tensors into one 1-d
    int64 shape (a 0-d part contributes one entry)."""
    _check_parts(parts)
    if not parts:
        return torch.empty((0,), dtype=SHAPE_DTYPE)
    return torch.cat([p.reshape(-1).to(SHAPE_DTYPE).cpu() for p in parts])


@shape_cat_dyn.register_fake
def _(parts):
    _check_parts(parts)
    out = new_shape_tensor((sum(1 if p.dim() == 0 else p.shape[0] for p in parts),))
    known = [recall(p) for p in parts]
    if all(k is not None for k in known):
        remember(out, tuple(v for k in known for v in (k if isinstance(k, tuple) else (k,))))
    return out


def _check_parts(parts: List[torch.Tensor]) -> None:
    for index, part in enumerate(parts):
        check_shape_tensor("shape_cat_dyn", f"parts[{index}]", part)
