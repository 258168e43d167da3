"""The static -> dyn translation table. Adding a row here is how dynamic support for an op is added.

Two tables:

``SYM_RULES``  SymInt/SymFloat producers -> the dyn op computing the same value as a shape tensor.
               Operands are converted recursively; Python numbers are frozen with ``const_scalar``.
``RULES``      consumers: an aten op that received a symbolic value in an int / int[] / Scalar slot
               -> the dyn op taking that slot as a shape tensor.

How the generic machinery (``dyn_pass.py``) applies a :class:`DynRule` to a consumer node:

1. bind the node's args to the aten schema's names (defaults filled in);
2. if no argument holds a symbolic value the node is left alone;
3. a symbolic value in an argument that is not in ``shape_args`` or ``drop`` is reported missing;
4. ``prepare`` (optional per-row adapter) rewrites the bound arguments when layouts differ;
5. each argument of the dyn op's schema is taken from the aten argument of the same name
   (after ``rename``), else from ``fixed``, else left at the dyn op's default; a dyn argument of
   type Tensor that receives an int / SymInt / list becomes a shape tensor (1-d if the value is a
   list, 0-d otherwise; ``None`` takes ``none_defaults``);
6. an aten argument that is neither used nor in ``drop`` must still hold its schema default,
   otherwise the row does not cover that call and it is reported missing.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Mapping, Optional, Tuple

import torch

from .. import ops as _ops  # noqa: F401  (registers torch.ops.trt_dyn)

aten = torch.ops.aten
dyn = torch.ops.trt_dyn

INT64_MAX = 9223372036854775807


@dataclass(frozen=True)
class DynRule:
    """One row: which dyn op replaces a static target and which of its arguments carry shapes."""

    op: Any
    #: aten argument names that may hold symbolic values (they become shape tensors)
    shape_args: Tuple[str, ...] = ()
    #: aten name -> dyn name, where they differ
    rename: Mapping[str, str] = field(default_factory=dict)
    #: values for dyn arguments the aten op does not have
    fixed: Mapping[str, Any] = field(default_factory=dict)
    #: aten arguments the dyn op does not take; their values (even symbolic) are ignored
    drop: Tuple[str, ...] = ()
    #: value used when a shape argument is None (e.g. an omitted slice bound)
    none_defaults: Mapping[str, Any] = field(default_factory=dict)
    #: adapter ``prepare(builder, node, bound) -> bound`` for rows whose layouts differ
    prepare: Optional[Callable[..., Dict[str, Any]]] = None
    #: aten argument -> the row to use instead when that argument is symbolic (a dyn op taking it as a Tensor)
    when_symbolic: Mapping[str, "DynRule"] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------
# Per-row adapters (only where argument layouts differ)
# ---------------------------------------------------------------------------------------------

def _pack_scales(builder, node, bound):
    """upsample_*.default take one ``scales_*`` per spatial dim; interpolate_dyn takes a list."""
    keys = [k for k in ("scales_d", "scales_h", "scales_w", "scales") if k in bound]
    values = [bound.pop(k) for k in keys]
    if all(v is None for v in values):
        bound["scales"] = None
    elif any(v is None for v in values):
        raise builder.unsupported(node, ",".join(keys), "give all scales or none")
    else:
        bound["scales"] = [float(v) for v in values]
    return bound


def _split_sizes(builder, node, bound):
    """split.Tensor(self, split_size, dim): the export fixed the number of pieces N (len of the
    fake value), so sizes are [split_size] * (N - 1) + [size(dim) - (N - 1) * split_size]."""
    pieces = len(node.meta["val"])
    split = builder.scalar(bound.pop("split_size"))
    if pieces == 1:
        sizes = builder.call(dyn.shape_cat_dyn, [builder.call(dyn.sym_size_dyn, bound["self"], bound["dim"])])
    else:
        rest = builder.call(dyn.mul_dyn, split, builder.scalar(pieces - 1))
        last = builder.call(dyn.sub_dyn, builder.call(dyn.sym_size_dyn, bound["self"], bound["dim"]), rest)
        sizes = builder.call(dyn.shape_cat_dyn, [split] * (pieces - 1) + [last])
    bound["split_sizes"] = sizes
    return bound


def _scalar_tensor_dtype(builder, node, bound):
    """scalar_tensor's dtype defaults to the default float dtype, _to_copy's to the input's."""
    if bound.get("dtype") is None:
        bound["dtype"] = torch.get_default_dtype()
    return bound


