"""Windowed layers: Convolution, Deconvolution, Pooling (1-D, 2-D and 3-D spatial)."""

from __future__ import annotations

import math
from typing import Any, List, NamedTuple, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F

from ..._trt import trt
from .common import cached, dims, fail, out_dtype, unsupported, weights_to_tensor
from .dtypes import FLOAT_TYPES

P = trt.PaddingMode
Inputs = List[Optional[torch.Tensor]]

_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
_DECONV = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}
_AVG = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}
_MAX = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}


def _nd(layer: Any, value: Any, n: int, what: str, default: int) -> List[int]:
    values = list(dims(value)) if value is not None else []
    if not values:
        return [default] * n
    if len(values) != n:
        raise fail(layer, f"{what} {values} has {len(values)} dims, the kernel has {n}")
    return values


def _forward_padding(layer: Any, mode: Any, size: Sequence[int], kernel: Sequence[int],
                     stride: Sequence[int], dilation: Sequence[int], pre: Sequence[int],
                     post: Sequence[int]) -> Tuple[List[int], List[int], List[int]]:
    """(pre, post, extra post) padding of each spatial dim for a convolution or pooling window
    (``extra`` is the round-up overhang: windows that start inside the padded input but end past it)."""
    out_pre, out_post, extra = [], [], []
    for i, (n, k, s, d) in enumerate(zip(size, kernel, stride, dilation)):
        dk = 1 + d * (k - 1)
        if mode in (P.SAME_UPPER, P.SAME_LOWER):
            out = -(-n // s)
            total = max(0, (out - 1) * s + dk - n)
            small, large = total // 2, total - total // 2
            a, b = (small, large) if mode == P.SAME_UPPER else (large, small)
            out_pre.append(a), out_post.append(b), extra.append(0)
        elif mode in (P.EXPLICIT_ROUND_DOWN, P.EXPLICIT_ROUND_UP):
            padded = n + pre[i] + post[i]
            if padded < dk:
                raise fail(layer, f"window {dk} larger than the padded input {padded} on spatial dim {i}")
            if mode == P.EXPLICIT_ROUND_DOWN:
                out = (padded - dk) // s + 1
            else:
                out = -(-(padded - dk) // s) + 1
            out_pre.append(pre[i]), out_post.append(post[i])
            extra.append(max(0, (out - 1) * s + dk - padded))
        else:
            raise unsupported(layer, mode, "padding mode")
    return out_pre, out_post, extra


def _pad_arg(pre: Sequence[int], post: Sequence[int]) -> List[int]:
    pads: List[int] = []
    for a, b in zip(reversed(pre), reversed(post)):
        pads.extend([a, b])
    return pads


def _kernel_and_bias(layer: Any, inputs: Inputs, kernel_shape: Sequence[int], out_maps: int):
    kernel_in = inputs[1] if len(inputs) > 1 else None
    bias_in = inputs[2] if len(inputs) > 2 else None
    if kernel_in is not None:
        kernel = kernel_in.float()
    else:
        kernel = cached(layer, "kernel", lambda: weights_to_tensor(layer.kernel).float())
        if kernel is None:
            raise fail(layer, "no kernel weights")
    if kernel.numel() != math.prod(kernel_shape):
        raise fail(layer, f"kernel has {kernel.numel()} values, expected shape {tuple(kernel_shape)}")
    kernel = kernel.reshape(kernel_shape)
    if bias_in is not None:
        bias = bias_in.float().reshape(-1)
    else:
        bias = cached(layer, "bias", lambda: _bias(layer))
    if bias is not None and bias.numel() != out_maps:
        raise fail(layer, f"bias has {bias.numel()} values for {out_maps} output maps")
    return kernel, bias


def _bias(layer: Any) -> Optional[torch.Tensor]:
    bias = weights_to_tensor(layer.bias)
    return None if bias is None else bias.float().reshape(-1)


def _spatial(layer: Any, x: torch.Tensor, n: int) -> None:
    if n not in (2, 3):
        # TensorRT convolutions are 2-D or 3-D (1-D ones are expressed as 2-D with a unit axis)
        raise unsupported(layer, None, f"{n}-D kernels")
    if x.dim() != n + 2:
        raise fail(layer, f"input rank {x.dim()} does not match a {n}-D kernel (expected rank {n + 2})")
    if x.dtype not in FLOAT_TYPES:
        raise unsupported(layer, None, f"{x.dtype} input")


class _ConvGeometry(NamedTuple):
    x: torch.Tensor
    kernel_size: List[int]
    groups: int
    kernel: torch.Tensor
    bias: Optional[torch.Tensor]
    stride: List[int]
    dilation: List[int]
    pre: List[int]
    post: List[int]


def _geometry(layer: Any, inputs: Inputs, transposed: bool) -> _ConvGeometry:
    """What convolution and deconvolution layers share: checked input, groups, weights, strides, paddings."""
    x = inputs[0]
    ks = list(dims(layer.kernel_size_nd))
    n = len(ks)
    _spatial(layer, x, n)
    groups = int(layer.num_groups)
    out_maps = int(layer.num_output_maps)
    c = x.shape[1]
    if c % groups or out_maps % groups:
        raise fail(layer, f"{c} input channels / {out_maps} output maps do not split into {groups} groups")
    # KCRS for convolution; CKRS ([input channels, output maps per group, *kernel]) for deconvolution,
    # which is torch's conv_transpose layout
    layout = [c, out_maps // groups, *ks] if transposed else [out_maps, c // groups, *ks]
    kernel, bias = _kernel_and_bias(layer, inputs, layout, out_maps)
    return _ConvGeometry(
        x, ks, groups, kernel, bias,
        stride=_nd(layer, layer.stride_nd, n, "stride", 1),
        dilation=_nd(layer, layer.dilation_nd, n, "dilation", 1),
        pre=_nd(layer, layer.pre_padding, n, "pre_padding", 0),
        post=_nd(layer, layer.post_padding, n, "post_padding", 0),
    )


def run_convolution(layer: trt.IConvolutionLayer, inputs: Inputs) -> List[torch.Tensor]:
    x, ks, groups, kernel, bias, stride, dilation, pre, post = _geometry(layer, inputs, transposed=False)
    n = len(ks)
    pre, post, extra = _forward_padding(layer, layer.padding_mode, x.shape[2:], ks, stride, dilation, pre, post)
    full_post = [p + e for p, e in zip(post, extra)]
    v = x.float()
    if pre == full_post and min(pre) >= 0:
        # symmetric zero padding: let the convolution pad (saves a copy of the input)
        y = _CONV[n](v, kernel, bias, stride=stride, padding=pre, dilation=dilation, groups=groups)
    else:
        v = F.pad(v, _pad_arg(pre, full_post))
        y = _CONV[n](v, kernel, bias, stride=stride, dilation=dilation, groups=groups)
    return [y.to(out_dtype(layer))]


def run_deconvolution(layer: trt.IDeconvolutionLayer, inputs: Inputs) -> List[torch.Tensor]:
    x, ks, groups, kernel, bias, stride, dilation, pre, post = _geometry(layer, inputs, transposed=True)
    n = len(ks)
    mode = layer.padding_mode
    if mode in (P.SAME_UPPER, P.SAME_LOWER):
        # output = input * stride: the full transposed output is cropped by dk - stride in total
        pre, post = [], []
        for k, s, d in zip(ks, stride, dilation):
            total = max(0, 1 + d * (k - 1) - s)
            small, large = total // 2, total - total // 2
            a, b = (small, large) if mode == P.SAME_UPPER else (large, small)
            pre.append(a), post.append(b)
    elif mode not in (P.EXPLICIT_ROUND_DOWN, P.EXPLICIT_ROUND_UP):
        raise unsupported(layer, mode, "padding mode")
    y = _DECONV[n](x.float(), kernel, None, stride=stride, dilation=dilation, groups=groups)
    # padding crops the full output (negative padding extends it with zeros)
    y = F.pad(y, _pad_arg([-p for p in pre], [-p for p in post]))
    if bias is not None:
        y = y + bias.reshape(1, -1, *([1] * n))
    return [y.to(out_dtype(layer))]


def run_pooling(layer: trt.IPoolingLayer, inputs: Inputs) -> List[torch.Tensor]:
    x = inputs[0]
    kind = trt.IPoolingLayer.type.fget(layer)
    window = list(dims(layer.window_size_nd))
    n = len(window)
    if n not in (1, 2, 3):
        raise unsupported(layer, kind, f"{n}-D pooling windows")
    if x.dim() < n + 1:
        raise fail(layer, f"input rank {x.dim()} too small for a {n}-D window")
    if x.dtype not in FLOAT_TYPES:
        raise unsupported(layer, kind, f"{x.dtype} input")
    stride = _nd(layer, layer.stride_nd, n, "stride", 1)
    pre = _nd(layer, layer.pre_padding, n, "pre_padding", 0)
    post = _nd(layer, layer.post_padding, n, "post_padding", 0)
    spatial = list(x.shape[-n:])
    pre, post, extra = _forward_padding(layer, layer.padding_mode, spatial, window, stride, [1] * n, pre, post)
    lead = list(x.shape[:-n])
    v = x.float().reshape(-1, 1, *spatial)
    full_post = [p + e for p, e in zip(post, extra)]
    pads = _pad_arg(pre, full_post)

    def max_pool() -> torch.Tensor:
        padded = F.pad(v, pads, value=-math.inf)
        return _MAX[n](padded, window, stride)

    def avg_pool() -> torch.Tensor:
        area = math.prod(window)
        total = _AVG[n](F.pad(v, pads, value=0.0), window, stride) * area
        if layer.average_count_excludes_padding:
            ones = torch.ones(1, 1, *spatial)
        else:
            # the padded input (explicit or SAME padding) counts; the round-up overhang does not
            ones = F.pad(torch.ones(1, 1, *spatial), _pad_arg(pre, post), value=1.0)
            ones = F.pad(ones, _pad_arg([0] * n, extra), value=0.0)
            count = _AVG[n](ones, window, stride) * area
            return total / count
        count = _AVG[n](F.pad(ones, pads, value=0.0), window, stride) * area
        return total / count

    if kind == trt.PoolingType.MAX:
        y = max_pool()
    elif kind == trt.PoolingType.AVERAGE:
        y = avg_pool()
    elif kind == trt.PoolingType.MAX_AVERAGE_BLEND:
        blend = float(layer.blend_factor)
        y = (1 - blend) * max_pool() + blend * avg_pool()
    else:
        raise unsupported(layer, kind)
    y = y.reshape(*lead, *y.shape[-n:])
    return [y.to(out_dtype(layer))]


__all__ = ["run_convolution", "run_deconvolution", "run_pooling"]
