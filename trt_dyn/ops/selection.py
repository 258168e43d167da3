"""Selection ops with bounded output shapes (no data-dependent sizes)."""

from __future__ import annotations

from typing import Tuple

import torch

from ._registry import define


@define("nonzero_bounded", "(Tensor mask) -> (Tensor, Tensor)")
def nonzero_bounded(mask: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """``nonzero_bounded(Tensor mask) -> (Tensor indices_padded, Tensor count)``

    ``torch.nonzero_static(mask, size=mask.numel(), fill_value=-1)`` plus the number of true
    elements: ``indices_padded`` is int64 ``[mask.numel(), mask.dim()]``, its first ``count`` rows
    are ``torch.nonzero(mask)`` (row-major order) and the remaining rows are ``-1``; ``count`` is a
    0-d int64 tensor. Both shapes depend only on ``mask``'s shape, never on its values.
    """
    if mask.dim() == 0:
        raise ValueError("trt_dyn::nonzero_bounded: mask must have at least one dimension")
    found = torch.nonzero(mask)
    padded = torch.full((mask.numel(), mask.dim()), -1, dtype=torch.int64, device=mask.device)
    padded[: found.shape[0]] = found
    return padded, torch.tensor(found.shape[0], dtype=torch.int64, device=mask.device)


@nonzero_bounded.register_fake
def _nonzero_bounded_fake(mask: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    if mask.dim() == 0:
        raise ValueError("trt_dyn::nonzero_bounded: mask must have at least one dimension")
    numel = mask.numel()
    return (
        mask.new_empty((numel, mask.dim()), dtype=torch.int64),
        mask.new_empty((), dtype=torch.int64),
    )


__all__ = ["nonzero_bounded"]
