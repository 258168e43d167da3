"""Data-movement family: Shuffle, Squeeze, Unsqueeze, Concatenation, Slice, Padding, Shape."""

from __future__ import annotations

import math
from typing import Any, List, Optional, Sequence

import torch
import torch.nn.functional as F

from ..._trt import trt
from .common import dims, fail, out_dtype, scalar_value, shape_values, unsupported

S = trt.SampleMode
Inputs = List[Optional[torch.Tensor]]


def _permutation(layer: Any, perm: Any, rank: int, which: str) -> List[int]:
    values = [int(v) for v in tuple(perm)[:rank]]
    if sorted(values) != list(range(rank)):
        raise fail(layer, f"{which} {values} is not a permutation of rank {rank}")
    return values


def _resolve_reshape(layer: Any, spec: Sequence[int], shape: Sequence[int], zero_is_placeholder: bool
                     ) -> List[int]:
    out = []
    infer = None
    for i, d in enumerate(spec):
        if d == 0 and zero_is_placeholder:
            if i >= len(shape):
                raise fail(layer, f"reshape placeholder 0 at index {i} has no input dimension (input {tuple(shape)})")
            out.append(int(shape[i]))
        elif d == -1:
            if infer is not None:
                raise fail(layer, f"reshape dims {list(spec)} have more than one -1")
            infer = i
            out.append(1)
        elif d < 0:
            raise fail(layer, f"invalid reshape dimension {d} in {list(spec)}")
        else:
            out.append(int(d))
    volume = math.prod(shape)
    if infer is not None:
        known = math.prod(out)
        if known == 0 or volume % known:
            raise fail(layer, f"cannot infer -1 in reshape dims {list(spec)} for input shape {tuple(shape)}")
        out[infer] = volume // known
    if math.prod(out) != volume:
        raise fail(layer, f"reshape {tuple(shape)} -> {tuple(out)} changes the volume")
    return out


def run_shuffle(layer: trt.IShuffleLayer, inputs: Inputs) -> List[torch.Tensor]:
    x = inputs[0]
    x = x.permute(_permutation(layer, layer.first_transpose, x.dim(), "first_transpose"))
    dynamic = inputs[1] if len(inputs) > 1 else None
    if dynamic is not None:
        spec = shape_values(layer, dynamic, "reshape dimensions")
    else:
        static = layer.reshape_dims
        spec = None if static is None else list(dims(static))
    if spec is not None:
        x = x.reshape(_resolve_reshape(layer, spec, x.shape, bool(layer.zero_is_placeholder)))
    x = x.permute(_permutation(layer, layer.second_transpose, x.dim(), "second_transpose"))
    return [x.contiguous().to(out_dtype(layer))]


def _axes(layer: Any, tensor: Optional[torch.Tensor], rank: int) -> List[int]:
    values = shape_values(layer, tensor, "axes")
    axes = [v + rank if v < 0 else v for v in values]
    if any(a < 0 or a >= rank for a in axes) or len(set(axes)) != len(axes):
        raise fail(layer, f"axes {values} are invalid for rank {rank}")
    return axes


def run_squeeze(layer: trt.ISqueezeLayer, inputs: Inputs) -> List[torch.Tensor]:
    x = inputs[0]
    axes = _axes(layer, inputs[1], x.dim())
    for a in axes:
        if x.shape[a] != 1:
            raise fail(layer, f"cannot squeeze axis {a} of size {x.shape[a]} (shape {tuple(x.shape)})")
    shape = [d for i, d in enumerate(x.shape) if i not in axes]
    return [x.reshape(shape).to(out_dtype(layer))]


def run_unsqueeze(layer: trt.IUnsqueezeLayer, inputs: Inputs) -> List[torch.Tensor]:
    x = inputs[0]
    count = inputs[1].numel()
    axes = _axes(layer, inputs[1], x.dim() + count)
    shape = list(x.shape)
    it = iter(shape)
    out = [1 if i in axes else next(it) for i in range(x.dim() + count)]
    return [x.reshape(out).to(out_dtype(layer))]


