"""Shape tensors for converters: freeze Python ints and ITensors into one 1-d int64 ITensor.

Every ``trt_dyn::*_dyn`` op carries sizes as int64 tensors, so in a TensorRT network a shape is an
int64 *shape tensor*: computed at run time from ``IShapeLayer`` outputs, never unwrapped into Python
ints. The helpers here are the one place that decides how such tensors are made and combined.

Conventions (stable API, used by every converter in this package and by other engineers):

* A **shape** is a 1-d int64 ITensor (``[n]``). A **scalar size** is a 0-d int64 ITensor.
* ``value`` arguments accept, freely mixed: Python ``int`` / ``bool`` (not ``float``), ``torch.Tensor``
  or ``numpy`` integer arrays of rank 0 or 1 (frozen ``get_attr`` constants), and integer ITensors of
  rank 0 or 1 (int32 ITensors, e.g. from torch_tensorrt's ``sym_size`` converter, are cast to int64).
* ``name`` is the FX node name (plus a suffix); every layer added is named after it.

Both TensorRT flavours accept int64 shape tensors for ``IShuffleLayer`` reshape dims,
``ISliceLayer`` start/size/stride, ``IFillLayer`` dims, ``IResizeLayer`` output shape and
elementwise/gather/concatenation, which is all these helpers use.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from .._trt import trt

_layer_ids = itertools.count()

ShapeLike = Union[int, Sequence[Any], torch.Tensor, np.ndarray, "trt.ITensor"]

_INTEGER_TRT = (trt.int32, trt.int64, trt.int8) if hasattr(trt, "int8") else (trt.int32, trt.int64)


class ShapeValueError(TypeError):
    """A value cannot be used as a shape: wrong type, rank or dtype. Names the offending value."""


def _memo(ctx: Any) -> Dict[Any, Any]:
    """The memo of the shape layers the helpers below added to ``ctx.net``: one shape layer per tensor, one
    constant per value, one cast / reshape / gather per source. Kept on ``ctx`` and tied to its network, so
    nothing is reused across networks; keys hold the source ITensors, so their Python wrappers (whose ids
    hash them) live as long as the memo. A ``ctx`` that takes no attributes gets no reuse."""
    memo = getattr(ctx, "_trt_dyn_shape_memo", None)
    if memo is None or memo[0] is not ctx.net:
        memo = (ctx.net, {})
        try:
            ctx._trt_dyn_shape_memo = memo
        except AttributeError:
            return {}
    return memo[1]


def reuse(ctx: Any, key: Any, make: Callable[[], "trt.ITensor"]) -> "trt.ITensor":
    """``make()``'s tensor, made once per network and ``key`` (a tuple of ITensors and hashable values)."""
    memo = _memo(ctx)
    found = memo.get(key)
    if found is None:
        found = memo[key] = make()
    return found


def constant_value(ctx: Any, tensor: "trt.ITensor") -> Optional[List[int]]:
    """The values of an int64 constant made by :func:`int64_constant` on this network (flattened), else None."""
    return _memo(ctx).get(("int64 value", tensor))


@dataclass(frozen=True)
class Element:
    """Entry ``index`` of the 1-d int64 shape value ``value``: what a :func:`concat_shapes` result records for each
    of its entries, so that the part holding an entry is known (:func:`gather_dims` reads a one-entry part back
    without a layer) and which size it is follows from the part's own entries (:func:`entries`)."""

    value: "trt.ITensor"
    index: int


#: one entry of a shape value known while building: an int, ``(data tensor, dim)`` for a size read at run time, or
#: an :class:`Element` of a value computed at run time (``n // 2``) whose size is known only as that value's entry
Entry = Union[int, Tuple["trt.ITensor", int], Element]


def entries(ctx: Any, tensor: "trt.ITensor") -> Optional[Tuple[Entry, ...]]:
    """Which size each entry of a shape value (flattened; one entry for 0-d) is, when this network's helpers made it
    from constants and shapes (through gathers, slices, reshapes, casts and concatenations); else None."""
    known = constant_value(ctx, tensor)
    if known is not None:
        return tuple(known)
    recorded = _memo(ctx).get(("entries", tensor))
    return None if recorded is None else tuple(_resolved(ctx, entry) for entry in recorded)


def _resolved(ctx: Any, entry: Entry) -> Entry:
    """The size an element of a concatenated part is, when that part's entries are known."""
    if not isinstance(entry, Element):
        return entry
    known = entries(ctx, entry.value)
    return entry if known is None else known[entry.index]


def _static_entries(tensor: "trt.ITensor") -> Tuple[Entry, ...]:
    """The entries of ``tensor``'s shape as :func:`shape_of` would read it, known without adding a layer."""
    return tuple(int(size) if size >= 0 else (tensor, dim) for dim, size in enumerate(tensor.shape))


def _with_entries(ctx: Any, tensor: "trt.ITensor", known: Optional[Sequence[Entry]]) -> "trt.ITensor":
    if known is not None and constant_value(ctx, tensor) is None:
        _memo(ctx)[("entries", tensor)] = tuple(known)
    return tensor


def _rebuilt_shape(ctx: Any, known: Optional[Sequence[Entry]], name: str) -> Optional["trt.ITensor"]:
    """The shape of the one tensor whose sizes ``known`` are, all of them in order, else None: parts that put a
    shape back together (its static sizes as constants, its dynamic ones read from it) are that shape."""
    if not known:
        return None
    sources = {id(entry[0]): entry[0] for entry in known if isinstance(entry, tuple)}
    if len(sources) != 1:
        return None
    (tensor,) = sources.values()
    if _static_entries(tensor) != tuple(known):
        return None
    return shape_of(ctx, tensor, name)


def lower_bound(ctx: Any, value: Any) -> Optional[int]:
    """A lower bound of every entry of a size value, known while building: Python ints and this network's
    constants are their own; sizes read from shapes are >= 0, and the bound follows them through gathers,
    reshapes, casts, concatenations and ``add mul max min floordiv``. None when nothing is known."""
    return _known_bound(ctx, value, min, "lower bound")


