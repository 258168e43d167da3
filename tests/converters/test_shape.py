"""Converters of the shape producers: size/sym_size/numel/const/const_scalar/shape_cat_dyn."""

import torch

from trt_dyn.testing.harness import run_converter_test

ops = torch.ops.trt_dyn


class ShapeProducers(torch.nn.Module):
    def forward(self, x):
        return (
            ops.size_dyn(x),
            ops.sym_size_dyn(x, 1),
            ops.sym_size_dyn(x, -1),
            ops.numel_dyn(x),
            ops.shape_cat_dyn([ops.sym_size_dyn(x, 2), ops.const([4, -1]), ops.size_dyn(x)]),
            ops.add_dyn(ops.const_scalar(5), ops.sym_size_dyn(x, 0)),
            ops.mul_dyn(ops.const_scalar(0.5), ops.float_dyn(ops.sym_size_dyn(x, 2))),
        )


def test_shape_producers_match_eager_across_ranges():
    result = run_converter_test(ShapeProducers(), (torch.randn(2, 5, 7),), {"x": {0: (1, 4), 1: (2, 9), 2: (3, 11)}})
    assert len(result.points) >= 4


class ReshapeBySizes(torch.nn.Module):
    """Shape values flowing into a data op: flatten the last two dims through a computed shape."""

    def forward(self, x):
        rows = ops.mul_dyn(ops.sym_size_dyn(x, 1), ops.sym_size_dyn(x, 2))
        shape = ops.shape_cat_dyn([ops.sym_size_dyn(x, 0), rows])
        return ops.reshape_dyn(x, shape) * ops.numel_dyn(x).to(torch.float32)


def test_shape_values_drive_reshape():
    run_converter_test(ReshapeBySizes(), (torch.randn(2, 5, 7),), {"x": {1: (1, 9), 2: (3, 11)}})
