"""Converters of full/zeros/ones/new_*/arange/linspace with runtime sizes."""

import torch

from trt_dyn.testing.harness import run_converter_test

ops = torch.ops.trt_dyn


class Factories(torch.nn.Module):
    def forward(self, x):
        n, h, w = (ops.sym_size_dyn(x, d) for d in range(3))
        shape = ops.shape_cat_dyn([h, w])
        return (
            ops.full_dyn(shape, 2.5) + x[0],
            ops.full_dyn(ops.shape_cat_dyn([n]), 7),                      # int64 by inference
            ops.full_dyn(shape, True),                                    # bool
            ops.zeros_dyn(ops.shape_cat_dyn([ops.const([2]), w]), dtype=torch.int32),
            ops.ones_dyn(shape),
            ops.new_full_dyn(x, ops.shape_cat_dyn([w, n]), -3.0),
            ops.new_zeros_dyn(x, shape, dtype=torch.int64),
            ops.new_ones_dyn(x.to(torch.float16), shape),
            ops.full_dyn(ops.const([]), 4.0),                             # 0-d
        )


def test_filled_factories_match_eager():
    run_converter_test(Factories(), (torch.randn(2, 3, 5),), {"x": {0: (1, 4), 1: (1, 6), 2: (2, 9)}})


class Ranges(torch.nn.Module):
    def forward(self, x):
        n, w = ops.sym_size_dyn(x, 0), ops.sym_size_dyn(x, 1)
        zero, one = ops.const_scalar(0), ops.const_scalar(1)
        return (
            ops.arange_dyn(zero, w, one),
            ops.arange_dyn(ops.neg_dyn(n), w, ops.const_scalar(3)),        # uneven step
            ops.arange_dyn(w, ops.neg_dyn(n), ops.const_scalar(-2)),       # descending
            ops.arange_dyn(zero, w, one, dtype=torch.float32),
            ops.arange_dyn(ops.const_scalar(0.5), ops.float_dyn(w), ops.const_scalar(0.75)),
            ops.linspace_dyn(ops.const_scalar(-1.0), ops.float_dyn(w), w),
            ops.linspace_dyn(ops.const_scalar(0.0), ops.const_scalar(1.0), n),  # n may be 1
        )


def test_arange_and_linspace_match_eager():
    run_converter_test(Ranges(), (torch.randn(3, 5),), {"x": {0: (1, 6), 1: (1, 12)}},
                       tolerances={torch.float32: (1e-5, 1e-5)})


class SymbolicFill(torch.nn.Module):
    """torchvision's anchor generator: ``torch.empty((), dtype=int64).fill_(image_size // grid_size)`` becomes
    ``aten.full([], s0 // g)``; also a float fill and a non-empty shape."""

    def forward(self, x):
        h, w = x.shape[-2:]
        stride = torch.empty((), dtype=torch.int64).fill_(h // ((h - 1) // 4 + 1))
        return (stride, torch.full((2, w), w * 0.5), torch.full((3,), h + 1, dtype=torch.float32) * x.sum())


def test_full_with_symbolic_fill_value():
    """Reported missing before ('full_dyn takes fill_value as a static value')."""
    from trt_dyn.testing.harness import run_converter_test

    run_converter_test(SymbolicFill(), (torch.randn(1, 9, 13),), {"x": {1: (4, 20), 2: (3, 17)}})