def run_concatenation(layer: trt.IConcatenationLayer, inputs: Inputs) -> List[torch.Tensor]:
    tensors = [t for t in inputs if t is not None]
    rank = tensors[0].dim()
    axis = int(layer.axis)
    axis = axis + rank if axis < 0 else axis
    if not 0 <= axis < rank:
        raise fail(layer, f"axis {layer.axis} out of range for rank {rank}")
    if len({t.dtype for t in tensors}) != 1:
        raise fail(layer, f"inputs have different data types {[str(t.dtype) for t in tensors]}")
    for t in tensors:
        if t.dim() != rank or any(a != b for i, (a, b) in enumerate(zip(t.shape, tensors[0].shape)) if i != axis):
            raise fail(layer, f"input shapes {[tuple(t.shape) for t in tensors]} differ off axis {axis}")
    return [torch.cat(tensors, dim=axis).to(out_dtype(layer))]


def _slice_params(layer: trt.ISliceLayer, inputs: Inputs, rank: int):
    def pick(index: int, attr: str) -> Optional[List[int]]:
        tensor = inputs[index] if len(inputs) > index else None
        if tensor is not None:
            return shape_values(layer, tensor, attr)
        value = getattr(layer, attr)
        return None if value is None else list(dims(value))

    start, size, stride, axes = pick(1, "start"), pick(2, "shape"), pick(3, "stride"), pick(5, "axes")
    if start is None or size is None or stride is None:
        raise fail(layer, "start, size and stride must all be given (as attributes or inputs)")
    if axes is None:
        if not len(start) == len(size) == len(stride) == rank:
            raise fail(layer, f"start/size/stride lengths {len(start)}/{len(size)}/{len(stride)} != rank {rank}")
        return start, size, stride
    if not len(start) == len(size) == len(stride) == len(axes):
        raise fail(layer, "start/size/stride must have the length of axes")
    axes = [a + rank if a < 0 else a for a in axes]
    if any(a < 0 or a >= rank for a in axes) or len(set(axes)) != len(axes):
        raise fail(layer, f"invalid axes {axes} for rank {rank}")
    full_start, full_size, full_stride = [0] * rank, None, [1] * rank
    full_size = [None] * rank
    for a, s0, n, st in zip(axes, start, size, stride):
        full_start[a], full_size[a], full_stride[a] = s0, n, st
    return full_start, full_size, full_stride


def run_slice(layer: trt.ISliceLayer, inputs: Inputs) -> List[torch.Tensor]:
    x = inputs[0]
    rank = x.dim()
    mode = layer.mode
    if mode not in (S.STRICT_BOUNDS, S.WRAP, S.CLAMP, S.FILL, S.REFLECT):
        raise unsupported(layer, mode)
    start, size, stride = _slice_params(layer, inputs, rank)
    size = [x.shape[i] if n is None else n for i, n in enumerate(size)]
    fill_tensor = inputs[4] if len(inputs) > 4 else None
    if fill_tensor is not None and mode != S.FILL:
        raise fail(layer, "a fill value input is only allowed in FILL mode")
    if any(n < 0 for n in size):
        raise fail(layer, f"negative slice size {size}")
    fill = 0
    if fill_tensor is not None:
        if fill_tensor.dtype != x.dtype:
            raise fail(layer, f"fill value dtype {fill_tensor.dtype} differs from the input's {x.dtype}")
        fill = scalar_value(layer, fill_tensor, "fill value")
    if mode == S.FILL and any(x.shape[d] == 0 and size[d] > 0 for d in range(rank)):
        # every output element reads outside an empty axis
        result = torch.full(size, fill, dtype=x.dtype)
        return [result.to(out_dtype(layer))]
    result = x
    valid = None
    for d in range(rank):
        n, length = size[d], x.shape[d]
        idx = start[d] + torch.arange(n, dtype=torch.int64) * stride[d]
        if n > 0:
            inside = (idx >= 0) & (idx < length)
            if mode == S.STRICT_BOUNDS:
                if not bool(inside.all()):
                    raise fail(
                        layer,
                        f"slice reads out of bounds on axis {d} (start {start[d]}, size {n}, "
                        f"stride {stride[d]}, dim {length})",
                    )
            elif length == 0:
                raise fail(layer, f"{mode}: axis {d} of size 0 must give an output of size 0")
            elif mode == S.WRAP:
                idx = torch.remainder(idx, length)
            elif mode == S.CLAMP:
                idx = idx.clamp(0, length - 1)
            elif mode == S.REFLECT:
                if length == 1:
                    idx = torch.zeros_like(idx)
                else:
                    period = 2 * (length - 1)
                    r = torch.remainder(idx, period)
                    idx = torch.where(r < length, r, period - r)
            else:  # FILL
                idx = idx.clamp(0, length - 1)
                shape = [1] * rank
                shape[d] = n
                mask = inside.reshape(shape)
                valid = mask if valid is None else valid & mask
        result = result.index_select(d, idx)
    if valid is not None:
        result = torch.where(valid, result, torch.full((), fill, dtype=result.dtype))
    return [result.contiguous().to(out_dtype(layer))]


