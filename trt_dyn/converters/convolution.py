"""``aten.convolution`` whose input channel count is symbolic in the traced program but fixed by the weight.

torch keeps a size as an expression of the input sizes even when its value never changes. RAFT's correlation
features are ``corr.view(b, h, w, -1)``; re-propagated after the dyn lowering (torch_tensorrt's post-lowering fake
tensor update), the channel count reads ``49 * ceil(H / 8) * ceil(W / 8) // ((H // 8) * (W // 8))``, which is 49 for
every H and W the program accepts, but neither sympy nor TensorRT can prove it. torch_tensorrt's convolution
converter then stops ("Channel dim can't be dynamic"). The weight fixes the count (eager raises for any other):
this converter tells the network that count (:func:`trt_dyn.converters.views.with_known_size`, whose assertion
refuses inputs for which it is another, as eager would) and hands the node to torch_tensorrt's converter.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.fx import Node

from .._hooks import ConverterPriority, upstream_convolution
from .common import registered
from .views import with_known_size


def _weight_fixes_symbolic_channels(node: Node, settings: Any = None) -> bool:
    """The input's channel count is symbolic and the weight's shape static (the weight then fixes the count)."""
    source, weight = node.args[0], node.args[1]
    value = source.meta.get("val") if isinstance(source, Node) else None
    kernel = weight.meta.get("val") if isinstance(weight, Node) else None
    if not isinstance(value, torch.Tensor) or value.dim() < 2 or not isinstance(value.shape[1], torch.SymInt):
        return False
    # an unlifted weight (get_attr) may carry no value: its shape is static, read while converting
    return kernel is None or all(type(size) is int for size in kernel.shape)


@registered(torch.ops.aten.convolution.default, capability_validator=_weight_fixes_symbolic_channels,
            priority=ConverterPriority.HIGH)
def convert_convolution_of_fixed_channels(ctx: Any, target: Any, args: Any, kwargs: Any, name: str) -> Any:
    """``convolution(input, weight, bias, stride, padding, dilation, transposed, output_padding, groups)`` with the
    input's channel count told to the network: ``weight.shape[1] * groups`` (``weight.shape[0]`` when transposed)."""
    weight, transposed, groups = args[1], args[6], args[8]
    kernel = tuple(weight.shape)
    channels = int(kernel[0]) if transposed else int(kernel[1]) * int(groups)
    source = with_known_size(ctx, args[0], 1, channels,
                             f"{target}: the input must have {channels} channels (the weight's)", name)
    return upstream_convolution(ctx, target, (source, *args[1:]), kwargs, name)
