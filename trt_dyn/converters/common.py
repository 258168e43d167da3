"""Plumbing shared by the trt_dyn converters: registration, argument access, output dtype."""

from __future__ import annotations

import functools
from typing import Any, Callable, Optional

import torch

from .._hooks import ConverterPriority, converter_decorator, converting_node, get_trt_tensor
from .._trt import TORCH_TO_TRT, TRT_TO_TORCH, trt
from ..lowering.toolbox import argument as arg  # converters say arg(args, kwargs, 1, "dim")
from .errors import ConverterError, fail
from .shape_tensor import _layer_ids, as_shape_tensor, cast, host_read, host_tensor, reuse



def registered(op: Any, **options: Any) -> Callable[[Callable], Callable]:
    """Register the decorated function as torch_tensorrt's converter of ``op`` (dynamic shapes supported;
    ``options``: the registry's ``priority``, ``capability_validator``, ``requires_output_allocator``).

    Every converter of this package is registered here, so every error it raises names the op, the node and the
    user's source line: one that is not already a :class:`ConverterError` (a helper's ShapeValueError, a TensorRT
    API refusal) becomes one, the original kept as its cause.
    """

    def register(converter: Callable) -> Callable:
        @functools.wraps(converter)
        def convert(ctx: Any, target: Any, args: Any, kwargs: Any, name: str) -> Any:
            try:
                return converter(ctx, target, args, kwargs, name)
            except ConverterError:
                raise
            except Exception as err:  # noqa: BLE001  (re-raised with the node's op, name and source line)
                raise fail(ctx, target, name, f"{type(err).__name__}: {err}") from err

        return converter_decorator(op, supports_dynamic_shapes=True, **options)(convert)

    return register


def converts(op_name: str) -> Callable[[Callable], Callable]:
    """Register the decorated function as the converter of ``torch.ops.trt_dyn.<op_name>.default`` (see
    :func:`registered`), at HIGH priority so that no generic converter (e.g. one keyed on a packet) shadows it."""
    return registered(getattr(torch.ops.trt_dyn, op_name).default, priority=ConverterPriority.HIGH)


def host_int(value: Any) -> Optional[int]:
    """The int a converter argument holds when it is known while building (a Python int or a 0-d integer host
    tensor: ``const_scalar``'s value, a frozen ``get_attr``), else None. A converter that folds a known operand
    reads it here instead of freezing it into a constant layer first, which the fold would leave unread."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, torch.Tensor) and value.dim() == 0 and not value.dtype.is_floating_point \
            and value.dtype != torch.bool:
        return int(host_read(value, lambda v: v.item()))
    return None


def data_tensor(ctx: Any, value: Any, name: str) -> "trt.ITensor":
    """A data input as an ITensor (frozen constants become constant layers)."""
    if isinstance(value, trt.ITensor):
        return value
    return get_trt_tensor(ctx, value, f"{name}/input#{next(_layer_ids)}", min_rank=0)


def trt_dtype(ctx: Any, target: Any, name: str, dtype: torch.dtype) -> "trt.DataType":
    """The TensorRT type of a torch dtype, or a clear error for types TensorRT lacks."""
    if dtype not in TORCH_TO_TRT:
        raise fail(ctx, target, name, f"dtype {dtype} has no TensorRT equivalent")
    return TORCH_TO_TRT[dtype]


def output_dtype(ctx: Any, target: Any, name: str, fallback: Optional[torch.dtype] = None) -> torch.dtype:
    """dtype of the node's (first) output as traced: the op's own dtype inference, no guessing."""
    node = converting_node(ctx)
    value = node.meta.get("val") if node is not None else None
    if isinstance(value, (list, tuple)) and value:
        value = value[0]
    if isinstance(value, torch.Tensor):
        return value.dtype
    if fallback is not None:
        return fallback
    raise fail(ctx, target, name, "the node carries no traced output dtype (meta['val'])")


def cast_to(ctx: Any, tensor: "trt.ITensor", dtype: "trt.DataType", name: str) -> "trt.ITensor":
    """``tensor`` as ``dtype`` (no layer when it already is)."""
    return cast(ctx, tensor, dtype, name)


def typed_constant(ctx: Any, value: Any, dtype: "trt.DataType", name: str, rank: int = 0) -> "trt.ITensor":
    """A constant ``value`` of TensorRT type ``dtype`` with ``rank`` dims of size 1."""
    torch_dtype = TRT_TO_TORCH[dtype]
    tensor = host_tensor(value, torch_dtype, [1] * rank)
    key = ("typed constant", dtype, rank, host_read(tensor, lambda t: t.numpy().tobytes()))
    return reuse(ctx, key, lambda: get_trt_tensor(ctx, tensor, f"{name}/value#{next(_layer_ids)}", min_rank=rank))


__all__ = [
    "arg",
    "cast_to",
    "converts",
    "data_tensor",
    "output_dtype",
    "registered",
    "trt_dtype",
    "typed_constant",
]


def shape_arg(ctx: Any, target: Any, name: str, value: Any, what: str) -> "trt.ITensor":
    """A shape argument as a 1-d int64 shape ITensor of static length; a clear error naming the op otherwise."""
    shape = as_shape_tensor(ctx, value, f"{name}/{what}")
    if len(shape.shape) != 1 or shape.shape[0] < 0:
        raise fail(ctx, target, name, f"'{what}' must be a 1-d shape of static length, got {tuple(shape.shape)}")
    return shape
