"""Helpers shared by the layer executors: declared output types, weights, shape tensors, caching."""

from __future__ import annotations

import contextvars
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from ..._trt import trt
from .dtypes import TRT_TO_TORCH, to_torch_dtype
from .errors import LayerExecutionError, UnsupportedLayerError

#: the running executor's (cache, id(layer) -> layer index), set by NetworkExecutor while it runs
_CACHE: contextvars.ContextVar[Optional[Tuple[Dict[Any, Any], Dict[int, int]]]] = contextvars.ContextVar(
    "trt_dyn_executor_cache", default=None
)


def cached(layer: Any, key: str, compute: Callable[[], Any]) -> Any:
    """``compute()`` once per (layer, key) for the life of the running executor (weights, kernels).

    Outside an executor (an executor function called directly) nothing is cached.
    """
    current = _CACHE.get()
    if current is None or id(layer) not in current[1]:
        return compute()
    cache, index_of = current
    full_key = (index_of[id(layer)], key)
    if full_key not in cache:
        cache[full_key] = compute()
    return cache[full_key]


def out_dtype(layer: Any, index: int = 0) -> torch.dtype:
    """The torch dtype TensorRT declares for ``layer``'s output ``index`` (strongly typed networks)."""
    return to_torch_dtype(layer.get_output(index).dtype)


def layer_type(layer: Any) -> Any:
    """The ``trt.LayerType`` of ``layer`` (IActivationLayer.type and IPoolingLayer.type shadow it)."""
    return trt.ILayer.type.fget(layer)


def unsupported(layer: Any, mode: Any = None, detail: str = "") -> UnsupportedLayerError:
    return UnsupportedLayerError(layer_type(layer), mode, layer.name, detail)


def fail(layer: Any, message: str) -> LayerExecutionError:
    return LayerExecutionError(layer, message)


_TRT_ITEM_BYTES = {
    trt.DataType.FLOAT: 4, trt.DataType.HALF: 2, trt.DataType.BF16: 2, trt.DataType.INT32: 4,
    trt.DataType.INT64: 8, trt.DataType.INT8: 1, trt.DataType.UINT8: 1, trt.DataType.BOOL: 1,
}


def _raw_weights(weights: Any) -> torch.Tensor:
    """Copy the values of a ``trt.Weights`` the bindings cannot turn into numpy (bfloat16).

    The pybind11 instance holds a pointer to the C++ ``nvinfer1::Weights`` ({DataType type;
    void const* values; int64_t count;}); every field read is checked against what the bindings
    report (type, count) before any memory is copied.
    """
    import ctypes

    dtype = weights.dtype
    if dtype not in _TRT_ITEM_BYTES or dtype not in TRT_TO_TORCH:
        raise TypeError(f"weights of type {dtype} cannot be read")
    count = int(weights.size)
    holder = ctypes.c_void_p.from_address(id(weights) + 2 * ctypes.sizeof(ctypes.c_void_p)).value
    if not holder:
        raise TypeError("cannot locate the weights' C++ object")
    type_value = ctypes.c_int32.from_address(holder).value
    values = ctypes.c_void_p.from_address(holder + 8).value
    stored_count = ctypes.c_int64.from_address(holder + 16).value
    if type_value != int(dtype) or stored_count != count or (count and not values):
        raise TypeError(f"unexpected layout while reading {dtype} weights")
    nbytes = count * _TRT_ITEM_BYTES[dtype]
    if int(weights.nbytes) != nbytes:
        raise TypeError(f"weights report {weights.nbytes} bytes, expected {nbytes}")
    raw = bytearray(ctypes.string_at(values, nbytes)) if nbytes else bytearray()
    return torch.frombuffer(raw, dtype=TRT_TO_TORCH[dtype]) if nbytes else torch.empty(0, dtype=TRT_TO_TORCH[dtype])


def weights_to_tensor(weights: Any, shape: Optional[Sequence[int]] = None,
                      dtype: Any = None) -> Optional[torch.Tensor]:
    """A torch copy of TensorRT weights (``trt.Weights`` or the numpy array the bindings return).

    Returns None for empty weights. ``dtype`` is the TensorRT type when only a numpy array is given.
    """
    if weights is None:
        return None
    if isinstance(weights, trt.Weights):
        if weights.size == 0:
            return None
        array = weights.numpy()
        trt_type = weights.dtype
        if not isinstance(array, np.ndarray):  # bfloat16: numpy has no such type
            tensor = _raw_weights(weights)
            return tensor.reshape(tuple(int(d) for d in shape)) if shape is not None else tensor
    else:
        array = np.asarray(weights)
        trt_type = dtype
        if array.size == 0:
            return None
    tensor = torch.from_numpy(np.array(array, copy=True))
    if trt_type is not None and trt_type in TRT_TO_TORCH:
        want = TRT_TO_TORCH[trt_type]
        if tensor.dtype != want:
            if tensor.element_size() == torch.empty((), dtype=want).element_size():
                tensor = tensor.view(want)
            else:
                raise TypeError(f"weights stored as {tensor.dtype} for TensorRT type {trt_type}")
    if shape is not None:
        tensor = tensor.reshape(tuple(int(d) for d in shape))
    return tensor


def dims(value: Any) -> Tuple[int, ...]:
    """A TensorRT Dims (or any int sequence) as a tuple of ints."""
    return tuple(int(v) for v in value)


def shape_values(layer: Any, tensor: Optional[torch.Tensor], what: str) -> List[int]:
    """A 1-D shape-tensor input (start, size, reshape dims, ...) as a list of Python ints."""
    if tensor is None:
        raise fail(layer, f"missing shape input '{what}'")
    if tensor.dtype not in (torch.int32, torch.int64):
        raise fail(layer, f"shape input '{what}' must be int32/int64, got {tensor.dtype}")
    if tensor.dim() != 1:
        raise fail(layer, f"shape input '{what}' must be 1-D, got shape {tuple(tensor.shape)}")
    return [int(v) for v in tensor.tolist()]


def scalar_value(layer: Any, tensor: Optional[torch.Tensor], what: str) -> Any:
    if tensor is None:
        raise fail(layer, f"missing scalar input '{what}'")
    if tensor.numel() != 1:
        raise fail(layer, f"input '{what}' must hold one value, got shape {tuple(tensor.shape)}")
    return tensor.reshape(()).item()


def axes_from_mask(mask: int, rank: int) -> List[int]:
    return [axis for axis in range(rank) if (int(mask) >> axis) & 1]


def broadcast_shapes(layer: Any, *shapes: Sequence[int]) -> Tuple[int, ...]:
    """TensorRT broadcasting: equal ranks, each dim equal or 1 (no implicit rank extension)."""
    ranks = {len(s) for s in shapes}
    if len(ranks) != 1:
        raise fail(layer, f"broadcast operands must have equal ranks, got shapes {[tuple(s) for s in shapes]}")
    result = []
    for axis_dims in zip(*shapes):
        others = {d for d in axis_dims if d != 1}
        if len(others) > 1:
            raise fail(layer, f"shapes {[tuple(s) for s in shapes]} are not broadcast-compatible")
        result.append(others.pop() if others else 1)
    return tuple(result)


__all__ = [
    "cached", "out_dtype", "layer_type", "unsupported", "fail", "weights_to_tensor", "dims", "shape_values",
    "scalar_value", "axes_from_mask", "broadcast_shapes",
]
