"""Graph inputs that torch.export specialised to the example's value are refused.

``forward(x, n: int)`` exported with ``n=3`` keeps a placeholder ``n`` whose value is the Python int
3; the graph uses the constant, not the placeholder. Eager ``ep.module()`` guards it (``n == 3``),
but the compiled module has no guard: called with ``n=7`` it silently computes with 3. No TensorRT
or PyTorch segment reads the placeholder, so "warn" mode cannot help either: the build is refused
(``MissingEntry.refused``), in every mode, before anything is rewritten.
"""

from __future__ import annotations

from typing import List

import torch
from torch.fx import GraphModule
from torch.fx.experimental.symbolic_shapes import free_symbols

from .report import MissingEntry

_STATIC_TYPES = (bool, int, float, str)


def _specialised(value: object) -> bool:
    if isinstance(value, (torch.SymInt, torch.SymFloat, torch.SymBool)):
        return not free_symbols(value)
    return isinstance(value, _STATIC_TYPES)


def specialised_inputs(gm: GraphModule) -> List[MissingEntry]:
    """One refused entry per placeholder holding a fixed Python value (not a tensor, not symbolic)."""
    entries = []
    for node in gm.graph.nodes:
        if node.op != "placeholder" or "val" not in node.meta:
            continue
        value = node.meta["val"]
        if not _specialised(value):
            continue
        kind = type(value).__name__
        entries.append(MissingEntry(
            op="placeholder", node=node.name, argument=f"{node.target}={value!r}",
            source=f"<input {node.target}>", code=f"forward(..., {node.target}: {kind})",
            reason=(f"torch.export specialised the {kind} input '{node.target}' to {value!r}: the compiled "
                    f"module would ignore any other value (eager's guard refuses them); pass it as a tensor, "
                    f"make it a constant of the model, or export it dynamic (Dim) where it is a size"),
            refused=True))
    return entries
