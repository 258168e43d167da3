"""``aten.max_pool2d`` / ``max_pool3d`` / ``avg_pool2d`` / ``avg_pool3d`` with ``ceil_mode=True``, which
torch_tensorrt refuses (its capability validators), so that SqueezeNet's and GoogLeNet's max pools and the average
pools of timm's ResNet-D family, static or dynamic, were left to PyTorch.

TensorRT's ``EXPLICIT_ROUND_UP`` padding mode gives ``ceil((n + 2p - k) / s) + 1`` windows per spatial dim.
PyTorch's ceil mode counts the same windows but drops the last one when it would start at or past ``n + p`` (inside
the right padding): the window count is ``min(ceil((n + 2p - k) / s) + 1, (n + p - 1) // s + 1)``. The dropped
window covers no input element, so slicing TensorRT's output to PyTorch's count is exact. Where the second term can
never be the smaller (``s <= k - p``, e.g. SqueezeNet's ``k=3, s=2, p=0``), no slice is built.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, List, Optional, Sequence

import torch
from torch.fx import Node

from .._hooks import ConverterPriority
from .._trt import trt
from .common import data_tensor, registered
from .errors import fail
from .shape_tensor import as_shape_tensor, constant_value, dim_of, name_layer, python_floordiv, shape_binary, \
    shape_items

aten = torch.ops.aten


@dataclass(frozen=True)
class _Pool:
    """One pooling op: its spatial dims, TensorRT pooling type and where its arguments stand."""

    spatial_dims: int
    kind: str                 #: "MAX" or "AVERAGE" (a ``trt.PoolingType`` name)
    ceil_mode_index: int
    dilation_index: Optional[int] = None             #: max pooling only
    count_include_pad_index: Optional[int] = None    #: average pooling only
    divisor_override_index: Optional[int] = None     #: average pooling only


_POOLS = {
    aten.max_pool2d.default: _Pool(2, "MAX", ceil_mode_index=5, dilation_index=4),
    aten.max_pool3d.default: _Pool(3, "MAX", ceil_mode_index=5, dilation_index=4),
    aten.avg_pool2d.default: _Pool(2, "AVERAGE", ceil_mode_index=4, count_include_pad_index=5,
                                   divisor_override_index=6),
    aten.avg_pool3d.default: _Pool(3, "AVERAGE", ceil_mode_index=4, count_include_pad_index=5,
                                   divisor_override_index=6),
}


def _per_dim(value: Any, n: int, default: Sequence[int]) -> List[int]:
    values = [value] if isinstance(value, int) else list(value or ())
    if not values:
        return list(default)
    return values * n if len(values) == 1 else values


def _at(node_args: Sequence[Any], index: Optional[int], default: Any) -> Any:
    return node_args[index] if index is not None and len(node_args) > index else default


def _arguments(pool: _Pool, node_args: Sequence[Any]) -> tuple:
    """(kernel, stride, padding) as per-dim lists with aten's defaults (stride = kernel), then dilation, ceil_mode,
    count_include_pad and divisor_override."""
    n = pool.spatial_dims
    kernel = _per_dim(node_args[1], n, ())
    stride = _per_dim(_at(node_args, 2, ()), n, kernel)
    padding = _per_dim(_at(node_args, 3, 0), n, [0] * n)
    dilation = _per_dim(_at(node_args, pool.dilation_index, 1), n, [1] * n)
    return (kernel, stride, padding, dilation, bool(_at(node_args, pool.ceil_mode_index, False)),
            bool(_at(node_args, pool.count_include_pad_index, True)), _at(node_args, pool.divisor_override_index, None))


def _ceil_mode_pool(node: Node, settings: Any = None) -> bool:
    """Ceil mode without dilation (TensorRT's pooling layer has none) or a divisor override (nor that), on a batched
    floating-point input."""
    pool = _POOLS[node.target]
    _, _, _, dilation, ceil_mode, _, divisor_override = _arguments(pool, node.args)
    value = node.args[0].meta.get("val") if isinstance(node.args[0], Node) else None
    return ceil_mode and all(d == 1 for d in dilation) and divisor_override is None \
        and isinstance(value, torch.Tensor) and value.dim() == pool.spatial_dims + 2 \
        and value.dtype in (torch.float32, torch.float16, torch.bfloat16)


def convert_ceil_mode_pool(ctx: Any, target: Any, args: Any, kwargs: Any, name: str) -> "trt.ITensor":
    """``max_poolNd(input, kernel_size, stride, padding, dilation, ceil_mode=True)`` /
    ``avg_poolNd(input, kernel_size, stride, padding, ceil_mode=True, count_include_pad)``: a pooling layer with
    ``EXPLICIT_ROUND_UP`` padding, sliced to PyTorch's window count where it can be one less. An average divides by
    the window's overlap with the input (``count_include_pad=False``) or with the padded input (``True``), which is
    what TensorRT's ``average_count_excludes_padding`` selects: the part of a last window hanging past the padded
    input counts in neither, as in PyTorch."""
    pool = _POOLS[target]
    n = pool.spatial_dims
    kernel, stride, padding, _, _, count_include_pad, _ = _arguments(pool, args)
    if len(kernel) != n or len(stride) != n or len(padding) != n:
        raise fail(ctx, target, name, f"kernel {kernel}, stride {stride} and padding {padding} must each give "
                                      f"{n} sizes (or one)")
    if any(2 * p > k for p, k in zip(padding, kernel)):
        raise fail(ctx, target, name, f"padding {padding} must be at most half the kernel {kernel} (as in PyTorch)")
    source = data_tensor(ctx, args[0], name)
    layer = ctx.net.add_pooling_nd(source, getattr(trt.PoolingType, pool.kind), kernel)
    layer.stride_nd = stride
    layer.pre_padding = padding
    layer.post_padding = padding
    layer.padding_mode = trt.PaddingMode.EXPLICIT_ROUND_UP
    if pool.kind == "AVERAGE":
        layer.average_count_excludes_padding = not count_include_pad
    pooled = name_layer(layer, name, f"{pool.kind.lower()}_pool_ceil").get_output(0)

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


for _op in _POOLS:
    registered(_op, capability_validator=_ceil_mode_pool, priority=ConverterPriority.HIGH)(convert_ceil_mode_pool)