def upper_bound(ctx: Any, value: Any) -> Optional[int]:
    """An upper bound of every entry of a size value, known while building: Python ints and this network's
    constants are their own; the dims of a graph input are at most the largest its optimization profiles allow
    (TensorRT refuses larger input shapes), and the bound follows them as :func:`lower_bound` does (through
    ``add sub mul max min floordiv`` too). None when nothing is known."""
    return _known_bound(ctx, value, max, "upper bound")


def _known_bound(ctx: Any, value: Any, extreme: Callable[[List[int]], int], kind: str) -> Optional[int]:
    if _is_int(value):
        return int(value)
    if not isinstance(value, trt.ITensor):
        return None
    known = constant_value(ctx, value)
    if known is not None:
        return extreme(known) if known else None
    return _memo(ctx).get((kind, value))


def _bounded(ctx: Any, tensor: "trt.ITensor", bound: Optional[int], upper: Optional[int] = None) -> "trt.ITensor":
    if constant_value(ctx, tensor) is None:
        if bound is not None:
            _memo(ctx)[("lower bound", tensor)] = bound
        if upper is not None:
            _memo(ctx)[("upper bound", tensor)] = upper
    return tensor


def _bounded_as(ctx: Any, tensor: "trt.ITensor", source: "trt.ITensor") -> "trt.ITensor":
    """``tensor`` holds entries of ``source`` (a reshape, cast or gather of it): the same bounds."""
    return _bounded(ctx, tensor, lower_bound(ctx, source), upper_bound(ctx, source))


def record_input_range(interpreter: Any, node: Any, tensor: Any) -> None:
    """Placeholder callback: the smallest and largest size any dim of a dynamic graph input may take, read from the
    interpreter's optimization profiles, for :func:`shape_of` to bound that input's shape with."""
    ctx = getattr(interpreter, "ctx", None)
    profiles = getattr(interpreter, "optimization_profiles", None)
    if ctx is None or not profiles or not isinstance(tensor, trt.ITensor) or tensor.is_shape_tensor:
        return
    rank = len(tensor.shape)
    if rank == 0 or all(size >= 0 for size in tensor.shape):
        return
    lows, highs = [], []
    for profile in profiles:
        shapes = profile.get_shape(tensor.name)
        if len(shapes) != 3 or any(len(shape) != rank for shape in shapes):
            return  # not set on every profile: nothing is known
        lows.append(min(shapes[0]))
        highs.append(max(shapes[2]))
    _memo(ctx)[("input range", tensor)] = (max(0, min(lows)), max(highs))


def name_layer(layer: "trt.ILayer", name: str, what: str) -> "trt.ILayer":
    """Give ``layer`` a unique, readable name: ``<node>/<what>#<n>``; returns the layer."""
    layer.name = f"{name}/{what}#{next(_layer_ids)}"
    return layer


def pin_float32(ctx: Any, layer: "trt.ILayer") -> "trt.ILayer":
    """Keep a float32 index/weight computation in float32 on weakly typed networks.

    Strongly typed networks (always the case on TensorRT-RTX) already compute in the declared
    types; a weakly typed one built with fp16 enabled could otherwise pick fp16 for coordinate
    arithmetic and read the wrong pixels.
    """
    flag = trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED
    if ctx.net.get_flag(flag):
        return layer
    for index in range(layer.num_outputs):
        if layer.get_output(index).dtype == trt.float32:
            layer.precision = trt.float32
            layer.set_output_type(index, trt.float32)
    return layer


def host_tensor(values: Any, dtype: torch.dtype, shape: Optional[Sequence[int]] = None) -> torch.Tensor:
    """``torch.tensor(values, dtype=dtype)`` (reshaped to ``shape``) with real data even inside a fake mode:
    torch_tensorrt's torch.compile backend converts with its FakeTensorMode active, and a constant layer needs
    the bytes."""
    from torch._subclasses.fake_tensor import unset_fake_temporarily

    with unset_fake_temporarily():
        tensor = torch.tensor(values, dtype=dtype)
        return tensor if shape is None else tensor.reshape(shape)


def host_read(tensor: torch.Tensor, read: Callable[[torch.Tensor], Any]) -> Any:
    """``read(tensor)`` for a :func:`host_tensor`, outside any fake mode: inside torch_tensorrt's, reading the data
    back (``tolist()``, ``numpy()``) gives SymInts or fails."""
    from torch._subclasses.fake_tensor import unset_fake_temporarily

    with unset_fake_temporarily():
        return read(tensor)


def int64_constant(ctx: Any, values: Union[int, Sequence[int]], name: str) -> "trt.ITensor":
    """An int64 constant: 0-d for a Python int, 1-d for a list (empty lists allowed)."""
    from .._hooks import create_constant

    array = host_tensor(values, torch.int64)
    key = ("int64 constant", array.dim(), host_read(array, lambda a: tuple(int(v) for v in a.reshape(-1).tolist())))

    def make() -> "trt.ITensor":
        tensor = create_constant(ctx, array, f"{name}/const#{next(_layer_ids)}", torch.int64, min_rank=array.dim())
        _memo(ctx)[("int64 value", tensor)] = list(key[2])
        return tensor

    return reuse(ctx, key, make)


def _widening(source: "trt.DataType", target: "trt.DataType") -> bool:
    """A cast from ``source`` to ``target`` that every value survives unchanged (so casting back restores it)."""
    order = {trt.bool: 0, trt.int32: 2, trt.int64: 3, trt.float16: 10, trt.float32: 11}
    if hasattr(trt, "int8"):
        order[trt.int8] = 1
    if source not in order or target not in order:
        return False
    if source == trt.bool:
        return True
    return (order[source] < 10) == (order[target] < 10) and order[source] < order[target]


