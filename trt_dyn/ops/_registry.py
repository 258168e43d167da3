"""Shared plumbing for the ``trt_dyn`` op library: registration, shape-tensor checks, fake helpers.

Every op is a ``torch.library.custom_op`` in namespace ``trt_dyn`` with an explicit schema, so the
``int`` arguments that remain are static by construction and every runtime shape value is an int64
(or, for ``sym_float`` results, float32) tensor: 0-d for a scalar, 1-d for a shape.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Sequence, Set

import torch
from torch._subclasses.fake_tensor import FakeTensor
from torch.utils._mode_utils import no_dispatch
from torch.utils.weak import WeakIdKeyDictionary

NAMESPACE = "trt_dyn"

#: op name (without namespace) -> default OpOverload, filled as op modules are imported
ALL_OPS: Dict[str, torch._ops.OpOverload] = {}
#: op name -> the Python function ``define()`` registered: its docstring (``schema``: semantics) and module
#: (the op family) are what tools/op_tables.py writes into docs/dyn_ir.md
DEFINITIONS: Dict[str, Callable] = {}
#: ops defined with ``cpp_kernel=False``: no kernel in the C++ op library (csrc/), Python only
PYTHON_ONLY_OPS: Set[str] = set()

INT_DTYPES = (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8)
SHAPE_DTYPE = torch.int64
#: dtype of a shape value that went through ``sym_float`` / ``truediv``
FLOAT_SHAPE_DTYPE = torch.float32


def define(name: str, schema: str, *, cpp_kernel: bool = True) -> Callable:
    """Decorator: register ``fn`` as ``trt_dyn::name`` with ``schema`` and record it in ALL_OPS.

    ``cpp_kernel`` says whether the C++ op library (csrc/, ``libtrt_dyn_ops.so``) defines the op too.
    tests/test_cpp_ops.py holds both sides to it (same schema, same results); a new op may start
    Python-only with ``cpp_kernel=False``, and :func:`trt_dyn.aot.compile_to_file` then warns when a saved
    program keeps it in PyTorch (loading that program needs trt_dyn's Python package).
    """

    def wrap(fn: Callable) -> "torch._library.custom_ops.CustomOpDef":
        op = torch.library.custom_op(f"{NAMESPACE}::{name}", fn, mutates_args=(), schema=schema)
        ALL_OPS[name] = getattr(getattr(torch.ops, NAMESPACE), name).default
        DEFINITIONS[name] = fn
        if not cpp_kernel:
            PYTHON_ONLY_OPS.add(name)
        return op

    if name in ALL_OPS:
        raise ValueError(f"{NAMESPACE}::{name} is already defined (trt_dyn/ops/ defines each op once)")
    return wrap


def cpp_kernel_ops() -> Set[str]:
    """Names of the ops the C++ op library defines (every op not declared ``cpp_kernel=False``)."""
    return set(ALL_OPS) - PYTHON_ONLY_OPS


def check_shape_tensor(op: str, arg: str, value: torch.Tensor, rank: Optional[int] = None,
                       allow_float: bool = False) -> None:
    """Raise a clear TypeError unless ``value`` is a 0-d / 1-d integer (or float if allowed) tensor."""
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"trt_dyn::{op}: argument '{arg}' must be a shape Tensor, got {type(value).__name__}")
    allowed = INT_DTYPES + ((torch.float32, torch.float64) if allow_float else ())
    if value.dtype not in allowed:
        raise TypeError(f"trt_dyn::{op}: argument '{arg}' must be an integer shape tensor, got dtype {value.dtype}")
    ranks = (0, 1) if rank is None else (rank,)
    if value.dim() not in ranks:
        raise ValueError(
            f"trt_dyn::{op}: argument '{arg}' must be a {' or '.join(f'{r}-d' for r in ranks)} tensor, "
            f"got shape {tuple(value.shape)}"
        )


def shape_values(op: str, arg: str, value: torch.Tensor) -> List[int]:
    """Python ints held by a 1-d integer shape tensor (eager only)."""
    check_shape_tensor(op, arg, value, rank=1)
    return [int(v) for v in value.tolist()]


def scalar_value(op: str, arg: str, value: torch.Tensor, allow_float: bool = False):
    """The Python number held by a 0-d shape tensor (eager only)."""
    check_shape_tensor(op, arg, value, rank=0, allow_float=allow_float)
    return value.item()


def static_length(op: str, arg: str, value: torch.Tensor) -> int:
    """Length of a 1-d shape tensor; it must be static (the rank of what it describes)."""
    check_shape_tensor(op, arg, value, rank=1)
    length = value.shape[0]
    if not isinstance(length, int):
        raise ValueError(f"trt_dyn::{op}: the length of '{arg}' must be static, got {length}")
    return length


# Under fake tensors a shape tensor's values are unknown to torch, but the fake kernels of the shape
# producers know them symbolically (``sym_size_dyn(x, 2)`` is ``x.shape[2]``). They are remembered here,
# per fake tensor, so consumers produce precise symbolic output shapes instead of fresh unbacked sizes.
_SYMBOLIC_VALUES: "WeakIdKeyDictionary" = WeakIdKeyDictionary()


def remember(fake: torch.Tensor, value: Any) -> torch.Tensor:
    """Record the (symbolic) value of a fake shape tensor: a number for 0-d, a tuple for 1-d."""
    if isinstance(fake, FakeTensor) and value is not None:
        _SYMBOLIC_VALUES[fake] = tuple(value) if isinstance(value, (list, tuple)) else value
    return fake


def recall(value: torch.Tensor) -> Any:
    """The remembered symbolic value of a fake shape tensor, or None."""
    if isinstance(value, FakeTensor):
        return _SYMBOLIC_VALUES.get(value)
    return None


def recall_shape(value: torch.Tensor) -> Optional[List[Any]]:
    known = recall(value)
    if known is None or not isinstance(known, tuple):
        return None
    return list(known)


def recall_scalar(value: torch.Tensor) -> Any:
    known = recall(value)
    return None if isinstance(known, tuple) else known


def unknown_sizes(count: int) -> List[torch.SymInt]:
    """Fresh unbacked sizes for ``count`` output dims whose values live in a shape tensor."""
    ctx = torch.library.get_ctx()
    return [ctx.new_dynamic_size() for _ in range(count)]


def fake_shape_dims(op: str, arg: str, shape: torch.Tensor) -> List:
    """Output dims described by a 1-d shape tensor under fake tensors (its values are unknown)."""
    return unknown_sizes(static_length(op, arg, shape))


#: the FakeTensorMode a caller running a shape producer's fake kernel directly (outside the mode) makes fakes for
_DIRECT_FAKE_MODE: Optional[Any] = None


def run_fake_kernel_directly(mode: Any, kernel: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``kernel(*args, **kwargs)`` with :func:`new_shape_tensor` making fakes of ``mode`` without entering it.

    For a shape producer's fake kernel, whose only factory is :func:`new_shape_tensor` (its other reads are of its
    fake arguments' shapes and dtypes): entering and leaving a FakeTensorMode costs more than the kernel itself, and
    the dyn lowering pass runs one kernel per shape-tensor node it creates."""
    global _DIRECT_FAKE_MODE
    previous, _DIRECT_FAKE_MODE = _DIRECT_FAKE_MODE, mode
    try:
        return kernel(*args, **kwargs)
    finally:
        _DIRECT_FAKE_MODE = previous


def new_shape_tensor(shape: Sequence[int], dtype: torch.dtype = SHAPE_DTYPE) -> torch.Tensor:
    """``torch.empty(shape, dtype=dtype)`` for a shape producer's fake kernel. Under a FakeTensorMode (or
    :func:`run_fake_kernel_directly`) the fake tensor is made directly from a meta tensor, as the mode's own
    ``aten.empty`` does: its dispatch route cost about 7x more and was the dyn lowering pass's main cost (one per
    new shape-tensor node)."""
    mode = _DIRECT_FAKE_MODE or torch._C._get_dispatch_mode(torch._C._TorchDispatchModeKey.FAKE)
    if mode is None or not all(type(size) is int for size in shape):
        return torch.empty(shape, dtype=dtype)
    with no_dispatch():
        meta = torch.empty(shape, dtype=dtype, device="meta")
    return FakeTensor(mode, meta, torch.device("cpu"))


def cpu_scalar(value, dtype: torch.dtype = SHAPE_DTYPE) -> torch.Tensor:
    return torch.tensor(value, dtype=dtype)


def fake_scalar(like: torch.Tensor, dtype: torch.dtype = SHAPE_DTYPE) -> torch.Tensor:
    return like.new_empty((), dtype=dtype, device="cpu")


def fake_vector(like: torch.Tensor, length, dtype: torch.dtype = SHAPE_DTYPE) -> torch.Tensor:
    return like.new_empty((length,), dtype=dtype, device="cpu")


def as_tuple(values: Sequence) -> tuple:
    return tuple(values)
