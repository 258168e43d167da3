"""Ops whose input channel count is symbolic in the traced program but fixed by the op's own parameters:
``aten.convolution`` (the weight), ``aten._native_batch_norm_legit_no_training`` (the running statistics) and
``aten.native_group_norm`` (its channel count argument).

torch keeps a size as an expression of the input sizes even when its value never changes. RAFT's correlation
features are ``corr.view(b, h, w, -1)``; re-propagated after the dyn lowering (torch_tensorrt's post-lowering fake
tensor update), the channel count reads ``49 * ceil(H / 8) * ceil(W / 8) // ((H // 8) * (W // 8))``, which is 49 for
every H and W the program accepts, but neither sympy nor TensorRT can prove it. torch_tensorrt's converters of
these ops then stop ("Channel dim can't be dynamic", "num_channels (4) must be equal to number of channels in input
(-1)"). The parameters fix the count (eager raises for any other): the converter here tells the network that count
(:func:`trt_dyn.converters.views.with_known_size`, whose assertion refuses inputs for which it is another, as eager
would) and hands the node to the torch_tensorrt converter that accepts it.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Optional

import torch
from torch.fx import Node

from .._hooks import ConverterPriority, converting_node, upstream_converter
from .common import registered
from .errors import fail
from .views import with_known_size

aten = torch.ops.aten


def _static_shape(value: Any) -> Optional[tuple]:
    """The shape of a parameter argument (a node's traced value, a frozen tensor or an ITensor), None when some size
    is symbolic or unknown."""
    if isinstance(value, Node):
        value = value.meta.get("val")
    shape = getattr(value, "shape", None)
    if shape is None or not all(type(size) is int and size >= 0 for size in shape):  # an ITensor's -1: dynamic
        return None
    return tuple(int(size) for size in shape)


def _convolution_channels(args: Any) -> Optional[int]:
    kernel = _static_shape(args[1])
    if kernel is None or not isinstance(args[8], int):
        return None
    return kernel[0] if args[6] else kernel[1] * args[8]  # transposed: (in, out / groups, ...)


def _batch_norm_channels(args: Any) -> Optional[int]:
    shape = _static_shape(args[3])  # running_mean: one entry per channel
    return shape[0] if shape is not None and len(shape) == 1 else None


def _group_norm_channels(args: Any) -> Optional[int]:
    return args[4] if type(args[4]) is int else None


#: op -> the input channel count its other arguments fix (None when they do not)
CHANNELS_FIXED_BY: Dict[Any, Callable[[Any], Optional[int]]] = {
    aten.convolution.default: _convolution_channels,
    aten._native_batch_norm_legit_no_training.default: _batch_norm_channels,
    aten.native_group_norm.default: _group_norm_channels,
}


def _fixed_channels_of_symbolic_input(node: Node, settings: Any = None) -> bool:
    """The input's channel count is symbolic, the op's parameters fix it, and a torch_tensorrt converter accepts the
    node (with its own validator: e.g. batch norm only where the mean / rstd outputs are unused)."""
    source = node.args[0]
    value = source.meta.get("val") if isinstance(source, Node) else None
    if not isinstance(value, torch.Tensor) or value.dim() < 2 or not isinstance(value.shape[1], torch.SymInt):
        return False
    return CHANNELS_FIXED_BY[node.target](node.args) is not None and upstream_converter(node, settings) is not None


def convert_fixed_channels(ctx: Any, target: Any, args: Any, kwargs: Any, name: str) -> Any:
    """The node with its input's channel count told to the network, converted by torch_tensorrt's converter."""
    channels = CHANNELS_FIXED_BY[target](args)
    if channels is None:
        raise fail(ctx, target, name, "the op's parameters do not fix the input's channel count")
    node = converting_node(ctx)
    converter = upstream_converter(node, getattr(ctx, "compilation_settings", None)) if node is not None else None
    if converter is None:
        raise fail(ctx, target, name, "no torch_tensorrt converter accepts the node")
    source = with_known_size(ctx, args[0], 1, channels,
                             f"{target}: the input must have {channels} channels (the op's parameters say so)", name)
    return converter(ctx, target, (source, *args[1:]), kwargs, name)


for _op in CHANNELS_FIXED_BY:
    registered(_op, capability_validator=_fixed_channels_of_symbolic_input, priority=ConverterPriority.HIGH)(
        convert_fixed_channels)
