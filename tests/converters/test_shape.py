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


class SizesOfDims(torch.nn.Module):
    """sym_sizes_dyn over all dims, some, negative ones, only the static one and none, each summed into the output so
    that every value is read."""

    def forward(self, x):
        return (
            ops.sym_sizes_dyn(x, [0, 1, 2]),
            ops.sym_sizes_dyn(x, [-1, 0]),
            ops.sym_sizes_dyn(x, [-2]),
            ops.sym_sizes_dyn(x, [2, 0, -2]),
            ops.sym_sizes_dyn(x, []),
        )


def test_sym_sizes_match_eager():
    result = run_converter_test(SizesOfDims(), (torch.randn(2, 5, 7),), {"x": {0: (1, 4), 2: (3, 11)}})
    assert len(result.points) >= 4
    assert result.layer_types["SHAPE"] == 1  # one read of x's shape for every dynamic size


class StaticSizesOfDynamicTensor(torch.nn.Module):
    def forward(self, x):
        return x * 2, ops.sym_sizes_dyn(x, [-2]), ops.sym_sizes_dyn(x, [1, 1])


def test_static_sizes_of_a_dynamic_tensor_read_no_shape():
    """x's dim 1 is static: its size is a constant, with no SHAPE layer of x built beside it to go unread."""
    from trt_dyn.testing.harness import dead_layers

    result = run_converter_test(StaticSizesOfDynamicTensor(), (torch.randn(2, 5, 7),), {"x": {0: (1, 4), 2: (3, 11)}})
    (network,) = result.networks
    assert not dead_layers(network)
    assert result.layer_types["SHAPE"] == 0


def test_sym_sizes_out_of_range_refused_with_op_dims_and_rank():
    import pytest
    from torch_tensorrt.dynamo.conversion._ConversionContext import ConversionContext

    from trt_dyn._trt import trt
    from trt_dyn.converters.errors import ConverterError
    from trt_dyn.converters.shape import convert_sym_sizes_dyn

    network = trt.Builder(trt.Logger(trt.Logger.ERROR)).create_network(
        1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED))
    x = network.add_input("x", trt.float32, (-1, 3))
    with pytest.raises(ConverterError) as caught:
        convert_sym_sizes_dyn(ConversionContext(network), ops.sym_sizes_dyn.default, (x, [0, -3]), {}, "sizes")
    assert "sym_sizes_dyn" in str(caught.value) and "sizes" in str(caught.value)
    assert "dims [0, -3] are out of range for rank 2" in str(caught.value)
    assert network.num_layers == 0
