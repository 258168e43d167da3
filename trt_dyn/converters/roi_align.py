"""TensorRT converter for ``torchvision::roi_align`` with torchvision's exact semantics.

Schema::

    torchvision::roi_align(Tensor input, Tensor rois, float spatial_scale, SymInt pooled_height,
                           SymInt pooled_width, int sampling_ratio, bool aligned) -> Tensor

``input`` is (B, C, H, W) float32/float16, ``rois`` is (N, 5) rows ``[batch_index, x1, y1, x2, y2]``
in image coordinates; the output is (N, C, pooled_height, pooled_width). The list-of-boxes form of
``torchvision.ops.roi_align`` is turned into the (N, 5) form in Python before the op (``cat`` of
``full_like`` batch indices and the boxes), so the graph only ever holds this op.

Semantics reproduced (torchvision's CPU kernel), per box ``n`` and output bin ``(ph, pw)``:

* ``offset = 0.5 if aligned else 0``; ``start = box * spatial_scale - offset``;
  ``size = end - start``, raised to at least 1 when not ``aligned``; ``bin = size / pooled``.
* sampling grid ``gh x gw``: ``sampling_ratio`` when > 0, else ``ceil(size / pooled)`` per box
  (zero or negative for empty/inverted aligned boxes: that box's bins are 0).
* sample ``y = start_h + ph * bin_h + (iy + 0.5) * bin_h / gh`` (same for x); a sample with
  ``y < -1 or y > H or x < -1 or x > W`` contributes 0; otherwise ``y, x`` are clamped to
  ``[0, H-1] x [0, W-1]`` and bilinearly interpolated.
* ``out = sum(samples) / max(gh * gw, 1)``.
* the batch index is truncated to an integer like torchvision; an index outside ``[0, B)`` (undefined
  behaviour in torchvision) is clamped into range here rather than read out of bounds.
* non-finite box coordinates (undefined in torchvision) pool to 0: NaN sample coordinates count as
  outside the map, and a non-finite adaptive grid is empty.

How it is built (native layers only, no plugin, so TensorRT-RTX builds it): the features are laid
out once as a (B*H*W, C) table and every bilinear corner is one ``IGatherLayer`` row gather.
Sample coordinates are separable (y depends on (n, ph, iy), x on (n, pw, ix)), so they are computed
as small (N, P, 1, 1) and (N, 1, Q, 1) tensors and broadcast.

* ``sampling_ratio > 0``: the whole (PH*g) x (PW*g) grid is sampled at once and summed per bin.
* ``sampling_ratio <= 0`` (adaptive, data-dependent per box): an ``ILoop`` with a ``WHILE`` trip
  limit runs ``T = max_n(gh) * max_n(gw)`` iterations, computed at run time from the boxes. Iteration
  ``t`` takes sample ``(iy, ix) = divmod(t, max_n(gw))`` in every bin of every box and masks boxes
  whose own grid is smaller. This is exact for any box, with no bound assumed from the profile;
  its cost is ``T`` iterations of 4 gathers of N*PH*PW*C values, so one very large box makes every
  box pay for its grid (torchvision pays that box's grid only once).

Float16 features are gathered as float16 (half the memory traffic), weighted and accumulated in
float32, then cast back.
Every layer this converter adds is named ``roi_align[<node>]/...``: :func:`count_roi_align_layers`
counts them in a built network (a proxy for GPU cost).
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Sequence, Tuple

import numpy as np
import torch
import torchvision  # noqa: F401  (registers torch.ops.torchvision.roi_align)

from .._trt import trt
from .errors import fail
from .shape_tensor import name_layer
from .._hooks import converting_node
from .common import registered

LAYER_PREFIX = "roi_align["
ROI_ALIGN_OP = torch.ops.torchvision.roi_align.default

_FLOAT_TYPES = {trt.float32: "float32", trt.float16: "float16"}
#: cap on grid sizes and trip counts before their int32 casts: exact in float32 (2**31 - 1 is not,
#: it rounds up and overflows), and a loop that long means non-finite or absurd boxes anyway
_GRID_CAP = float(2**30)

E = trt.ElementWiseOperation
U = trt.UnaryOperation


class _Net:
    """Adds named float32/int32 layers to ``ctx.net`` for one roi_align node."""

    def __init__(self, ctx: Any, node_name: str):
        self.ctx = ctx
        self.net = ctx.net
        self.prefix = f"{LAYER_PREFIX}{node_name}]"
        self._constants: Dict[Any, "trt.ITensor"] = {}

    def _named(self, layer: "trt.ILayer", what: str) -> "trt.ITensor":
        return name_layer(layer, self.prefix, what).get_output(0)

    def const(self, value: Any, dtype: Any = np.float32, shape: Optional[Sequence[int]] = None) -> "trt.ITensor":
        array = np.ascontiguousarray(np.asarray(value, dtype=dtype))
        if shape is not None:
            array = array.reshape(shape)
        key = (array.dtype.str, array.shape, array.tobytes())
        if key in self._constants:
            return self._constants[key]
        # TensorRT reads the buffer only when building: the context keeps it alive until then.
        self.ctx.cpu_weights_reference_holder.append(array)
        layer = self.net.add_constant(trt.Dims(list(array.shape)), trt.Weights(array))
        self._constants[key] = self._named(layer, "const")
        return self._constants[key]

    def binary(self, a: "trt.ITensor", b: "trt.ITensor", op: "trt.ElementWiseOperation", what: str) -> "trt.ITensor":
        return self._named(self.net.add_elementwise(a, b, op), what)

    def unary(self, a: "trt.ITensor", op: "trt.UnaryOperation", what: str) -> "trt.ITensor":
        return self._named(self.net.add_unary(a, op), what)

    def cast(self, a: "trt.ITensor", dtype: "trt.DataType", what: str) -> "trt.ITensor":
        if a.dtype == dtype:
            return a
        return self._named(self.net.add_cast(a, dtype), what)

    def add(self, a, b, what="add"):
        return self.binary(a, b, E.SUM, what)

    def sub(self, a, b, what="sub"):
        return self.binary(a, b, E.SUB, what)

    def mul(self, a, b, what="mul"):
        return self.binary(a, b, E.PROD, what)

    def div(self, a, b, what="div"):
        return self.binary(a, b, E.DIV, what)

    def maximum(self, a, b, what="max"):
        return self.binary(a, b, E.MAX, what)

    def minimum(self, a, b, what="min"):
        return self.binary(a, b, E.MIN, what)

    def select(self, cond, then, otherwise, what="select"):
        return self._named(self.net.add_select(cond, then, otherwise), what)

    def reshape(self, a: "trt.ITensor", dims: Sequence[int], what: str) -> "trt.ITensor":
        """Reshape where 0 copies the input's dimension (keeps a dynamic, possibly empty, N)."""
        layer = self.net.add_shuffle(a)
        layer.reshape_dims = trt.Dims(list(dims))
        layer.zero_is_placeholder = True
        return self._named(layer, what)

    def transpose(self, a: "trt.ITensor", order: Sequence[int], what: str) -> "trt.ITensor":
        layer = self.net.add_shuffle(a)
        layer.first_transpose = trt.Permutation(list(order))
        return self._named(layer, what)

    def gather(self, data: "trt.ITensor", indices: "trt.ITensor", axis: int, what: str) -> "trt.ITensor":
        layer = self.net.add_gather(data, indices, axis)
        return self._named(layer, what)

    def reduce(self, a: "trt.ITensor", op: "trt.ReduceOperation", axes: Sequence[int], keep: bool, what: str):
        mask = 0
        for axis in axes:
            mask |= 1 << axis
        return self._named(self.net.add_reduce(a, op, mask, keep), what)


