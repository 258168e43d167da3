"""topk with a runtime k (e.g. ``min(K, n)``)."""

from __future__ import annotations

from typing import Tuple

import torch

from ._registry import check_shape_tensor, define, recall_scalar, scalar_value, unknown_sizes


@define("topk_dyn", "(Tensor self, Tensor k, int dim=-1, bool largest=True, bool sorted=True) -> (Tensor, Tensor)")
def topk_dyn(self: torch.Tensor, k: torch.Tensor, dim: int = -1, largest: bool = True,
             sorted: bool = True) -> Tuple[torch.Tensor, torch.Tensor]:
    """``topk_dyn(Tensor self, Tensor k, int dim=-1, bool largest=True, bool sorted=True) -> (Tensor, Tensor)``:
    ``torch.topk`` with ``k`` a 0-d int64 tensor (``0 <= k <= self.size(dim)``); returns (values, int64 indices)."""
    return torch.topk(self, int(scalar_value("topk_dyn", "k", k)), dim, largest, sorted)


@topk_dyn.register_fake
def _(self, k, dim=-1, largest=True, sorted=True):
    check_shape_tensor("topk_dyn", "k", k, rank=0)
    dims = list(self.shape)
    known = recall_scalar(k)
    dims[dim % self.dim()] = known if known is not None else unknown_sizes(1)[0]
    return self.new_empty(dims), self.new_empty(dims, dtype=torch.int64)
