"""Converters of reshape/expand/unflatten/repeat/select with runtime shapes."""

import torch

from trt_dyn.testing.harness import run_converter_test

ops = torch.ops.trt_dyn


class Views(torch.nn.Module):
    def forward(self, x):
        n, c, h, w = (ops.sym_size_dyn(x, d) for d in range(4))
        flat = ops.reshape_dyn(x, ops.shape_cat_dyn([n, ops.const([-1]), w]))
        split_h = ops.unflatten_dyn(x, 2, ops.shape_cat_dyn([ops.const([1]), h]))
        split_w = ops.unflatten_dyn(x, -1, ops.shape_cat_dyn([ops.const([-1]), ops.const([1])]))
        column = ops.select_dyn(x, 3, ops.const_scalar(0))
        last_row = ops.select_dyn(x, 2, ops.sub_dyn(h, ops.const_scalar(1)))
        from_end = ops.select_dyn(x, 2, ops.neg_dyn(h))  # index -h wraps to 0
        # expand a size-1 dim to the runtime width, keep others (-1), add a leading dim
        first_col = ops.select_dyn(x, 3, ops.const_scalar(0)).unsqueeze(-1)
        wide = ops.expand_dyn(first_col, ops.shape_cat_dyn([ops.const([2, -1, -1, -1]), w]))
        tiled = ops.repeat_dyn(x, ops.shape_cat_dyn([ops.const([1, 2]), ops.const([1]), w]))
        grown = ops.repeat_dyn(column, ops.shape_cat_dyn([ops.const([2]), h, ops.const([1, 1])]))
        return flat, split_h, split_w, column, last_row, from_end, wide, tiled, grown


def test_views_match_eager_across_ranges():
    run_converter_test(Views(), (torch.randn(2, 3, 5, 4),), {"x": {0: (1, 3), 2: (1, 7), 3: (2, 6)}})


class ZeroSizedReshape(torch.nn.Module):
    """A runtime 0 in the target shape is a real empty dim (not a copy-the-input placeholder)."""

    def forward(self, x):
        rows = ops.sub_dyn(ops.sym_size_dyn(x, 0), ops.const_scalar(1))
        empty = ops.reshape_dyn(ops.slice_dyn(x, 0, ops.const_scalar(0), rows), ops.shape_cat_dyn([rows, ops.const([-1])]))
        return empty + 1


def test_reshape_zero_is_empty_dim():
    # a batch of 1 specialises (export raises the minimum to 2)
    run_converter_test(ZeroSizedReshape(), (torch.randn(3, 4, 2),), {"x": {0: (2, 5)}})