def cast(ctx: Any, tensor: "trt.ITensor", dtype: "trt.DataType", name: str) -> "trt.ITensor":
    """``tensor`` as ``dtype``: no layer when it already is, one Cast per tensor and type on a network, and a
    widening cast undone by reading its source (int32 -> int64 -> int32 costs nothing)."""
    if tensor.dtype == dtype:
        return tensor
    memo = _memo(ctx)
    source = memo.get(("cast source", tensor))
    if source is not None and source.dtype == dtype:
        return source

    def make() -> "trt.ITensor":
        result = name_layer(ctx.net.add_cast(tensor, dtype), name, f"cast_{dtype}").get_output(0)
        if _widening(tensor.dtype, dtype):
            memo[("cast source", result)] = tensor
        return result

    result = reuse(ctx, ("cast", tensor, dtype), make)
    if dtype == trt.int64 and tensor.dtype in _INTEGER_TRT:
        _bounded_as(ctx, result, tensor)
    return result


def cast_int64(ctx: Any, tensor: "trt.ITensor", name: str) -> "trt.ITensor":
    """``tensor`` as int64 (a Cast layer only when needed); only integer tensors are accepted."""
    if tensor.dtype == trt.int64:
        return tensor
    if tensor.dtype not in _INTEGER_TRT:
        raise ShapeValueError(f"{name}: a shape value must be an integer tensor, got {tensor.dtype}")
    return cast(ctx, tensor, trt.int64, name)


def to_1d(ctx: Any, tensor: "trt.ITensor", name: str) -> "trt.ITensor":
    """A 0-d ITensor reshaped to ``[1]``; 1-d tensors are returned unchanged."""
    rank = len(tensor.shape)
    if rank == 1:
        return tensor
    if rank != 0:
        raise ShapeValueError(f"{name}: expected a 0-d or 1-d shape value, got rank {rank}")
    value = constant_value(ctx, tensor)
    if value is not None:
        return int64_constant(ctx, value, name)

    def make() -> "trt.ITensor":
        layer = ctx.net.add_shuffle(tensor)
        layer.reshape_dims = (1,)
        return name_layer(layer, name, "to_1d").get_output(0)

    return _with_entries(ctx, _bounded_as(ctx, reuse(ctx, ("to_1d", tensor), make), tensor), entries(ctx, tensor))


def to_scalar(ctx: Any, tensor: "trt.ITensor", name: str) -> "trt.ITensor":
    """A ``[1]`` ITensor reshaped to 0-d; 0-d tensors are returned unchanged."""
    rank = len(tensor.shape)
    if rank == 0:
        return tensor
    if rank != 1 or tensor.shape[0] not in (1, -1):
        raise ShapeValueError(f"{name}: expected one size, got a tensor of shape {tuple(tensor.shape)}")
    value = constant_value(ctx, tensor)
    if value is not None and len(value) == 1:
        return int64_constant(ctx, value[0], name)

    def make() -> "trt.ITensor":
        layer = ctx.net.add_shuffle(tensor)
        layer.reshape_dims = trt.Dims()
        return name_layer(layer, name, "to_scalar").get_output(0)

    return _with_entries(ctx, _bounded_as(ctx, reuse(ctx, ("to_scalar", tensor), make), tensor),
                         entries(ctx, tensor))


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, float)


def _frozen_ints(value: Any, name: str) -> Optional[List[int]]:
    """Python ints for a constant value (list for rank 1, one-item list for rank 0), else None."""
    if _is_int(value):
        return [int(value)]
    if isinstance(value, (torch.Tensor, np.ndarray)):
        # inside torch_tensorrt's fake mode (the torch.compile backend) a host tensor is read outside it
        array = host_read(value, lambda t: t.detach().cpu().numpy()) if isinstance(value, torch.Tensor) else value
        if array.dtype.kind not in "iub":
            raise ShapeValueError(f"{name}: shape constant must be integer, got {array.dtype}")
        if array.ndim > 1:
            raise ShapeValueError(f"{name}: shape constant must be 0-d or 1-d, got {array.shape}")
        return [int(v) for v in array.reshape(-1)]
    return None


def as_shape_tensor(ctx: Any, value: ShapeLike, name: str) -> "trt.ITensor":
    """Freeze ``value`` into one 1-d int64 shape ITensor (the RFC's ShapeTensorOrFreeze).

    ``value`` may be an int, an int list/tuple, a 0-d/1-d integer torch/numpy constant, a 0-d/1-d
    integer ITensor, or a list/tuple mixing all of these; list items are concatenated in order
    (a 1-d ITensor item contributes all its entries). Runs of Python ints become one constant.
    Floats, booleans-as-tensors of other rank, ``None`` and SymInts raise :class:`ShapeValueError`.
    """
    if isinstance(value, trt.ITensor):
        return to_1d(ctx, cast_int64(ctx, value, name), name)
    frozen = _frozen_ints(value, name)
    if frozen is not None:
        return int64_constant(ctx, frozen, name)
    if not isinstance(value, (list, tuple)):
        raise ShapeValueError(
            f"{name}: cannot use {type(value).__name__} {value!r} as a shape; expected ints, "
            "integer tensors or ITensors"
        )
    known = _item_entries(ctx, value)
    if known is not None and all(_is_int(entry) for entry in known):
        return int64_constant(ctx, list(known), name)  # one constant, not one per run of ints and a fold of them
    rebuilt = _rebuilt_shape(ctx, known, name)
    if rebuilt is not None:
        return rebuilt  # before any constant for the static sizes is made, which would go unused
    parts: List["trt.ITensor"] = []
    pending: List[int] = []
    for index, item in enumerate(value):
        if isinstance(item, trt.ITensor):
            if pending:
                parts.append(int64_constant(ctx, pending, name))
                pending = []
            parts.append(as_shape_tensor(ctx, item, f"{name}[{index}]"))
            continue
        if isinstance(item, (list, tuple)):
            raise ShapeValueError(f"{name}[{index}]: nested lists are not shapes")
        ints = _frozen_ints(item, f"{name}[{index}]")
        if ints is None:
            raise ShapeValueError(
                f"{name}[{index}]: cannot use {type(item).__name__} {item!r} in a shape; expected "
                "an int, an integer tensor or an ITensor"
            )
        pending.extend(ints)
    if pending or not parts:
        parts.append(int64_constant(ctx, pending, name))
    return concat_shapes(ctx, parts, name)


