"""Factories whose sizes are runtime shape tensors: full / zeros / ones / new_* / arange / linspace."""

from __future__ import annotations

from typing import Optional

import torch

from ._registry import (
    check_shape_tensor, define, recall_scalar, recall_shape, scalar_value, shape_values, static_length,
    unknown_sizes,
)


def _dims(op: str, shape: torch.Tensor) -> list:
    """Output dims from a shape tensor under fake tensors: its remembered values, else unknown sizes."""
    count = static_length(op, "shape", shape)
    known = recall_shape(shape)
    return known if known is not None else unknown_sizes(count)

_FACTORY_TAIL = "ScalarType? dtype=None, Device? device=None"


def _fill_dtype(fill_value, dtype: Optional[torch.dtype]) -> torch.dtype:
    # torch.full's inference: bool -> bool, int -> int64, float -> default dtype
    if dtype is not None:
        return dtype
    if isinstance(fill_value, bool):
        return torch.bool
    if isinstance(fill_value, int):
        return torch.int64
    if isinstance(fill_value, complex):
        return torch.complex64
    return torch.get_default_dtype()


@define("full_dyn", f"(Tensor shape, Scalar fill_value, {_FACTORY_TAIL}) -> Tensor")
def full_dyn(shape: torch.Tensor, fill_value, dtype: Optional[torch.dtype] = None,
             device: Optional[torch.device] = None) -> torch.Tensor:
    """``full_dyn(Tensor shape, Scalar fill_value, ScalarType? dtype=None, Device? device=None) -> Tensor``:
    ``torch.full(shape, fill_value)``; dtype inferred from ``fill_value`` like ``torch.full`` when None."""
    return torch.full(shape_values("full_dyn", "shape", shape), fill_value,
                      dtype=_fill_dtype(fill_value, dtype), device=device)


@full_dyn.register_fake
def _(shape, fill_value, dtype=None, device=None):
    return torch.empty(_dims("full_dyn", shape), dtype=_fill_dtype(fill_value, dtype), device=device)


@define("full_value_dyn", f"(Tensor shape, Tensor fill_value, {_FACTORY_TAIL}) -> Tensor")
def full_value_dyn(shape: torch.Tensor, fill_value: torch.Tensor, dtype: Optional[torch.dtype] = None,
                   device: Optional[torch.device] = None) -> torch.Tensor:
    """``full_value_dyn(Tensor shape, Tensor fill_value, ScalarType? dtype=None, Device? device=None) -> Tensor``:
    ``torch.full(shape, fill_value)`` whose fill is a 0-d shape value (a size computed at run time, e.g. an
    anchor stride ``image_size // grid_size``); dtype inferred from the fill like ``torch.full`` when None."""
    value = scalar_value("full_value_dyn", "fill_value", fill_value, allow_float=True)
    return torch.full(shape_values("full_value_dyn", "shape", shape), value,
                      dtype=_fill_dtype(value, dtype), device=device)


@full_value_dyn.register_fake
def _(shape, fill_value, dtype=None, device=None):
    check_shape_tensor("full_value_dyn", "fill_value", fill_value, rank=0, allow_float=True)
    inferred = dtype if dtype is not None else (
        torch.int64 if not fill_value.dtype.is_floating_point else torch.get_default_dtype())
    return torch.empty(_dims("full_value_dyn", shape), dtype=inferred, device=device)


@define("zeros_dyn", f"(Tensor shape, {_FACTORY_TAIL}) -> Tensor")
def zeros_dyn(shape: torch.Tensor, dtype: Optional[torch.dtype] = None,
              device: Optional[torch.device] = None) -> torch.Tensor:
    """``zeros_dyn(Tensor shape, ScalarType? dtype=None, Device? device=None) -> Tensor``: ``torch.zeros(shape)``
    (default dtype when None). Also the target of ``empty*`` (contents unspecified there)."""
    return torch.zeros(shape_values("zeros_dyn", "shape", shape), dtype=dtype, device=device)


@define("ones_dyn", f"(Tensor shape, {_FACTORY_TAIL}) -> Tensor")
def ones_dyn(shape: torch.Tensor, dtype: Optional[torch.dtype] = None,
             device: Optional[torch.device] = None) -> torch.Tensor:
    """``ones_dyn(Tensor shape, ScalarType? dtype=None, Device? device=None) -> Tensor``: ``torch.ones(shape)``."""
    return torch.ones(shape_values("ones_dyn", "shape", shape), dtype=dtype, device=device)


def _fake_filled(name):
    def fake(shape, dtype=None, device=None):
        return torch.empty(_dims(name, shape), dtype=dtype, device=device)

    return fake


zeros_dyn.register_fake(_fake_filled("zeros_dyn"))
ones_dyn.register_fake(_fake_filled("ones_dyn"))


@define("new_full_dyn", "(Tensor self, Tensor shape, Scalar fill_value, ScalarType? dtype=None) -> Tensor")
def new_full_dyn(self: torch.Tensor, shape: torch.Tensor, fill_value,
                 dtype: Optional[torch.dtype] = None) -> torch.Tensor:
    """``new_full_dyn(Tensor self, Tensor shape, Scalar fill_value, ScalarType? dtype=None) -> Tensor``:
    ``self.new_full(shape, fill_value)``: dtype (default ``self.dtype``) and device from ``self``."""
    return self.new_full(shape_values("new_full_dyn", "shape", shape), fill_value, dtype=dtype)