def run_padding(layer: trt.IPaddingLayer, inputs: Inputs) -> List[torch.Tensor]:
    x = inputs[0]
    pre, post = list(dims(layer.pre_padding_nd)), list(dims(layer.post_padding_nd))
    if len(pre) != len(post):
        raise fail(layer, f"pre/post padding ranks differ: {pre}, {post}")
    if len(pre) > x.dim():
        raise fail(layer, f"padding of {len(pre)} dims on a rank-{x.dim()} input")
    pads: List[int] = []
    for a, b in zip(reversed(pre), reversed(post)):
        pads.extend([a, b])
    if x.dtype == torch.bool:
        result = F.pad(x.to(torch.uint8), pads, value=0).to(torch.bool)
    else:
        result = F.pad(x, pads, value=0)
    return [result.contiguous().to(out_dtype(layer))]


def run_shape(layer: trt.IShapeLayer, inputs: Inputs) -> List[torch.Tensor]:
    return [torch.tensor(list(inputs[0].shape), dtype=out_dtype(layer))]


__all__ = [
    "run_shuffle", "run_squeeze", "run_unsqueeze", "run_concatenation", "run_slice", "run_padding",
    "run_shape",
]


def run_reverse_sequence(layer: trt.IReverseSequenceLayer, inputs: Inputs) -> List[torch.Tensor]:
    """For the i-th slice along batch_axis, reverse its first sequence_lens[i] elements along
    sequence_axis; the rest is kept."""
    x, lens = inputs[0], inputs[1]
    rank = x.dim()
    batch_axis, seq_axis = int(layer.batch_axis), int(layer.sequence_axis)
    if not (0 <= batch_axis < rank and 0 <= seq_axis < rank) or batch_axis == seq_axis:
        raise fail(layer, f"batch axis {batch_axis} / sequence axis {seq_axis} invalid for rank {rank}")
    if lens.dtype not in (torch.int32, torch.int64) or lens.dim() != 1 or lens.shape[0] != x.shape[batch_axis]:
        raise fail(layer, f"sequence_lens must be 1-D int of length {x.shape[batch_axis]}, got {lens.dtype} {tuple(lens.shape)}")
    length = x.shape[seq_axis]
    # index along the sequence axis for every (batch, position)
    positions = torch.arange(length).unsqueeze(0).expand(x.shape[batch_axis], length)
    n = lens.long().unsqueeze(1)
    if bool(((n < 0) | (n > length)).any()):
        raise fail(layer, f"sequence lengths {lens.tolist()} outside [0, {length}]")
    source = torch.where(positions < n, n - 1 - positions, positions)  # [batch, seq]
    moved = x.movedim((batch_axis, seq_axis), (0, 1))
    index = source.reshape(*source.shape, *([1] * (moved.dim() - 2))).expand(moved.shape)
    result = torch.gather(moved, 1, index).movedim((0, 1), (batch_axis, seq_axis))
    return [result.contiguous().to(out_dtype(layer))]
