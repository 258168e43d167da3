"""Compare a compiled program's outputs with eager: structure, shapes, dtypes, values within tolerance."""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Tuple

import torch

#: dtype -> (rtol, atol); a value passes when |actual - expected| <= atol + rtol * |expected|.
DEFAULT_TOLERANCES: Dict[torch.dtype, Tuple[float, float]] = {
    torch.float64: (1e-6, 1e-6),
    torch.float32: (1e-4, 1e-4),
    torch.float16: (1e-2, 1e-2),
    torch.bfloat16: (2e-2, 2e-2),
}


class ConverterMismatchError(AssertionError):
    """The compiled program disagrees with PyTorch eager (or with the expected partitioning)."""


def _flatten(value: Any) -> List[Any]:
    leaves, _ = torch.utils._pytree.tree_flatten(value)
    return leaves


def compare_outputs(
    actual: Any,
    expected: Any,
    *,
    where: str = "",
    tolerances: Optional[Mapping[torch.dtype, Tuple[float, float]]] = None,
) -> None:
    """Assert ``actual`` matches ``expected`` (eager): structure, shapes, dtypes, values within tolerance."""
    tolerances = {**DEFAULT_TOLERANCES, **(tolerances or {})}
    got, want = _flatten(actual), _flatten(expected)
    prefix = f"{where}: " if where else ""
    if len(got) != len(want):
        raise ConverterMismatchError(f"{prefix}{len(got)} outputs, eager has {len(want)}")
    for index, (a, e) in enumerate(zip(got, want)):
        label = f"{prefix}output {index}"
        if not isinstance(e, torch.Tensor):
            if a != e:
                raise ConverterMismatchError(f"{label}: got {a!r}, eager {e!r}")
            continue
        if not isinstance(a, torch.Tensor):
            raise ConverterMismatchError(f"{label}: got {type(a).__name__}, eager a tensor")
        if tuple(a.shape) != tuple(e.shape):
            raise ConverterMismatchError(f"{label}: shape {tuple(a.shape)}, eager {tuple(e.shape)}")
        if a.dtype != e.dtype:
            raise ConverterMismatchError(f"{label}: dtype {a.dtype}, eager {e.dtype}")
        a, e = a.detach().cpu(), e.detach().cpu()
        if not e.dtype.is_floating_point:
            mismatched = a != e
            if bool(mismatched.any()):
                first = tuple(int(i) for i in mismatched.nonzero()[0])
                raise ConverterMismatchError(
                    f"{label} ({e.dtype}, shape {tuple(e.shape)}): {int(mismatched.sum())} of {e.numel()} "
                    f"elements differ (exact match required); first at {first}: got {a[first].item()}, "
                    f"eager {e[first].item()}"
                )
            continue
        rtol, atol = tolerances.get(e.dtype, DEFAULT_TOLERANCES[torch.float32])
        a64, e64 = a.double(), e.double()
        nan_mismatch = torch.isnan(a64) != torch.isnan(e64)
        # an infinity must be matched exactly (same sign); elsewhere the tolerance applies
        inf_mismatch = (torch.isinf(a64) | torch.isinf(e64)) & (a64 != e64)
        error = (a64 - e64).abs()
        error = torch.where(torch.isnan(e64) | torch.isinf(e64), torch.zeros_like(error), error)
        allowed = atol + rtol * e64.abs()
        bad = nan_mismatch | inf_mismatch | (error > allowed)
        if bool(bad.any()):
            finite = error[torch.isfinite(error)]
            max_abs = float(finite.max()) if finite.numel() else float("nan")
            relative = error / e64.abs().clamp_min(1e-12)
            finite_rel = relative[torch.isfinite(relative)]
            max_rel = float(finite_rel.max()) if finite_rel.numel() else float("nan")
            first = tuple(int(i) for i in bad.nonzero()[0])
            raise ConverterMismatchError(
                f"{label} ({e.dtype}, shape {tuple(e.shape)}): {int(bad.sum())} of {e.numel()} elements "
                f"outside rtol={rtol}, atol={atol}; max abs err {max_abs:.3g}, max rel err {max_rel:.3g}; "
                f"first at {first}: got {a[first].item()}, eager {e[first].item()}"
            )


__all__ = ["DEFAULT_TOLERANCES", "ConverterMismatchError", "compare_outputs"]
