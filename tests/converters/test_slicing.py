"""Converters of slice/narrow/split/pad with runtime bounds."""

import torch

from trt_dyn.testing.harness import run_converter_test

ops = torch.ops.trt_dyn

INT64_MAX = 2**63 - 1


class Slices(torch.nn.Module):
    def forward(self, x):
        h, w = ops.sym_size_dyn(x, 1), ops.sym_size_dyn(x, 2)
        half = ops.floordiv_dyn(w, ops.const_scalar(2))
        return (
            ops.slice_dyn(x, 2, half, ops.const_scalar(INT64_MAX)),                 # omitted end
            ops.slice_dyn(x, 1, ops.const_scalar(-3), ops.const_scalar(-1)),        # negative, clamped
            ops.slice_dyn(x, -1, ops.const_scalar(1), w, 2),                        # step 2, odd sizes
            ops.slice_dyn(x, 1, ops.const_scalar(-100), ops.const_scalar(100), 3),  # clamps both ends
            ops.slice_dyn(x, 2, w, ops.const_scalar(0)),                            # empty
            ops.narrow_dyn(x, 2, ops.const_scalar(1), ops.sub_dyn(w, ops.const_scalar(1))),
            ops.narrow_dyn(x, 1, ops.neg_dyn(h), h),                                # negative start wraps
        )


def test_slices_match_aten_bounds():
    # export raises the minima to where no output length is 0 or 1 for every size (x[:, -3:-1] at h < 3,
    # w - w // 2 at w < 2): the ranges are the ones export keeps
    run_converter_test(Slices(), (torch.randn(2, 5, 7),), {"x": {1: (3, 9), 2: (2, 12)}})


class Split(torch.nn.Module):
    """Sizes ``w // 3``, 1 and the rest along dim 1 (also the harness's export-fallback subject in
    tests/testing/test_harness.py)."""

    def forward(self, x):
        w = ops.sym_size_dyn(x, 1)
        first = ops.floordiv_dyn(w, ops.const_scalar(3))
        rest = ops.sub_dyn(w, ops.add_dyn(first, ops.const_scalar(1)))
        return tuple(ops.split_dyn(x, ops.shape_cat_dyn([first, ops.const([1]), rest]), 1))


def test_split_at_runtime_offsets():
    # sizes 0/1 specialise: batch and width start at 2
    run_converter_test(Split(), (torch.randn(3, 7, 2),), {"x": {0: (2, 4), 1: (2, 13)}})


class Pad(torch.nn.Module):
    def forward(self, x):
        h = ops.sym_size_dyn(x, 2)
        crop = ops.neg_dyn(ops.floordiv_dyn(h, ops.const_scalar(3)))   # negative pad crops
        return (
            ops.pad_dyn(x, ops.shape_cat_dyn([ops.const([1, 2]), ops.const_scalar(0), h]), 0.5),
            ops.pad_dyn(x, ops.shape_cat_dyn([ops.const([0, 0]), crop, ops.const([1])])),
            ops.pad_dyn(x, ops.const([1, 1, 0, 2, 3, 0]), -1.0),
            ops.pad_dyn(x.to(torch.int32), ops.const([2, 0]), 7.0),
        )


def test_constant_pad_and_crop():
    # sizes 0/1 specialise: h and w start at 2
    run_converter_test(Pad(), (torch.randn(2, 3, 5, 4),), {"x": {2: (2, 8), 3: (2, 6)}})


class StaticBoundsOnDataDependentDim(torch.nn.Module):
    """``kept[:K]`` / ``kept[1:K]`` of a data-dependent row count (``keep[:detections_per_img]``):
    aten clamps the bounds to the run-time size (torch.export guards nothing for unbacked sizes)."""

    def forward(self, x):
        kept = x[x[:, 0] > 0]
        return kept[:3] * 2.0, kept[1:4]


def test_static_slice_bounds_clamp_on_dynamic_dim():
    run_converter_test(StaticBoundsOnDataDependentDim(), (torch.randn(9, 3),), {"x": {0: (1, 12)}},
                       extra_points=[{"x": (n, 3)} for n in (2, 3, 4, 5, 6, 9)])


class ShiftMask(torch.nn.Module):
    """Swin's shift mask as torchvision writes it: static (negative) slice bounds assigned into a tensor whose
    size is the dynamic image size. Exports to ``aten.slice`` + ``aten.slice_scatter`` with int bounds on
    symbolic dims; upstream's converters took the dynamic dim (-1) for the size (negative-length slices)."""

    def forward(self, x):
        mask = x.new_zeros(x.shape[1], x.shape[2])
        label = 0
        for rows in ((0, -7), (-7, -3), (-3, None)):
            for cols in ((0, -7), (-7, -3), (-3, None)):
                mask[rows[0]:rows[1], cols[0]:cols[1]] = label
                label += 1
        mask[1:3, 2:-1] = -1.0
        return x + mask, x[:, -7:-3, -3:] * 2.0, x[:, 2:-5]


def test_slice_assignment_with_static_bounds_into_dynamic_tensor():
    # Export keeps [7, 20]; torch_tensorrt's compile refuses h, w < 9: its run_decompositions retraces
    # ``mask[:-7, :-7] = 0`` (a fill_ of an (h - 7) x (w - 7) slice), guards that length against 0 and 1 and
    # so narrows the shape env to [9, 20], then rejects the min of 7 as below the program's range.
    run_converter_test(ShiftMask(), (torch.randn(2, 11, 13),), {"x": {1: (9, 20), 2: (9, 20)}})