def _item_entries(ctx: Any, items: Sequence[Any]) -> Optional[Tuple[Entry, ...]]:
    """The entries of :func:`as_shape_tensor`'s list ``items`` when all are known (no error is raised here: the
    caller's own pass over the items reports bad ones)."""
    joined: List[Entry] = []
    for item in items:
        if isinstance(item, trt.ITensor):
            known = entries(ctx, item) if item.dtype == trt.int64 else None
        else:
            try:
                known = _frozen_ints(item, "")
            except ShapeValueError:
                return None
        if known is None:
            return None
        joined.extend(known)
    return tuple(joined)


def as_scalar_tensor(ctx: Any, value: Any, name: str) -> "trt.ITensor":
    """One size as a 0-d int64 ITensor (from an int, a 0-d/[1] constant or ITensor)."""
    if isinstance(value, trt.ITensor):
        return to_scalar(ctx, cast_int64(ctx, value, name), name)
    frozen = _frozen_ints(value, name)
    if frozen is None or len(frozen) != 1:
        raise ShapeValueError(f"{name}: expected one integer size, got {value!r}")
    return int64_constant(ctx, frozen[0], name)


def concat_shapes(ctx: Any, parts: Sequence["trt.ITensor"], name: str) -> "trt.ITensor":
    """Concatenate 1-d int64 shape tensors along axis 0 (a single part is returned as is)."""
    parts = list(parts)
    if len(parts) == 1:
        return parts[0]
    known = [constant_value(ctx, part) for part in parts]
    if all(values is not None for values in known):
        return int64_constant(ctx, [value for values in known for value in values], name)
    joined = _item_entries(ctx, parts)
    rebuilt = _rebuilt_shape(ctx, joined, name)
    if rebuilt is not None:
        return rebuilt

    def make() -> "trt.ITensor":
        layer = ctx.net.add_concatenation(parts)
        layer.axis = 0
        return name_layer(layer, name, "concat_shape").get_output(0)

    bounds = [lower_bound(ctx, part) for part in parts]
    uppers = [upper_bound(ctx, part) for part in parts]
    if all(len(part.shape) == 1 and part.shape[0] >= 0 for part in parts):
        # each entry as the element of its part: which size it is, and which part already holds it
        joined = [Element(part, index) for part in parts for index in range(part.shape[0])]
    return _with_entries(ctx, _bounded(ctx, reuse(ctx, ("concat", tuple(parts)), make),
                                       None if None in bounds else min(bounds), None if None in uppers else max(uppers)),
                         joined)


def leading_then(ctx: Any, tensor: "trt.ITensor", count: int, tail: "trt.ITensor", name: str) -> "trt.ITensor":
    """``tensor``'s first ``count`` sizes followed by the 1-d shape value ``tail``: a resize's output shape. When
    that is some tensor's whole shape (``tail`` read from it, the leading sizes equal to its own in the profile),
    it is that shape and no layer is added, not even for the leading sizes; static leading sizes are frozen together
    with ``tail`` (one constant when it is constant too), never into a constant of their own that goes unread."""
    leading = _static_entries(tensor)[:count]
    if all(_is_int(entry) for entry in leading):
        return as_shape_tensor(ctx, [*leading, tail], name)
    known = entries(ctx, tail)
    if known is not None:
        rebuilt = _rebuilt_shape(ctx, leading + known, name)
        if rebuilt is not None:
            return rebuilt
    return concat_shapes(ctx, [gather_dims(ctx, shape_of(ctx, tensor, name), list(range(count)), name), tail], name)


def shape_items(ctx: Any, tensor: "trt.ITensor", name: str, dims: Optional[Sequence[int]] = None) -> List[Any]:
    """Sizes ``dims`` of ``tensor`` (all of them for None; negative dims count from the end) as items of an
    :func:`as_shape_tensor` list: the ints when all are static (frozen together with the other items, so no
    constant or SHAPE layer of their own goes unread), else one read of the shape: the shape tensor itself for
    all dims in order, else one slice / gather of it. Dims out of range raise :class:`ShapeValueError`."""
    rank = len(tensor.shape)
    picked = list(range(rank)) if dims is None else list(dims)
    if any(not -rank <= dim < rank for dim in picked):
        raise ShapeValueError(f"{name}: dims {picked} are out of range for rank {rank}")
    picked = [dim % rank for dim in picked]
    static = [int(tensor.shape[dim]) for dim in picked]
    if all(size >= 0 for size in static):
        return static
    if picked == list(range(rank)):
        return [shape_of(ctx, tensor, name)]
    return [gather_dims(ctx, shape_of(ctx, tensor, name), picked, name)]


def shape_of(ctx: Any, tensor: "trt.ITensor", name: str) -> "trt.ITensor":
    """The run-time shape of ``tensor`` as a 1-d int64 ITensor (length = rank)."""
    if all(size >= 0 for size in tensor.shape):
        return int64_constant(ctx, [int(size) for size in tensor.shape], name)
    shape = reuse(ctx, ("shape", tensor), lambda: name_layer(ctx.net.add_shape(tensor), name, "shape").get_output(0))
    low, high = _memo(ctx).get(("input range", tensor), (0, None))
    result = _bounded(ctx, cast_int64(ctx, _bounded(ctx, shape, low, high), name), low, high)
    return _with_entries(ctx, result, _static_entries(tensor))