def _same_device(builder, node, bound):
    """new_* take their device from ``self``; a different explicit device is not covered."""
    device = bound.get("device")
    self_value = bound["self"].meta.get("val") if hasattr(bound["self"], "meta") else None
    if device is not None and self_value is not None and torch.device(device) != self_value.device:
        raise builder.unsupported(node, f"device={device}", "new_* dyn ops create on self's device")
    return bound


_FACTORY_DROP = ("layout", "pin_memory", "memory_format")
_NEW_DROP = ("layout", "device", "pin_memory")


def _group_norm_sizes(builder, node, bound):
    """native_group_norm's N and HxW repeat the input's shape (FCOS heads: HxW = H * W, a SymInt). torch_tensorrt's
    converter reads the shape from the input and ignores them; their traced values stand in (aten's kernel checks
    N * C * HxW against the input's size, so should the node ever run in PyTorch at another size it refuses it)."""
    if isinstance(bound.get("C"), torch.fx.Node):
        raise builder.unsupported(node, "C", "the channel count must be static")
    for name in ("N", "HxW"):
        value = bound.get(name)
        if isinstance(value, torch.fx.Node):
            bound[name] = int(value.meta["val"].node.hint)
    return bound


def _resize(mode: str, prepare=None) -> DynRule:
    return DynRule(
        dyn.interpolate_dyn.default, shape_args=("output_size",),
        rename={"input": "self", "output_size": "size", "scale_factors": "scales"},
        fixed={"mode": mode}, prepare=prepare,
    )


def _same(op, *shape_args: str) -> DynRule:
    """Same target, with symbolic Scalar operands passed as 0-d tensors (Tensor overload)."""
    return DynRule(op, shape_args=shape_args)


def _to_tensor_overload(op, *shape_args: str, **rename) -> DynRule:
    return DynRule(op, shape_args=shape_args, rename=rename)


# ---------------------------------------------------------------------------------------------
# SymInt / SymFloat producers -> shape-tensor ops
# ---------------------------------------------------------------------------------------------

#: target -> (dyn op, number of operands). Operands are the node's positional args, except
#: ``aten.sym_size.int`` whose second argument (the dim) stays a static int.
SYM_RULES: Dict[Any, Tuple[Any, int]] = {
    aten.sym_size.int: (dyn.sym_size_dyn.default, 1),
    aten.sym_numel.default: (dyn.numel_dyn.default, 1),
    operator.add: (dyn.add_dyn.default, 2),
    operator.sub: (dyn.sub_dyn.default, 2),
    operator.mul: (dyn.mul_dyn.default, 2),
    operator.floordiv: (dyn.floordiv_dyn.default, 2),
    operator.mod: (dyn.mod_dyn.default, 2),
    operator.truediv: (dyn.truediv_dyn.default, 2),
    operator.neg: (dyn.neg_dyn.default, 1),
    torch.sym_max: (dyn.max_dyn.default, 2),
    torch.sym_min: (dyn.min_dyn.default, 2),
    torch.sym_float: (dyn.float_dyn.default, 1),
    torch.sym_int: (dyn.int_dyn.default, 1),
    math.ceil: (dyn.ceil_dyn.default, 1),
    math.floor: (dyn.floor_dyn.default, 1),
    math.trunc: (dyn.int_dyn.default, 1),
}

#: ``torch.sym_sum(list)`` is folded into a chain of add_dyn by the pass
SYM_SUM = getattr(torch, "sym_sum", None)

#: ``ceil(a / b)`` / ``floor(a / b)`` of two ints become exact integer division, not float32 math
EXACT_DIVISION = {math.ceil: dyn.ceildiv_dyn.default, math.floor: dyn.floordiv_dyn.default}

#: nodes that only check symbolic values; the TensorRT optimization profile enforces the ranges
#: they assert, so they are dropped together with the SymBool expressions feeding them
ASSERTIONS = {
    aten._assert_scalar.default,
    aten.sym_constrain_range.default,
    aten.sym_constrain_range_for_size.default,
}

# ---------------------------------------------------------------------------------------------
# Consumers: static aten target -> dyn op
# ---------------------------------------------------------------------------------------------