@new_full_dyn.register_fake
def _(self, shape, fill_value, dtype=None):
    return self.new_empty(_dims("new_full_dyn", shape), dtype=dtype)


@define("new_zeros_dyn", "(Tensor self, Tensor shape, ScalarType? dtype=None) -> Tensor")
def new_zeros_dyn(self: torch.Tensor, shape: torch.Tensor, dtype: Optional[torch.dtype] = None) -> torch.Tensor:
    """``new_zeros_dyn(Tensor self, Tensor shape, ScalarType? dtype=None) -> Tensor``: ``self.new_zeros(shape)``."""
    return self.new_zeros(shape_values("new_zeros_dyn", "shape", shape), dtype=dtype)


@define("new_ones_dyn", "(Tensor self, Tensor shape, ScalarType? dtype=None) -> Tensor")
def new_ones_dyn(self: torch.Tensor, shape: torch.Tensor, dtype: Optional[torch.dtype] = None) -> torch.Tensor:
    """``new_ones_dyn(Tensor self, Tensor shape, ScalarType? dtype=None) -> Tensor``: ``self.new_ones(shape)``."""
    return self.new_ones(shape_values("new_ones_dyn", "shape", shape), dtype=dtype)


def _fake_new(name):
    def fake(self, shape, dtype=None):
        return self.new_empty(_dims(name, shape), dtype=dtype)

    return fake


new_zeros_dyn.register_fake(_fake_new("new_zeros_dyn"))
new_ones_dyn.register_fake(_fake_new("new_ones_dyn"))


def _number(op: str, arg: str, value: torch.Tensor):
    return scalar_value(op, arg, value, allow_float=True)


def _arange_dtype(start, end, step, dtype):
    if dtype is not None:
        return dtype
    if any(t.dtype.is_floating_point for t in (start, end, step)):
        return torch.get_default_dtype()
    return torch.int64


@define("arange_dyn", f"(Tensor start, Tensor end, Tensor step, {_FACTORY_TAIL}) -> Tensor")
def arange_dyn(start: torch.Tensor, end: torch.Tensor, step: torch.Tensor,
               dtype: Optional[torch.dtype] = None, device: Optional[torch.device] = None) -> torch.Tensor:
    """``arange_dyn(Tensor start, Tensor end, Tensor step, ScalarType? dtype=None, Device? device=None) -> Tensor``:
    ``torch.arange(start, end, step)`` from 0-d tensors; length ``ceil((end - start) / step)``; dtype int64 when
    all three are integer tensors, else the default float dtype."""
    values = [_number("arange_dyn", n, t) for n, t in (("start", start), ("end", end), ("step", step))]
    return torch.arange(*values, dtype=_arange_dtype(start, end, step, dtype), device=device)


@arange_dyn.register_fake
def _(start, end, step, dtype=None, device=None):
    for name, value in (("start", start), ("end", end), ("step", step)):
        check_shape_tensor("arange_dyn", name, value, rank=0, allow_float=True)
    dtype = _arange_dtype(start, end, step, dtype)
    known = [recall_scalar(t) for t in (start, end, step)]
    if all(isinstance(k, (int, torch.SymInt)) for k in known):
        begin, stop, stride = known
        length = torch.sym_max(0, -((begin - stop) // stride))  # ceil((stop - begin) / stride), exact
        return torch.empty((length,), dtype=dtype, device=device)
    return torch.empty(unknown_sizes(1), dtype=dtype, device=device)


@define("linspace_dyn", f"(Tensor start, Tensor end, Tensor steps, {_FACTORY_TAIL}) -> Tensor")
def linspace_dyn(start: torch.Tensor, end: torch.Tensor, steps: torch.Tensor,
                 dtype: Optional[torch.dtype] = None, device: Optional[torch.device] = None) -> torch.Tensor:
    """``linspace_dyn(Tensor start, Tensor end, Tensor steps, ScalarType? dtype=None, Device? device=None) -> Tensor``:
    ``torch.linspace(start, end, steps)``; ``start``/``end`` 0-d numbers, ``steps`` a 0-d int64 tensor."""
    return torch.linspace(_number("linspace_dyn", "start", start), _number("linspace_dyn", "end", end),
                          int(scalar_value("linspace_dyn", "steps", steps)), dtype=dtype, device=device)


@linspace_dyn.register_fake
def _(start, end, steps, dtype=None, device=None):
    check_shape_tensor("linspace_dyn", "start", start, rank=0, allow_float=True)
    check_shape_tensor("linspace_dyn", "end", end, rank=0, allow_float=True)
    check_shape_tensor("linspace_dyn", "steps", steps, rank=0)
    known = recall_scalar(steps)
    length = known if known is not None else unknown_sizes(1)[0]
    return torch.empty((length,), dtype=dtype or torch.get_default_dtype(), device=device)