def gather_dims(
    ctx: Any, shape: "trt.ITensor", dims: Union[int, Sequence[int]], name: str
) -> "trt.ITensor":
    """Entries ``dims`` of a 1-d shape tensor (or of any 1-d tensor): 0-d for an int, 1-d for a list of ints.

    A list of evenly spaced entries (any run, a single entry included) is one static SLICE; other lists and an int
    (whose 0-d result a slice could only give with a reshape after it) are one GATHER by an index constant."""
    picked = dims if isinstance(dims, int) else tuple(dims)
    known = constant_value(ctx, shape)
    if known is not None:
        return int64_constant(ctx, known[picked] if isinstance(picked, int) else [known[d] for d in picked], name)
    if picked == () and shape.dtype == trt.int64:
        return int64_constant(ctx, [], name)  # nothing read: known while building
    source = entries(ctx, shape)
    known = None
    if source is not None and all(-len(source) <= d < len(source) for d in _as_tuple(picked)):
        known = tuple(source[d] for d in _as_tuple(picked))
        if all(_is_int(entry) for entry in known):  # static sizes: read while building
            return int64_constant(ctx, known[0] if isinstance(picked, int) else list(known), name)
    part = _held_entry(ctx, shape, picked)
    if part is not None:
        return part
    step = _even_step(picked)

    def make() -> "trt.ITensor":
        if step is not None:
            layer = ctx.net.add_slice(shape, (picked[0],), (len(picked),), (step,))
            return name_layer(layer, name, "slice_dims").get_output(0)
        indices = int64_constant(ctx, picked if isinstance(picked, int) else list(picked), name)
        return name_layer(ctx.net.add_gather(shape, indices, 0), name, "gather_dims").get_output(0)

    return _with_entries(ctx, _bounded_as(ctx, reuse(ctx, ("gather_dims", shape, picked), make), shape), known)


def _as_tuple(picked: Any) -> tuple:
    return (picked,) if isinstance(picked, int) else picked


def _even_step(picked: Any) -> Optional[int]:
    """The stride of a static slice reading exactly the entries ``picked`` (a tuple), or None for an int or
    a list that is not evenly spaced. Negative entries stay with the gather, as before (a slice would not wrap them)."""
    if isinstance(picked, int) or min(picked) < 0:
        return None
    step = picked[1] - picked[0] if len(picked) > 1 else 1
    if any(later - earlier != step for earlier, later in zip(picked, picked[1:])):
        return None
    return step


def _held_entry(ctx: Any, shape: "trt.ITensor", picked: Any) -> Optional["trt.ITensor"]:
    """The ``[1]`` part of a :func:`concat_shapes` result that its entry ``picked`` (a one-index list) came from."""
    recorded = _memo(ctx).get(("entries", shape))
    if recorded is None or isinstance(picked, int) or len(picked) != 1 or not 0 <= picked[0] < len(recorded):
        return None
    entry = recorded[picked[0]]
    return entry.value if isinstance(entry, Element) and tuple(entry.value.shape) == (1,) else None


def dim_of(ctx: Any, tensor: "trt.ITensor", dim: int, name: str) -> "trt.ITensor":
    """Size of dimension ``dim`` (negative counts from the end) of ``tensor`` as a 0-d int64."""
    rank = len(tensor.shape)
    if not -rank <= dim < rank:
        raise ShapeValueError(f"{name}: dim {dim} is out of range for rank {rank}")
    dim %= rank
    if tensor.shape[dim] >= 0:
        return int64_constant(ctx, int(tensor.shape[dim]), name)
    return gather_dims(ctx, shape_of(ctx, tensor, name), dim, name)


_BINARY = {
    "add": trt.ElementWiseOperation.SUM,
    "sub": trt.ElementWiseOperation.SUB,
    "mul": trt.ElementWiseOperation.PROD,
    "floordiv": trt.ElementWiseOperation.FLOOR_DIV,
    "max": trt.ElementWiseOperation.MAX,
    "min": trt.ElementWiseOperation.MIN,
}


def _freeze_pair(ctx: Any, a: Any, b: Any, name: str):
    """Both operands as int64 ITensors of equal rank (ints take the other operand's rank)."""

    def freeze(value: Any, other: Any) -> "trt.ITensor":
        if isinstance(value, trt.ITensor):
            return cast_int64(ctx, value, name)
        rank = len(other.shape) if isinstance(other, trt.ITensor) else 0
        if rank == 0:
            return as_scalar_tensor(ctx, value, name)
        return as_shape_tensor(ctx, value, name)

    left, right = freeze(a, b), freeze(b, a)
    if len(left.shape) != len(right.shape):
        # A 0-d against a 1-d operand: lift the scalar so TensorRT broadcasts it.
        left, right = to_1d(ctx, left, name), to_1d(ctx, right, name)
    return left, right


def shape_binary(ctx: Any, op: str, a: Any, b: Any, name: str) -> "trt.ITensor":
    """Elementwise int64 arithmetic (``add sub mul floordiv max min``) on sizes/shapes.

    ``a`` and ``b`` are ITensors or ints; ints are frozen at the rank of the other operand (0-d
    against a scalar, ``[1]`` broadcasting against a shape).
    """
    if op not in _BINARY:
        raise ValueError(f"{name}: unknown shape operation {op!r}; one of {sorted(_BINARY)}")
    folded = _fold_on_host(ctx, op, a, b, name)
    if folded is not None:
        return folded
    kept = _identity_operand(ctx, op, a, b)
    if kept is not None:
        unchanged = _as_result(ctx, kept, b if kept is a else a, name)
        if unchanged is not None:
            return unchanged

    left, right = _freeze_pair(ctx, a, b, name)
    result = _bounded(ctx, _elementwise(ctx, left, right, _BINARY[op], name, op),
                      _bound_of(op, (lower_bound(ctx, a), upper_bound(ctx, a)), (lower_bound(ctx, b), upper_bound(ctx, b))),
                      _upper_of(op, (lower_bound(ctx, a), upper_bound(ctx, a)), (lower_bound(ctx, b), upper_bound(ctx, b))))
    if op == "sub" and _known_ints(ctx, a) == [0]:
        _memo(ctx)[("negation of", result)] = right
    return result


