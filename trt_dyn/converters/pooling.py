"""``aten.max_pool2d`` / ``aten.max_pool3d`` with ``ceil_mode=True``, which torch_tensorrt refuses (its capability
validator), so that SqueezeNet's and GoogLeNet's pools, static or dynamic, were left to PyTorch.

TensorRT's ``EXPLICIT_ROUND_UP`` padding mode gives ``ceil((n + 2p - k) / s) + 1`` windows per spatial dim.
PyTorch's ceil mode counts the same windows but drops the last one when it would start at or past ``n + p`` (inside
the right padding): the window count is ``min(ceil((n + 2p - k) / s) + 1, (n + p - 1) // s + 1)``. The dropped
window covers no input element, so slicing TensorRT's output to PyTorch's count is exact. Where the second term can
never be the smaller (``s <= k - p``, e.g. SqueezeNet's ``k=3, s=2, p=0``), no slice is built.
"""

from __future__ import annotations

from typing import Any, List, Sequence

import torch
from torch.fx import Node

from .._hooks import ConverterPriority
from .._trt import trt
from .common import data_tensor, registered
from .errors import fail
from .shape_tensor import as_shape_tensor, constant_value, dim_of, name_layer, python_floordiv, shape_binary, \
    shape_items

_SPATIAL_DIMS = {torch.ops.aten.max_pool2d.default: 2, torch.ops.aten.max_pool3d.default: 3}


def _per_dim(value: Any, n: int, default: Sequence[int]) -> List[int]:
    values = [value] if isinstance(value, int) else list(value or ())
    if not values:
        return list(default)
    return values * n if len(values) == 1 else values


def _arguments(node_args: Sequence[Any], n: int) -> tuple:
    """(kernel, stride, padding, dilation, ceil_mode) as per-dim lists, with aten's defaults (stride = kernel)."""
    kernel = _per_dim(node_args[1], n, ())
    stride = _per_dim(node_args[2] if len(node_args) > 2 else (), n, kernel)
    padding = _per_dim(node_args[3] if len(node_args) > 3 else 0, n, [0] * n)
    dilation = _per_dim(node_args[4] if len(node_args) > 4 else 1, n, [1] * n)
    ceil_mode = bool(node_args[5]) if len(node_args) > 5 else False
    return kernel, stride, padding, dilation, ceil_mode


def _ceil_mode_max_pool(node: Node, settings: Any = None) -> bool:
    """Ceil mode without dilation (TensorRT's pooling layer has none) on a batched floating-point input."""
    n = _SPATIAL_DIMS[node.target]
    _, _, _, dilation, ceil_mode = _arguments(node.args, n)
    value = node.args[0].meta.get("val") if isinstance(node.args[0], Node) else None
    return ceil_mode and all(d == 1 for d in dilation) and isinstance(value, torch.Tensor) \
        and value.dim() == n + 2 and value.dtype in (torch.float32, torch.float16, torch.bfloat16)


def _register(op: Any) -> None:
    registered(op, capability_validator=_ceil_mode_max_pool, priority=ConverterPriority.HIGH)(
        convert_ceil_mode_max_pool)


def convert_ceil_mode_max_pool(ctx: Any, target: Any, args: Any, kwargs: Any, name: str) -> "trt.ITensor":
    """``max_poolNd(input, kernel_size, stride, padding, dilation, ceil_mode=True)``: a MAX pooling layer with
    ``EXPLICIT_ROUND_UP`` padding, sliced to PyTorch's window count where it can be one less."""
    n = _SPATIAL_DIMS[target]
    kernel, stride, padding, dilation, _ = _arguments(args, n)
    if len(kernel) != n or len(stride) != n or len(padding) != n:
        raise fail(ctx, target, name, f"kernel {kernel}, stride {stride} and padding {padding} must each give "
                                      f"{n} sizes (or one)")
    if any(2 * p > k for p, k in zip(padding, kernel)):
        raise fail(ctx, target, name, f"padding {padding} must be at most half the kernel {kernel} (as in PyTorch)")
    source = data_tensor(ctx, args[0], name)
    layer = ctx.net.add_pooling_nd(source, trt.PoolingType.MAX, kernel)
    layer.stride_nd = stride
    layer.pre_padding = padding
    layer.post_padding = padding
    layer.padding_mode = trt.PaddingMode.EXPLICIT_ROUND_UP
    pooled = name_layer(layer, name, "max_pool_ceil").get_output(0)

    lead = len(source.shape) - n
    droppable = [lead + i for i in range(n) if stride[i] > kernel[i] - padding[i]]
    if not droppable:
        return pooled
    sizes: List[Any] = shape_items(ctx, pooled, name, range(lead))
    for dim in range(lead, lead + n):
        count = shape_items(ctx, pooled, name, [dim])
        if dim in droppable:
            i = dim - lead
            # windows starting before n + p: (n + p - 1) // s + 1
            started = shape_binary(ctx, "add", python_floordiv(
                ctx, shape_binary(ctx, "add", dim_of(ctx, source, dim, name), padding[i] - 1, name), stride[i],
                name), 1, name)
            count = [shape_binary(ctx, "min", as_shape_tensor(ctx, count, name), started, name)]
        sizes.extend(count)
    shape = as_shape_tensor(ctx, sizes, name)
    known = constant_value(ctx, shape)
    rank = len(source.shape)
    cut = ctx.net.add_slice(pooled, [0] * rank, known if known is not None else [1] * rank, [1] * rank)
    if known is None:
        cut.set_input(2, shape)
    return name_layer(cut, name, "drop_window_in_padding").get_output(0)


for _op in _SPATIAL_DIMS:
    _register(_op)