RULES: Dict[Any, DynRule] = {
    # views
    aten.view.default: DynRule(dyn.reshape_dyn.default, shape_args=("size",), rename={"size": "shape"}),
    aten.reshape.default: DynRule(dyn.reshape_dyn.default, shape_args=("shape",)),
    aten._reshape_copy.default: DynRule(dyn.reshape_dyn.default, shape_args=("size",), rename={"size": "shape"}),
    aten._unsafe_view.default: DynRule(dyn.reshape_dyn.default, shape_args=("size",), rename={"size": "shape"}),
    aten.expand.default: DynRule(dyn.expand_dyn.default, shape_args=("size",), rename={"size": "shape"},
                                 drop=("implicit",)),
    aten.unflatten.int: DynRule(dyn.unflatten_dyn.default, shape_args=("sizes",)),
    aten.repeat.default: DynRule(dyn.repeat_dyn.default, shape_args=("repeats",)),
    aten.select.int: DynRule(dyn.select_dyn.default, shape_args=("index",)),
    # factories
    aten.full.default: DynRule(dyn.full_dyn.default, shape_args=("size", "fill_value"), rename={"size": "shape"},
                               drop=_FACTORY_DROP, when_symbolic={"fill_value": DynRule(
                                   dyn.full_value_dyn.default, shape_args=("size", "fill_value"),
                                   rename={"size": "shape"}, drop=_FACTORY_DROP)}),
    aten.zeros.default: DynRule(dyn.zeros_dyn.default, shape_args=("size",), rename={"size": "shape"},
                                drop=_FACTORY_DROP),
    aten.ones.default: DynRule(dyn.ones_dyn.default, shape_args=("size",), rename={"size": "shape"},
                               drop=_FACTORY_DROP),
    aten.empty.memory_format: DynRule(dyn.zeros_dyn.default, shape_args=("size",), rename={"size": "shape"},
                                      drop=_FACTORY_DROP),
    aten.empty_strided.default: DynRule(dyn.zeros_dyn.default, shape_args=("size",), rename={"size": "shape"},
                                        drop=_FACTORY_DROP + ("stride",)),
    aten.new_full.default: DynRule(dyn.new_full_dyn.default, shape_args=("size",), rename={"size": "shape"},
                                   drop=_NEW_DROP, prepare=_same_device),
    aten.new_zeros.default: DynRule(dyn.new_zeros_dyn.default, shape_args=("size",), rename={"size": "shape"},
                                    drop=_NEW_DROP, prepare=_same_device),
    aten.new_ones.default: DynRule(dyn.new_ones_dyn.default, shape_args=("size",), rename={"size": "shape"},
                                   drop=_NEW_DROP, prepare=_same_device),
    aten.new_empty.default: DynRule(dyn.new_zeros_dyn.default, shape_args=("size",), rename={"size": "shape"},
                                    drop=_NEW_DROP, prepare=_same_device),
    aten.new_empty_strided.default: DynRule(dyn.new_zeros_dyn.default, shape_args=("size",),
                                            rename={"size": "shape"}, drop=_NEW_DROP + ("stride",),
                                            prepare=_same_device),
    aten.arange.default: DynRule(dyn.arange_dyn.default, shape_args=("end",), fixed={"start": 0, "step": 1},
                                 drop=("layout", "pin_memory")),
    aten.arange.start: DynRule(dyn.arange_dyn.default, shape_args=("start", "end"), fixed={"step": 1},
                               drop=("layout", "pin_memory")),
    aten.arange.start_step: DynRule(dyn.arange_dyn.default, shape_args=("start", "end", "step"),
                                    drop=("layout", "pin_memory")),
    aten.linspace.default: DynRule(dyn.linspace_dyn.default, shape_args=("start", "end", "steps"),
                                   drop=("layout", "pin_memory")),
    aten.scalar_tensor.default: DynRule(aten._to_copy.default, shape_args=("s",), rename={"s": "self"},
                                        prepare=_scalar_tensor_dtype),
    # slicing
    aten.slice.Tensor: DynRule(dyn.slice_dyn.default, shape_args=("start", "end"),
                               none_defaults={"start": 0, "end": INT64_MAX}),
    aten.narrow.default: DynRule(dyn.narrow_dyn.default, shape_args=("start", "length")),
    aten.split_with_sizes.default: DynRule(dyn.split_dyn.default, shape_args=("split_sizes",),
                                           rename={"split_sizes": "sizes"}),
    aten.split.Tensor: DynRule(dyn.split_dyn.default, shape_args=("split_size",),
                               rename={"split_sizes": "sizes"}, prepare=_split_sizes),
    aten.constant_pad_nd.default: DynRule(dyn.pad_dyn.default, shape_args=("pad",)),
    aten.reflection_pad1d.default: DynRule(dyn.reflection_pad_dyn.default, shape_args=("padding",),
                                           rename={"padding": "pad"}),
    aten.reflection_pad2d.default: DynRule(dyn.reflection_pad_dyn.default, shape_args=("padding",),
                                           rename={"padding": "pad"}),
    aten.reflection_pad3d.default: DynRule(dyn.reflection_pad_dyn.default, shape_args=("padding",),
                                           rename={"padding": "pad"}),
    # resize
    aten.upsample_nearest1d.vec: _resize("nearest"),
    aten.upsample_nearest2d.vec: _resize("nearest"),
    aten.upsample_nearest3d.vec: _resize("nearest"),
    aten.upsample_bilinear2d.vec: _resize("bilinear"),
    aten.upsample_nearest1d.default: _resize("nearest", _pack_scales),
    aten.upsample_nearest2d.default: _resize("nearest", _pack_scales),
    aten.upsample_nearest3d.default: _resize("nearest", _pack_scales),
    aten.upsample_bilinear2d.default: _resize("bilinear", _pack_scales),
    aten.upsample_linear1d.vec: _resize("linear"),
    aten.upsample_linear1d.default: _resize("linear", _pack_scales),
    aten.upsample_bicubic2d.vec: _resize("bicubic"),
    aten.upsample_bicubic2d.default: _resize("bicubic", _pack_scales),
    aten.upsample_trilinear3d.vec: _resize("trilinear"),
    aten.upsample_trilinear3d.default: _resize("trilinear", _pack_scales),
    aten._upsample_bicubic2d_aa.default: DynRule(dyn.interpolate_aa_dyn.default, shape_args=("output_size",),
                                                 rename={"output_size": "size"}, fixed={"mode": "bicubic"}),
    aten._upsample_bilinear2d_aa.default: DynRule(dyn.interpolate_aa_dyn.default, shape_args=("output_size",),
                                                  rename={"output_size": "size"}, fixed={"mode": "bilinear"}),
    # normalization
    aten.native_group_norm.default: DynRule(aten.native_group_norm.default, drop=("N", "HxW"),
                                            prepare=_group_norm_sizes),
    # top-k
    aten.topk.default: DynRule(dyn.topk_dyn.default, shape_args=("k",)),
    # elementwise with a symbolic Scalar operand: same op, the size as a 0-d tensor
    aten.add.Tensor: _same(aten.add.Tensor, "self", "other"),
    aten.sub.Tensor: _same(aten.sub.Tensor, "self", "other"),
    aten.mul.Tensor: _same(aten.mul.Tensor, "self", "other"),
    aten.div.Tensor: _same(aten.div.Tensor, "self", "other"),
    aten.div.Tensor_mode: _same(aten.div.Tensor_mode, "self", "other"),
    aten.add.Scalar: _to_tensor_overload(aten.add.Tensor, "other"),
    aten.sub.Scalar: _to_tensor_overload(aten.sub.Tensor, "other"),
    aten.mul.Scalar: _to_tensor_overload(aten.mul.Tensor, "other"),
    aten.div.Scalar: _to_tensor_overload(aten.div.Tensor, "other"),
    aten.rsub.Scalar: _to_tensor_overload(aten.rsub.Tensor, "other"),
    aten.remainder.Scalar: _to_tensor_overload(aten.remainder.Tensor, "other"),
    aten.pow.Tensor_Scalar: _to_tensor_overload(aten.pow.Tensor_Tensor, "exponent"),
    aten.eq.Scalar: _to_tensor_overload(aten.eq.Tensor, "other"),
    aten.ne.Scalar: _to_tensor_overload(aten.ne.Tensor, "other"),
    aten.lt.Scalar: _to_tensor_overload(aten.lt.Tensor, "other"),
    aten.le.Scalar: _to_tensor_overload(aten.le.Tensor, "other"),
    aten.gt.Scalar: _to_tensor_overload(aten.gt.Tensor, "other"),
    aten.ge.Scalar: _to_tensor_overload(aten.ge.Tensor, "other"),
    aten.clamp.default: _to_tensor_overload(aten.clamp.Tensor, "min", "max"),
    aten.minimum.default: _same(aten.minimum.default, "self", "other"),
    aten.maximum.default: _same(aten.maximum.default, "self", "other"),
}