def _known_ints(ctx: Any, value: Any) -> Optional[List[int]]:
    """The entries of a Python int or of this network's int64 constant, else None."""
    if _is_int(value):
        return [int(value)]
    if isinstance(value, trt.ITensor):
        return constant_value(ctx, value)
    return None


def _identity_operand(ctx: Any, op: str, a: Any, b: Any) -> Any:
    """The operand ``a op b`` equals for every run-time value, or None: ``x + 0``, ``x - 0``, ``x * 1``, ``x // 1``,
    ``0 - (0 - x)``, and a ``max`` / ``min`` whose operands' bounds (constants, shapes, the optimization profile)
    already order them. Exact on int64: no rounding and no overflow is involved."""
    def is_all(value: Any, unit: int) -> bool:
        known = _known_ints(ctx, value)
        return bool(known) and all(entry == unit for entry in known)

    if op in ("add", "sub") and is_all(b, 0) or op in ("mul", "floordiv") and is_all(b, 1):
        return a
    if op in ("add", "mul") and is_all(a, {"add": 0, "mul": 1}[op]):
        return b
    if op == "sub" and is_all(a, 0) and isinstance(b, trt.ITensor):
        return _memo(ctx).get(("negation of", b))  # the run-time value b negated
    if op in ("max", "min"):
        a_low, a_high, b_low, b_high = lower_bound(ctx, a), upper_bound(ctx, a), lower_bound(ctx, b), upper_bound(ctx, b)
        larger, smaller = (a, b) if a_low is not None and b_high is not None and a_low >= b_high else \
            (b, a) if b_low is not None and a_high is not None and b_low >= a_high else (None, None)
        if larger is not None:
            return larger if op == "max" else smaller
    return None


def _as_result(ctx: Any, kept: Any, other: Any, name: str) -> Optional["trt.ITensor"]:
    """``kept`` frozen as the elementwise result of ``kept`` and ``other`` would be (the broadcast shape), or None
    when that shape is not ``kept``'s own (an operand that broadcasts ``kept`` to more entries)."""
    if not isinstance(kept, trt.ITensor):
        if isinstance(other, trt.ITensor) and len(other.shape) == 1:
            return None if other.shape[0] not in (1,) else as_shape_tensor(ctx, kept, name)
        return as_scalar_tensor(ctx, kept, name) if isinstance(other, trt.ITensor) or _is_int(other) else None
    kept = cast_int64(ctx, kept, name)
    if not isinstance(other, trt.ITensor) or len(other.shape) == 0:
        return kept
    if len(other.shape) != 1:
        return None
    if len(kept.shape) == 0:
        return to_1d(ctx, kept, name) if other.shape[0] == 1 else None
    return kept if other.shape[0] == 1 or other.shape[0] == kept.shape[0] >= 0 else None


def _bound_of(op: str, a_bounds: tuple, b_bounds: tuple) -> Optional[int]:
    """A lower bound of ``a op b`` from (lower, upper) bounds of the operands (None: unknown)."""
    (a, _), (b, b_high) = a_bounds, b_bounds
    if op == "sub":
        return None if a is None or b_high is None else a - b_high
    if op == "max":
        return max(bound for bound in (a, b, None) if bound is not None) if (a, b) != (None, None) else None
    if a is None or b is None:
        return None
    if op == "add":
        return a + b
    if op == "min":
        return min(a, b)
    if op == "mul" and a >= 0 and b >= 0:
        return a * b
    if op == "floordiv" and a >= 0 and b >= 1:
        return 0
    return None


def _upper_of(op: str, a: tuple, b: tuple) -> Optional[int]:
    """An upper bound of ``a op b`` from (lower, upper) bounds of the operands (None: unknown)."""
    (a_low, a_high), (b_low, b_high) = a, b
    if op == "min":
        return min(high for high in (a_high, b_high, None) if high is not None) if (a_high, b_high) != (None, None) \
            else None
    if a_high is None:
        return None
    if op == "floordiv" and a_low is not None and a_low >= 0 and b_low is not None and b_low >= 1:
        return a_high // b_low
    if op == "sub":
        return None if b_low is None else a_high - b_low
    if b_high is None:
        return None
    if op in ("add", "max"):
        return a_high + b_high if op == "add" else max(a_high, b_high)
    if op == "mul" and a_low is not None and a_low >= 0 and b_low is not None and b_low >= 0:
        return a_high * b_high
    return None


def _elementwise(ctx: Any, left: "trt.ITensor", right: "trt.ITensor", operation: Any, name: str,
                 what: str) -> "trt.ITensor":
    """One elementwise layer per operation and operands on a network (the same size arithmetic written twice,
    e.g. by two nodes or a guard repeating a subexpression, is computed once)."""
    return reuse(ctx, ("elementwise", operation, left, right),
                 lambda: name_layer(ctx.net.add_elementwise(left, right, operation), name, what).get_output(0))


_ON_HOST = {
    "add": lambda x, y: x + y,
    "sub": lambda x, y: x - y,
    "mul": lambda x, y: x * y,
    "floordiv": lambda x, y: x // y,  # Python's floor, as FLOOR_DIV
    "max": max,
    "min": min,
}
_INT64 = (-(2 ** 63), 2 ** 63 - 1)


