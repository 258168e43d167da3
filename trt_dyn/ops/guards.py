"""Runtime checks on input sizes: conditions the exported graph was traced under.

``shape_guard_dyn`` passes ``self`` through and checks an integer condition over sizes; in an
engine it is an ``IAssertionLayer`` (TensorRT refuses the input shapes before anything runs).
"""

from __future__ import annotations

from typing import List

import torch

from ._registry import check_shape_tensor, define

#: names a guard condition may call (Python's own integer semantics otherwise)
CONDITION_BUILTINS = {"__builtins__": {}, "min": min, "max": max}


def evaluate_condition(condition: str, sizes: List[int]) -> bool:
    """The guard ``condition`` (a Python integer expression over ``v0, v1, ...``) at ``sizes``."""
    return bool(eval(condition, CONDITION_BUILTINS, {f"v{i}": v for i, v in enumerate(sizes)}))


@define("shape_guard_dyn", "(Tensor self, Tensor[] sizes, str condition, str message) -> Tensor", cpp_kernel=False)
def shape_guard_dyn(self: torch.Tensor, sizes: List[torch.Tensor], condition: str, message: str) -> torch.Tensor:
    """``shape_guard_dyn(Tensor self, Tensor[] sizes, str condition, str message) -> Tensor``: ``self``,
    after checking ``condition``, a Python integer expression over ``v0, v1, ...`` (the 0-d int64
    ``sizes``: ``//`` and ``%`` round toward -inf, ``min``/``max``, comparisons, ``and``/``or``/``not``).
    Raises ``AssertionError(message)`` when it is false. Written by trt_dyn's lowering from the guards
    torch.export recorded (trt_dyn/lowering/export_guards.py), never by hand; Python only (the C++
    op library has no expression evaluator), and always converted when the program is fully compiled."""
    for index, size in enumerate(sizes):
        check_shape_tensor("shape_guard_dyn", f"sizes[{index}]", size, rank=0)
    if not evaluate_condition(condition, [int(s) for s in sizes]):
        raise AssertionError(message)
    return self.clone()


@shape_guard_dyn.register_fake
def _(self, sizes, condition, message):
    return torch.empty_like(self)
