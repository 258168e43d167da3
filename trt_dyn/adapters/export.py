"""Export an image model with H and W dynamic, and check that nothing was specialized."""

from __future__ import annotations

from typing import Optional, Sequence, Tuple

import torch
from torch import nn

HW = Tuple[int, int]


def export_image_model(model: nn.Module, min_hw: HW, max_hw: HW, step: int = 1, example_hw: Optional[HW] = None,
                       check_sizes: Sequence[HW] = ()) -> torch.export.ExportedProgram:
    """``torch.export`` of ``model`` (images ``(1, 3, H, W)``) with H, W in [min_hw, max_hw], multiples of ``step``.

    H and W are traced with ``Dim.AUTO`` and bounded by ``torch._check`` (named ``Dim`` ranges fail on models
    whose code divides sizes), then checked: both stay distinct symbols with exactly the requested ranges
    (``range_constraints``), and at each of ``check_sizes`` the exported program equals eager ``model``
    (a specialization hidden in a guard shows as a failure there). Violations raise
    :class:`trt_dyn.models.export.ExportError`.
    """
    from ..models.export import ExportError, export_cascade

    program = export_cascade(model, min_hw, max_hw, step=step, example_hw=example_hw)
    exported = program.module()
    for index, hw in enumerate(check_sizes):
        images = torch.rand(1, 3, *hw, generator=torch.Generator().manual_seed(index))
        with torch.no_grad():
            want = torch.utils._pytree.tree_leaves(model(images))
            got = torch.utils._pytree.tree_leaves(exported(images))
        same = len(want) == len(got) and all(_close(a, b) for a, b in zip(got, want))
        if not same:
            raise ExportError(f"the exported program differs from eager at image size {hw}: a size was specialized "
                              "or a branch on a size was taken at the traced example")
    return program


def _close(got: torch.Tensor, want: torch.Tensor) -> bool:
    # the exported graph runs decomposed ops: float results may differ in the last bits, nothing more
    if got.shape != want.shape or got.dtype != want.dtype:
        return False
    if want.dtype.is_floating_point:
        return torch.allclose(got, want, rtol=1e-3, atol=1e-4)
    return torch.equal(got, want)