def _fold_on_host(ctx: Any, op: str, a: Any, b: Any, name: str) -> Optional["trt.ITensor"]:
    """``op`` computed here when both operands are known ints (Python ints or this network's int64 constants):
    one constant instead of an elementwise layer. None when an operand is a run-time value, on a division by
    zero or an int64 overflow (those stay layers, as they would have been)."""
    operands = []
    for value in (a, b):
        if _is_int(value):
            operands.append((None, [int(value)]))
        elif isinstance(value, trt.ITensor) and constant_value(ctx, value) is not None:
            operands.append((len(value.shape), constant_value(ctx, value)))
        else:
            return None
    (rank_a, xs), (rank_b, ys) = operands
    if not xs or not ys or len(xs) != len(ys) and 1 not in (len(xs), len(ys)):
        return None
    length = max(len(xs), len(ys))
    xs, ys = xs * (length // len(xs)), ys * (length // len(ys))
    if op == "floordiv" and 0 in ys:
        return None
    result = [_ON_HOST[op](x, y) for x, y in zip(xs, ys)]
    if any(not _INT64[0] <= v <= _INT64[1] for v in result):
        return None
    rank = max(rank for rank in (rank_a, rank_b, 0) if rank is not None)
    return int64_constant(ctx, result if rank == 1 else result[0], name)


_COMPARE = {
    "lt": trt.ElementWiseOperation.LESS,
    "gt": trt.ElementWiseOperation.GREATER,
    "eq": trt.ElementWiseOperation.EQUAL,
}


def shape_compare(ctx: Any, op: str, a: Any, b: Any, name: str) -> "trt.ITensor":
    """Elementwise comparison (``lt gt eq``) of sizes/shapes; a bool ITensor (ints frozen as in
    :func:`shape_binary`)."""
    decided = _decided(ctx, op, a, b)
    if decided is not None:
        shape = _result_shape(a, b)
        if shape is not None:
            return _bool_constant(ctx, shape, decided, name)
    left, right = _freeze_pair(ctx, a, b, name)
    return _elementwise(ctx, left, right, _COMPARE[op], name, op)


def shape_decided(ctx: Any, op: str, a: Any, b: Any) -> Optional[bool]:
    """The value of ``a op b`` (``lt gt eq``) for every entry and every run-time size when known while building, else
    None. Ask it before :func:`shape_compare` where a known result would be folded away (left out of an ``or``, a
    ``where`` picking one side): a decided :func:`shape_compare` is a constant layer, and nothing would read it."""
    return _decided(ctx, op, a, b)


def _always_true(ctx: Any, op: str, a: Any, b: Any) -> bool:
    """``a op b`` holds for every run-time size (see :func:`_decided`)."""
    return _decided(ctx, op, a, b) is True


def _decided(ctx: Any, op: str, a: Any, b: Any) -> Optional[bool]:
    """The value of ``a op b`` (``lt gt eq``) for every entry and every run-time size, when known while building:
    from constants, and from the lower / upper bounds of sizes (shapes, the optimization profile). None otherwise."""
    if op not in _COMPARE:
        return None
    if op == "lt":
        return _decided(ctx, "gt", b, a)
    a_low, a_high, b_low, b_high = lower_bound(ctx, a), upper_bound(ctx, a), lower_bound(ctx, b), upper_bound(ctx, b)
    if op == "gt":
        if a_low is not None and b_high is not None and a_low > b_high:
            return True
        if a_high is not None and b_low is not None and a_high <= b_low:
            return False
        return None
    if a_high is not None and b_low is not None and a_high < b_low or \
            a_low is not None and b_high is not None and a_low > b_high:
        return False  # the two ranges do not meet
    if a_low is not None and a_low == a_high == b_low == b_high:
        return True  # one value on both sides
    return None


def _result_shape(a: Any, b: Any) -> Optional[tuple]:
    """The static shape of an elementwise result of two size values (None when a length is dynamic)."""
    shapes = [tuple(v.shape) for v in (a, b) if isinstance(v, trt.ITensor)]
    if any(len(shape) > 1 or (shape and shape[0] < 0) for shape in shapes):
        return None
    lengths = [shape[0] for shape in shapes if shape]
    return (max(lengths),) if lengths else ()


def _true_constant(ctx: Any, shape: tuple, name: str) -> "trt.ITensor":
    """A bool constant of ``shape``, all true, known as such on this network (assertions on it are dropped)."""
    return _bool_constant(ctx, shape, True, name)


def _bool_constant(ctx: Any, shape: tuple, value: bool, name: str) -> "trt.ITensor":
    """A bool constant of ``shape``, every entry ``value``, known as such on this network."""
    from .._hooks import create_constant

    def make() -> "trt.ITensor":
        count = int(np.prod(shape)) if shape else 1
        values = host_tensor([value] * count, torch.bool, shape) if shape else host_tensor(value, torch.bool)
        label = "true" if value else "false"
        tensor = create_constant(ctx, values, f"{name}/{label}#{next(_layer_ids)}", torch.bool, min_rank=len(shape))
        _memo(ctx)[("always", tensor)] = value
        return tensor

    return reuse(ctx, ("bool constant", shape, value), make)


def _known_condition(ctx: Any, condition: "trt.ITensor") -> Optional[bool]:
    """True / False for a condition every entry of which is known while building, else None."""
    return _memo(ctx).get(("always", condition))


def _known_true(ctx: Any, condition: "trt.ITensor") -> bool:
    return _known_condition(ctx, condition) is True


def shape_where(ctx: Any, condition: "trt.ITensor", a: Any, b: Any, name: str) -> "trt.ITensor":
    """``a`` where ``condition`` else ``b`` for int64 sizes/shapes (``ISelectLayer``); no layer when the condition is
    known while building and the picked operand already has the result's shape."""
    known = _known_condition(ctx, condition)
    if known is not None:
        picked, other = (a, b) if known else (b, a)
        if isinstance(picked, trt.ITensor) and len(condition.shape) <= len(picked.shape) and \
                (len(condition.shape) == 0 or condition.shape[0] == 1 or condition.shape[0] == picked.shape[0]):
            unchanged = _as_result(ctx, picked, other, name)
            if unchanged is not None:
                return unchanged
    left, right = _freeze_pair(ctx, a, b, name)
    if len(condition.shape) != len(left.shape):
        condition, left, right = (to_1d(ctx, t, name) for t in (condition, left, right))
    return reuse(ctx, ("where", condition, left, right),
                 lambda: name_layer(ctx.net.add_select(condition, left, right), name, "where").get_output(0))


def shape_clamp(ctx: Any, value: Any, low: Any, high: Any, name: str) -> "trt.ITensor":
    """``min(max(value, low), high)`` on int64 sizes/shapes."""
    return shape_binary(ctx, "min", shape_binary(ctx, "max", value, low, name), high, name)


def _fold_logical(ctx: Any, conditions: Sequence["trt.ITensor"], operation: Any, label: str,
                  name: str) -> "trt.ITensor":
    result = conditions[0]
    for other in conditions[1:]:
        if len(other.shape) != len(result.shape):
            result, other = to_1d(ctx, result, name), to_1d(ctx, other, name)
        result = _elementwise(ctx, result, other, operation, name, label)
    return result


def shape_all(ctx: Any, conditions: Sequence["trt.ITensor"], name: str) -> "trt.ITensor":
    """Logical AND of bool conditions (equal ranks, or 0-d against 1-d)."""
    needed = [condition for condition in conditions if not _known_true(ctx, condition)]
    if len(needed) == 1 and len(needed[0].shape) >= max(len(condition.shape) for condition in conditions):
        return needed[0]
    if not needed:
        return max(conditions, key=lambda condition: len(condition.shape))
    return _fold_logical(ctx, conditions, trt.ElementWiseOperation.AND, "and", name)


def shape_or(ctx: Any, conditions: Sequence["trt.ITensor"], name: str) -> "trt.ITensor":
    """Logical OR of bool conditions (equal ranks, or 0-d against 1-d); conditions known false are left out when a
    remaining one already has the result's rank."""
    needed = [condition for condition in conditions if _known_condition(ctx, condition) is not False]
    rank = max(len(condition.shape) for condition in conditions)
    if len(needed) == 1 and len(needed[0].shape) == rank:
        return needed[0]
    return _fold_logical(ctx, needed if needed and max(len(c.shape) for c in needed) == rank else conditions,
                         trt.ElementWiseOperation.OR, "or", name)


def shape_not(ctx: Any, condition: "trt.ITensor", name: str) -> "trt.ITensor":
    known = _known_condition(ctx, condition)
    if known is not None:
        return _bool_constant(ctx, tuple(condition.shape), not known, name)
    return reuse(ctx, ("not", condition),
                 lambda: name_layer(ctx.net.add_unary(condition, trt.UnaryOperation.NOT), name, "not").get_output(0))


def assert_shape(ctx: Any, condition: "trt.ITensor", message: str, name: str) -> None:
    """Make TensorRT refuse input shapes for which the bool shape tensor ``condition`` is false.

    TensorRT evaluates assertions when input shapes are set (before any kernel runs), so a size
    PyTorch would reject (an index out of range, a division by zero) is an error, never a
    silently wrong result. ``condition`` must be computed from shapes only.
    """
    known = _known_condition(ctx, condition)
    if known is True:
        return
    if known is False:
        # TensorRT fails the build on a constant false assertion with its own words: say which check it is
        raise ShapeValueError(f"{name}: {message} (for every input shape the optimization profile allows)")
    memo = _memo(ctx)
    if ("asserted", condition) in memo:
        return  # the same check of the same sizes (e.g. two nodes validating one size) fails at its first node
    memo[("asserted", condition)] = True
    layer = ctx.net.add_assertion(condition, f"{name}: {message}")
    name_layer(layer, name, "assert")


def assert_compare(ctx: Any, op: str, a: Any, b: Any, message: str, name: str) -> None:
    """:func:`assert_shape` of :func:`shape_compare` ``(op, a, b)``; nothing at all (not even the all-true constant
    :func:`shape_compare` would give) when the bounds prove it."""
    if _always_true(ctx, op, a, b):
        return
    assert_shape(ctx, shape_compare(ctx, op, a, b, name), message, name)


def assert_differs(ctx: Any, a: Any, b: Any, message: str, name: str) -> None:
    """Make TensorRT refuse input shapes for which ``a == b`` (e.g. a zero divisor); nothing at all when the bounds
    prove the two differ for every input shape."""
    if _decided(ctx, "eq", a, b) is False:
        return
    assert_shape(ctx, shape_not(ctx, shape_compare(ctx, "eq", a, b, name), name), message, name)


def python_floordiv(ctx: Any, a: Any, b: Any, name: str) -> "trt.ITensor":
    """Python ``a // b`` on int64 sizes (rounds toward -inf, whatever the signs)."""
    return shape_binary(ctx, "floordiv", a, b, name)


def ceildiv(ctx: Any, a: Any, b: Any, name: str) -> "trt.ITensor":
    """``-((-a) // b)``: exact integer ``ceil(a / b)``."""
    if _known_ints(ctx, b) == [1]:
        return shape_binary(ctx, "floordiv", a, b, name)  # a itself: no negations around it
    negated = shape_binary(ctx, "sub", 0, a, name)
    return shape_binary(ctx, "sub", 0, python_floordiv(ctx, negated, b, name), name)


def python_mod(ctx: Any, a: Any, b: Any, name: str) -> "trt.ITensor":
    """Python ``a % b`` on int64 sizes (result takes the sign of ``b``)."""
    quotient = python_floordiv(ctx, a, b, name)
    return shape_binary(ctx, "sub", a, shape_binary(ctx, "mul", quotient, b, name), name)


__all__ = [
    "ShapeValueError",
    "pin_float32",
    "reuse",
    "assert_shape",
    "assert_differs",
    "shape_all",
    "shape_not",
    "shape_or",
    "ceildiv",
    "python_floordiv",
    "python_mod",
    "shape_clamp",
    "shape_compare",
    "shape_decided",
    "shape_where",
    "as_shape_tensor",
    "as_scalar_tensor",
    "cast",
    "cast_int64",
    "concat_shapes",
    "constant_value",
    "dim_of",
    "gather_dims",
    "int64_constant",
    "name_layer",
    "shape_binary",
    "shape_items",
    "shape_of",
    "to_1d",
    "to_scalar",
]


def _record_input_ranges() -> None:
    from .._hooks import after_placeholder

    after_placeholder(record_input_range)


_record_input_ranges()
