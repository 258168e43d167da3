"""Switches for the dyn lowering: on/off and what to do when a dyn variant is missing.

``set_enabled(False)`` or env ``TRT_DYN_LOWERING=0`` turns the pass into a no-op.
``set_on_missing("warn")`` or env ``TRT_DYN_ON_MISSING=warn`` warns and leaves the nodes to PyTorch
instead of raising :class:`trt_dyn.MissingDynVariantError`. A value set in code wins over the env.
"""

from __future__ import annotations

import os
from typing import Optional

ON_MISSING_CHOICES = ("raise", "warn")

_enabled: Optional[bool] = None
_on_missing: Optional[str] = None


def set_enabled(enabled: Optional[bool]) -> None:
    """Turn the dyn lowering on/off; ``None`` goes back to ``$TRT_DYN_LOWERING`` (default on)."""
    global _enabled
    _enabled = None if enabled is None else bool(enabled)


def is_enabled() -> bool:
    if _enabled is not None:
        return _enabled
    return os.environ.get("TRT_DYN_LOWERING", "1").strip().lower() not in ("0", "false", "off", "no")


def set_on_missing(mode: Optional[str]) -> None:
    """``"raise"`` (default) or ``"warn"``; ``None`` goes back to ``$TRT_DYN_ON_MISSING``."""
    global _on_missing
    if mode is not None and mode not in ON_MISSING_CHOICES:
        raise ValueError(f"on_missing must be one of {ON_MISSING_CHOICES}, got {mode!r}")
    _on_missing = mode


def get_on_missing() -> str:
    if _on_missing is not None:
        return _on_missing
    mode = os.environ.get("TRT_DYN_ON_MISSING", "raise").strip().lower()
    if mode not in ON_MISSING_CHOICES:
        raise ValueError(f"TRT_DYN_ON_MISSING must be one of {ON_MISSING_CHOICES}, got {mode!r}")
    return mode
