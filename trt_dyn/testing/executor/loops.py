"""Loop boundary layers: Iterator, Recurrence, TripLimit and LoopOutput.

The loop machinery itself (which layers form the body, running it once per iteration, stopping on
the trip limits) lives in :mod:`.core`; these functions hold the per-layer semantics it calls.
"""

from __future__ import annotations

from typing import List, Optional

import torch

from ..._trt import trt
from .common import fail, out_dtype, scalar_value, unsupported

Inputs = List[Optional[torch.Tensor]]


def run_iterator(layer: trt.IIteratorLayer, inputs: Inputs) -> List[torch.Tensor]:
    """inputs: [tensor iterated over, iteration number (0-D int64), COUNT trip count or None].

    reverse=False is ``gather(tensor, i, axis)``; reverse=True is ``gather(tensor, M-1-i, axis)``
    with M the trip count of the loop's COUNT trip limit.
    """
    x, iteration, trip_count = inputs[0], int(inputs[1]), inputs[2]
    rank = x.dim()
    axis = int(layer.axis)
    axis = axis + rank if axis < 0 else axis
    if not 0 <= axis < rank:
        raise fail(layer, f"axis {layer.axis} out of range for rank {rank}")
    if layer.reverse:
        if trip_count is None:
            raise unsupported(layer, "reverse", "a reverse iterator needs a COUNT trip limit")
        index = int(trip_count) - 1 - iteration
    else:
        index = iteration
    if not 0 <= index < x.shape[axis]:
        raise fail(layer, f"iteration {iteration} reads index {index} outside axis {axis} of size {x.shape[axis]}")
    return [x.select(axis, index).contiguous().to(out_dtype(layer))]


def run_recurrence(layer: trt.IRecurrenceLayer, inputs: Inputs) -> List[torch.Tensor]:
    """inputs: [current state, None]; the output is the state at the start of the iteration."""
    return [inputs[0].to(out_dtype(layer))]


def run_trip_limit(layer: trt.ITripLimitLayer, inputs: Inputs) -> List[torch.Tensor]:
    """Validates the limit's input (0-D int32/int64 for COUNT, 0-D bool for WHILE); no outputs."""
    value = inputs[0]
    if value.dim() != 0:
        raise fail(layer, f"trip limit input must be 0-D, got shape {tuple(value.shape)}")
    if layer.kind == trt.TripLimit.COUNT:
        if value.dtype not in (torch.int32, torch.int64):
            raise fail(layer, f"COUNT trip limit must be int32/int64, got {value.dtype}")
    elif layer.kind == trt.TripLimit.WHILE:
        if value.dtype != torch.bool:
            raise fail(layer, f"WHILE trip limit must be bool, got {value.dtype}")
    else:
        raise unsupported(layer, layer.kind)
    return []


def run_loop_output(layer: trt.ILoopOutputLayer, inputs: Inputs) -> List[torch.Tensor]:
    """inputs: [value, length]. For LAST_VALUE ``value`` is the last value; for CONCATENATE and
    REVERSE it is the per-iteration values stacked on a new leading axis."""
    value = inputs[0]
    kind = layer.kind
    dtype = out_dtype(layer)
    if kind == trt.LoopOutput.LAST_VALUE:
        return [value.to(dtype)]
    if kind not in (trt.LoopOutput.CONCATENATE, trt.LoopOutput.REVERSE):
        raise unsupported(layer, kind)
    length_t = inputs[1] if len(inputs) > 1 else None
    if length_t is None:
        raise fail(layer, f"{kind} needs the concatenation length as input 1")
    length = int(scalar_value(layer, length_t, "length"))
    if value.shape[0] != length:
        raise fail(layer, f"the loop ran {value.shape[0]} iterations but the concatenation length is {length}")
    if kind == trt.LoopOutput.REVERSE:
        value = value.flip(0)
    rank = value.dim()
    axis = int(layer.axis)
    axis = axis + rank if axis < 0 else axis
    if not 0 <= axis < rank:
        raise fail(layer, f"axis {layer.axis} out of range for output rank {rank}")
    return [value.movedim(0, axis).contiguous().to(dtype)]


__all__ = ["run_iterator", "run_recurrence", "run_trip_limit", "run_loop_output"]
