"""Switches of the dyn lowering: on/off and what to do when a dyn variant is missing.

Aliases of :mod:`trt_dyn.settings` (switches ``lowering`` and ``on_missing``), kept because the README documents
them. ``set_enabled(False)`` or env ``TRT_DYN_LOWERING=0`` turns the pass into a no-op.
``set_on_missing("warn")`` or env ``TRT_DYN_ON_MISSING=warn`` warns and leaves the nodes to PyTorch instead of
raising :class:`trt_dyn.MissingDynVariantError`, unless torch_tensorrt compiles with
``require_full_compilation=True`` (then it raises). A value set in code wins over the env.
"""

from __future__ import annotations

from typing import Any, Optional

from .. import settings

ON_MISSING_CHOICES = settings.SWITCHES["on_missing"].choices


def set_enabled(enabled: Optional[bool]) -> None:
    """Turn the dyn lowering on/off; ``None`` goes back to ``$TRT_DYN_LOWERING`` (default on)."""
    settings.set("lowering", enabled)


def is_enabled() -> bool:
    return settings.get("lowering")


def set_on_missing(mode: Optional[str]) -> None:
    """``"raise"`` (default) or ``"warn"``; ``None`` goes back to ``$TRT_DYN_ON_MISSING``."""
    settings.set("on_missing", mode)


def get_on_missing(compilation: Any = None) -> str:
    """``on_missing`` for a compile with torch_tensorrt's ``CompilationSettings`` ``compilation`` (if known)."""
    return settings.get("on_missing", compilation)