def count_roi_align_layers(network: "trt.INetworkDefinition") -> int:
    """Number of layers in ``network`` added by this converter (all roi_align nodes together)."""
    return sum(
        1 for index in range(network.num_layers) if network.get_layer(index).name.startswith(LAYER_PREFIX)
    )


def _static_int(ctx: Any, target: Any, name: str, value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise fail(ctx, target, name, f"{what} must be a static int, got {value!r}")
    return int(value)


def _as_itensor(ctx: Any, target: Any, name: str, value: Any, what: str) -> "trt.ITensor":
    if isinstance(value, trt.ITensor):
        return value
    if isinstance(value, (torch.Tensor, np.ndarray)):
        from .._hooks import get_trt_tensor

        return get_trt_tensor(ctx, value, f"{name}_{what}_constant")
    raise fail(ctx, target, name, f"{what} must be a tensor, got {type(value).__name__}")


def _check_args(ctx: Any, target: Any, args: Tuple[Any, ...], kwargs: Dict[str, Any], name: str):
    names = ("input", "rois", "spatial_scale", "pooled_height", "pooled_width", "sampling_ratio", "aligned")
    values = dict(zip(names, args))
    values.update(kwargs)
    missing = [key for key in names if key not in values]
    if missing:
        raise fail(ctx, target, name, f"missing arguments {missing}")
    features, rois = values["input"], values["rois"]
    # Frozen constants (e.g. fixed boxes) arrive as torch tensors: make them network constants.
    features = _as_itensor(ctx, target, name, features, "input")
    rois = _as_itensor(ctx, target, name, rois, "rois")
    if features.dtype not in _FLOAT_TYPES:
        raise fail(ctx, target, name, f"input dtype {features.dtype} is not supported (float32, float16)")
    if rois.dtype not in _FLOAT_TYPES:
        raise fail(ctx, target, name, f"rois dtype {rois.dtype} is not supported (float32, float16)")
    if len(features.shape) != 4:
        raise fail(ctx, target, name, f"input must be (B, C, H, W), got shape {tuple(features.shape)}")
    if len(rois.shape) != 2 or rois.shape[1] != 5:
        raise fail(ctx, target, name, f"rois must be (N, 5) [batch, x1, y1, x2, y2], got {tuple(rois.shape)}")
    if features.shape[1] < 0:
        raise fail(ctx, target, name, "the channel dimension C of input must be static")
    pooled_h = _static_int(ctx, target, name, values["pooled_height"], "pooled_height")
    pooled_w = _static_int(ctx, target, name, values["pooled_width"], "pooled_width")
    if pooled_h <= 0 or pooled_w <= 0:
        raise fail(ctx, target, name, f"output size must be positive, got ({pooled_h}, {pooled_w})")
    sampling_ratio = _static_int(ctx, target, name, values["sampling_ratio"], "sampling_ratio")
    scale = values["spatial_scale"]
    if isinstance(scale, bool) or not isinstance(scale, (int, float)):
        raise fail(ctx, target, name, f"spatial_scale must be a static float, got {scale!r}")
    aligned = values["aligned"]
    if not isinstance(aligned, bool):
        raise fail(ctx, target, name, f"aligned must be a static bool, got {aligned!r}")
    return features, rois, float(scale), pooled_h, pooled_w, sampling_ratio, aligned


class _Geometry:
    """Per-box quantities, each (N, 1, 1, 1) float32 unless stated."""

    def __init__(self, g: _Net, features, rois, scale, pooled_h, pooled_w, sampling_ratio, aligned):
        self.g = g
        self.pooled_h, self.pooled_w = pooled_h, pooled_w
        rois32 = g.cast(rois, trt.float32, "rois_f32")
        # One scale-and-offset over all five columns (the batch column gets * 1 - 0, exactly).
        offset = 0.5 if aligned else 0.0
        rois32 = g.sub(
            g.mul(rois32, g.const([[1.0, scale, scale, scale, scale]]), "scale"),
            g.const([[0.0, offset, offset, offset, offset]]),
            "offset",
        )

        def column(k: int) -> "trt.ITensor":
            # Gathering with a (1, 1, 1) index on axis 1 gives (N, 1, 1, 1) without a dynamic reshape.
            return g.gather(rois32, g.const([k], np.int32, (1, 1, 1)), 1, f"rois_col{k}")

        self.start_w, self.start_h = column(1), column(2)
        size_w = g.sub(column(3), self.start_w, "roi_w")
        size_h = g.sub(column(4), self.start_h, "roi_h")
        if not aligned:
            one = g.const(1.0, shape=(1, 1, 1, 1))
            size_w = g.maximum(size_w, one, "roi_w_min1")
            size_h = g.maximum(size_h, one, "roi_h_min1")
        self.bin_w = g.div(size_w, g.const(float(pooled_w), shape=(1, 1, 1, 1)), "bin_w")
        self.bin_h = g.div(size_h, g.const(float(pooled_h), shape=(1, 1, 1, 1)), "bin_h")
        if sampling_ratio > 0:
            self.grid_h = self.grid_w = None
        else:
            # torchvision's ceil(roi_height / pooled_height) is ceil(bin_h), the same division.
            self.grid_h = self._bounded_grid(g.unary(self.bin_h, U.CEIL, "grid_h"), "grid_h")
            self.grid_w = self._bounded_grid(g.unary(self.bin_w, U.CEIL, "grid_w"), "grid_w")

        # Batch index: torchvision truncates; valid indices are >= 0 so floor(max(b, 0)) is the same.
        shape = g._named(g.net.add_shape(features), "features_shape")
        dims32 = g.cast(shape, trt.int32, "features_shape_i32")

        def dim(k: int, what: str) -> "trt.ITensor":
            return g.gather(dims32, g.const([k], np.int32, (1, 1, 1, 1)), 0, what)  # (1, 1, 1, 1)

        self.batch, self.height, self.width = dim(0, "B"), dim(2, "H"), dim(3, "W")
        self.height_f = g.cast(self.height, trt.float32, "H_f32")
        self.width_f = g.cast(self.width, trt.float32, "W_f32")
        batch_f = g.cast(self.batch, trt.float32, "B_f32")
        zero = g.const(0.0, shape=(1, 1, 1, 1))
        one = g.const(1.0, shape=(1, 1, 1, 1))
        index = g.unary(g.maximum(column(0), zero, "batch_nonneg"), U.FLOOR, "batch_trunc")
        index = g.minimum(index, g.sub(batch_f, one, "B_minus1"), "batch_clamp")
        self.batch_index = g.cast(index, trt.int32, "batch_i32")  # (N, 1, 1, 1)
        self.plane = g.mul(self.height, self.width, "HW")  # (1, 1, 1, 1) int32

    def _bounded_grid(self, grid: "trt.ITensor", what: str) -> "trt.ITensor":
        """Non-finite boxes (undefined in torchvision) get an empty grid instead of a near-endless
        loop: NaN or a grid beyond ``_GRID_CAP`` becomes 0, so such a box pools to 0."""
        g = self.g
        usable = g.binary(grid, g.const(_GRID_CAP, shape=(1, 1, 1, 1)), E.LESS, f"{what}_finite")
        return g.select(usable, grid, g.const(0.0, shape=(1, 1, 1, 1)), f"{what}_bounded")

    def count(self, sampling_ratio: int) -> "trt.ITensor":
        g = self.g
        if sampling_ratio > 0:
            return g.const(float(sampling_ratio * sampling_ratio), shape=(1, 1, 1, 1))
        product = g.mul(self.grid_h, self.grid_w, "grid_count")
        return g.maximum(product, g.const(1.0, shape=(1, 1, 1, 1)), "count_min1")


def _axis_samples(g: _Net, start, bin_size, grid, bins, steps, limit_f, limit_i, axis: str):
    """Bilinear terms along one axis.

    ``bins`` and ``steps`` are float32 constants or tensors broadcastable with (N, ...) holding the
    bin index and the ``iy + 0.5`` sample offset; ``grid`` is the per-box grid size (float tensor).
    Returns (valid bool, low int32, high int32, low weight, high weight), all broadcast to the
    coordinate's shape.
    """
    coord = g.add(
        g.add(start, g.mul(bins, bin_size, f"{axis}_bin_start"), f"{axis}_bin"),
        g.div(g.mul(steps, bin_size, f"{axis}_step"), grid, f"{axis}_step_frac"),
        f"{axis}_coord",
    )
    minus_one = g.const(-1.0, shape=(1, 1, 1, 1))
    zero = g.const(0.0, shape=(1, 1, 1, 1))
    one = g.const(1.0, shape=(1, 1, 1, 1))
    # A NaN coordinate (from a non-finite box, undefined in torchvision) is moved below -1, i.e. out
    # of the map: its sample is 0 and no NaN reaches the float-to-int index cast.
    is_number = g.binary(coord, coord, E.EQUAL, f"{axis}_not_nan")
    coord = g.select(is_number, coord, g.const(-2.0, shape=(1, 1, 1, 1)), f"{axis}_nan_outside")
    below = g.binary(coord, minus_one, E.LESS, f"{axis}_below")
    above = g.binary(coord, limit_f, E.GREATER, f"{axis}_above")
    invalid = g.binary(below, above, E.OR, f"{axis}_outside")
    valid = g.unary(invalid, U.NOT, f"{axis}_valid")
    last = g.sub(limit_f, one, f"{axis}_last")
    # Clamping to [0, size-1] reproduces torchvision's "<= 0 -> 0" and "low >= size-1 -> size-1" rules.
    clamped = g.minimum(g.maximum(coord, zero, f"{axis}_clamp0"), last, f"{axis}_clamp_last")
    low_f = g.unary(clamped, U.FLOOR, f"{axis}_floor")
    frac_high = g.sub(clamped, low_f, f"{axis}_frac")
    frac_low = g.sub(one, frac_high, f"{axis}_frac_low")
    last_i = g.sub(limit_i, g.const(1, np.int32, (1, 1, 1, 1)), f"{axis}_last_i")
    zero_i = g.const(0, np.int32, (1, 1, 1, 1))
    # Non-finite boxes aside, low is already in range; the clamp keeps every gather in bounds anyway.
    low = g.minimum(g.maximum(g.cast(low_f, trt.int32, f"{axis}_low_i32"), zero_i, f"{axis}_low_ge0"), last_i, f"{axis}_low")
    high = g.minimum(g.add(low, g.const(1, np.int32, (1, 1, 1, 1)), f"{axis}_plus1"), last_i, f"{axis}_high")
    return valid, low, high, frac_low, frac_high


def _sample_bins(g: _Net, geo: _Geometry, table, ys, xs, points: Tuple[int, int], box_mask=None):
    """Sum of the bilinear samples at y (N, P, 1, 1) x x (N, 1, Q, 1): an (N, P, Q, C) float32 tensor.

    ``ys``/``xs`` are the per-axis tuples from :func:`_axis_samples`; invalid samples (and, when
    given, boxes masked out by ``box_mask`` (N, 1, 1, 1) bool) contribute exactly 0 through a select,
    so non-finite features next to the border cannot leak into them.
    """
    vy, y0, y1, wy0, wy1 = ys
    vx, x0, x1, wx0, wx1 = xs
    rows = g.mul(geo.batch_index, geo.plane, "batch_offset")  # (N, 1, 1, 1)
    row_low = g.add(rows, g.mul(y0, geo.width, "y0_stride"), "row_y0")
    row_high = g.add(rows, g.mul(y1, geo.width, "y1_stride"), "row_y1")
    points_p, points_q = points
    total = None
    for row, wy, ytag in ((row_low, wy0, "y0"), (row_high, wy1, "y1")):
        for col, wx, xtag in ((x0, wx0, "x0"), (x1, wx1, "x1")):
            flat = g.add(row, col, f"index_{ytag}{xtag}")  # (N, P, Q, 1)
            flat = g.reshape(flat, (0, points_p, points_q), f"index_{ytag}{xtag}_3d")
            values = g.gather(table, flat, 0, f"gather_{ytag}{xtag}")  # (N, P, Q, C)
            values = g.cast(values, trt.float32, f"gathered_f32_{ytag}{xtag}")
            weight = g.mul(wy, wx, f"weight_{ytag}{xtag}")  # (N, P, Q, 1)
            term = g.mul(values, weight, f"term_{ytag}{xtag}")
            total = term if total is None else g.add(total, term, "corner_sum")
    valid = g.binary(vy, vx, E.AND, "sample_valid")  # (N, P, Q, 1)
    if box_mask is not None:
        valid = g.binary(valid, box_mask, E.AND, "sample_in_grid")
    zero = g.const(0.0, shape=(1, 1, 1, 1))
    return g.select(valid, total, zero, "mask_invalid")


def _fixed_grid(g: _Net, geo: _Geometry, table, sampling_ratio: int):
    """(N, PH, PW, C) sums over a static sampling_ratio x sampling_ratio grid per bin."""
    ph, pw, s = geo.pooled_h, geo.pooled_w, sampling_ratio
    bins_y = np.repeat(np.arange(ph, dtype=np.float32), s).reshape(1, ph * s, 1, 1)
    steps_y = np.tile(np.arange(s, dtype=np.float32) + 0.5, ph).reshape(1, ph * s, 1, 1)
    bins_x = np.repeat(np.arange(pw, dtype=np.float32), s).reshape(1, 1, pw * s, 1)
    steps_x = np.tile(np.arange(s, dtype=np.float32) + 0.5, pw).reshape(1, 1, pw * s, 1)
    grid = g.const(float(s), shape=(1, 1, 1, 1))
    ys = _axis_samples(g, geo.start_h, geo.bin_h, grid, g.const(bins_y), g.const(steps_y), geo.height_f, geo.height, "y")
    xs = _axis_samples(g, geo.start_w, geo.bin_w, grid, g.const(bins_x), g.const(steps_x), geo.width_f, geo.width, "x")
    samples = _sample_bins(g, geo, table, ys, xs, (ph * s, pw * s))
    channels = table.shape[1]
    grouped = g.reshape(samples, (0, ph, s, pw, s, channels), "group_bins")
    return g.reduce(grouped, trt.ReduceOperation.SUM, (2, 4), False, "sum_grid")


def _adaptive_grid(g: _Net, geo: _Geometry, table):
    """(N, PH, PW, C) sums over each box's own ceil(size / pooled) grid, with a run-time-bounded ILoop."""
    ph, pw = geo.pooled_h, geo.pooled_w
    zero = g.const(0.0, shape=(1, 1, 1, 1))
    one = g.const(1.0, shape=(1, 1, 1, 1))
    big = g.const(_GRID_CAP, shape=(1, 1, 1, 1))

    def largest(grid, what):
        # Max over the boxes and 0, as a (1, 1, 1, 1) tensor: the extra 0 row keeps the reduction
        # defined for N = 0 (a max over an empty axis has no value) and floors empty grids at 0.
        concat = g.net.add_concatenation([grid, zero])
        concat.axis = 0
        rows = g._named(concat, f"{what}_with0")
        top = g.reduce(rows, trt.ReduceOperation.MAX, (0,), True, what)
        return g.minimum(top, big, f"{what}_clamp")

    max_gh = largest(geo.grid_h, "max_grid_h")
    max_gw = largest(geo.grid_w, "max_grid_w")
    trips = g.minimum(g.mul(max_gh, max_gw, "trips_f"), big, "trips_clamp")
    trips_i = g.reshape(g.cast(trips, trt.int32, "trips_i32"), (), "trips_scalar")
    stride_i = g.cast(g.maximum(max_gw, one, "gw_stride_ge1"), trt.int32, "gw_stride_i32")  # (1,1,1,1)

    channels = table.shape[1]
    # Zero accumulator of shape (N, PH, PW, C): a select broadcasts its dynamic N without a fill.
    box_true = g.binary(geo.bin_h, geo.bin_h, E.EQUAL, "box_rows")  # (N,1,1,1); value irrelevant
    acc_zero = g.const(np.zeros((1, ph, pw, channels), np.float32))
    acc_init = g.select(box_true, acc_zero, acc_zero, "acc_init")

    loop = g.net.add_loop()
    name_layer(loop, g.prefix, "loop")
    counter = loop.add_recurrence(g.const(0, np.int32, ()))
    name_layer(counter, g.prefix, "counter")
    acc = loop.add_recurrence(acc_init)
    name_layer(acc, g.prefix, "acc")
    t = counter.get_output(0)
    loop.add_trip_limit(g.binary(t, trips_i, E.LESS, "continue"), trt.TripLimit.WHILE)

    t4 = g.reshape(t, (1, 1, 1, 1), "t_4d")
    iy_i = g.binary(t4, stride_i, E.FLOOR_DIV, "iy")
    ix_i = g.sub(t4, g.mul(iy_i, stride_i, "iy_stride"), "ix")
    iy = g.cast(iy_i, trt.float32, "iy_f32")
    ix = g.cast(ix_i, trt.float32, "ix_f32")
    half = g.const(0.5, shape=(1, 1, 1, 1))
    in_grid = g.binary(
        g.binary(iy, geo.grid_h, E.LESS, "iy_in_box"),
        g.binary(ix, geo.grid_w, E.LESS, "ix_in_box"),
        E.AND,
        "in_box_grid",
    )  # (N, 1, 1, 1)
    # Boxes with an empty grid are masked; a safe divisor keeps their coordinates finite.
    safe_gh = g.maximum(geo.grid_h, one, "gh_safe")
    safe_gw = g.maximum(geo.grid_w, one, "gw_safe")
    bins_y = g.const(np.arange(ph, dtype=np.float32).reshape(1, ph, 1, 1))
    bins_x = g.const(np.arange(pw, dtype=np.float32).reshape(1, 1, pw, 1))
    ys = _axis_samples(g, geo.start_h, geo.bin_h, safe_gh, bins_y, g.add(iy, half, "iy_mid"), geo.height_f, geo.height, "y")
    xs = _axis_samples(g, geo.start_w, geo.bin_w, safe_gw, bins_x, g.add(ix, half, "ix_mid"), geo.width_f, geo.width, "x")
    samples = _sample_bins(g, geo, table, ys, xs, (ph, pw), box_mask=in_grid)
    acc.set_input(1, g.add(acc.get_output(0), samples, "accumulate"))
    counter.set_input(1, g.add(t, g.const(1, np.int32, ()), "t_next"))
    out = loop.add_loop_output(acc.get_output(0), trt.LoopOutput.LAST_VALUE)
    name_layer(out, g.prefix, "loop_out")
    return out.get_output(0)


@registered(ROI_ALIGN_OP)
def convert_roi_align(ctx: Any, target: Any, args: Tuple[Any, ...], kwargs: Dict[str, Any], name: str):
    """torchvision::roi_align -> native TensorRT layers (see the module docstring for semantics)."""
    features, rois, scale, pooled_h, pooled_w, sampling_ratio, aligned = _check_args(ctx, target, args, kwargs, name)
    node = converting_node(ctx)
    g = _Net(ctx, node.name if node is not None else name.lstrip("/"))
    channels = features.shape[1]
    # (B, C, H, W) -> (B*H*W, C) table: one row per pixel, so a corner is one row gather.
    table = g.transpose(features, (0, 2, 3, 1), "nhwc")
    table = g.reshape(table, (-1, channels), "pixel_table")
    geo = _Geometry(g, features, rois, scale, pooled_h, pooled_w, sampling_ratio, aligned)
    if sampling_ratio > 0:
        sums = _fixed_grid(g, geo, table, sampling_ratio)
    else:
        sums = _adaptive_grid(g, geo, table)
    pooled = g.div(sums, geo.count(sampling_ratio), "average")  # (N, PH, PW, C)
    out = g.transpose(pooled, (0, 3, 1, 2), "nchw")
    return g.cast(out, features.dtype, "output_dtype")


__all__ = ["convert_roi_align", "count_roi_align_layers", "LAYER_PREFIX", "ROI_ALIGN_OP"]
