"""Control flow: If-conditional boundary layers (CONDITION, CONDITIONAL_INPUT, CONDITIONAL_OUTPUT)
and Assertion. Branch selection itself lives in :mod:`.core` (it decides what to evaluate)."""

from __future__ import annotations

from typing import List, Optional

import torch

from ..._trt import trt
from .common import fail, out_dtype
from .errors import AssertionLayerError

Inputs = List[Optional[torch.Tensor]]


def run_condition(layer: trt.IConditionLayer, inputs: Inputs) -> List[torch.Tensor]:
    condition = inputs[0]
    if condition.dtype != torch.bool or condition.dim() != 0:
        raise fail(layer, f"the condition must be a 0-D bool tensor, got {condition.dtype} {tuple(condition.shape)}")
    return []


def run_conditional_input(layer: trt.IIfConditionalInputLayer, inputs: Inputs) -> List[torch.Tensor]:
    return [inputs[0].to(out_dtype(layer))]


def run_conditional_output(layer: trt.IIfConditionalOutputLayer, inputs: Inputs) -> List[torch.Tensor]:
    """``inputs`` holds the chosen branch's value; the other slot is None (the core evaluated only
    the branch the condition selected)."""
    chosen = [t for t in inputs if t is not None]
    if len(chosen) != 1:
        raise fail(layer, "exactly one branch value must be given to a conditional output")
    return [chosen[0].to(out_dtype(layer))]


def run_assertion(layer: trt.IAssertionLayer, inputs: Inputs) -> List[torch.Tensor]:
    condition = inputs[0]
    if condition.dtype != torch.bool:
        raise fail(layer, f"assertion input must be bool, got {condition.dtype}")
    if not bool(condition.all()):
        raise AssertionLayerError(layer.name, layer.message)
    return []


__all__ = ["run_condition", "run_conditional_input", "run_conditional_output", "run_assertion"]
