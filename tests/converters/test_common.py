"""``trt_dyn.converters.common.registered``: every converter of the package is registered through it, so whatever a
converter raises reaches the user naming the op, the node and the user's source line."""

import pytest
import torch
from torch_tensorrt.dynamo.conversion._ConverterRegistry import DYNAMO_ATEN_CONVERTERS

import trt_dyn  # noqa: F401  (registers the converters)
from trt_dyn.converters import common, shape
from trt_dyn.converters.errors import ConverterError, find_converter_error
from trt_dyn.ops import ALL_OPS

ops = torch.ops.trt_dyn


def _ours():
    return [(str(target), entry.converter_implementation) for target, entries in DYNAMO_ATEN_CONVERTERS.items()
            for entry in entries if entry.converter_implementation.__module__.startswith("trt_dyn.")]


def test_every_converter_of_the_package_goes_through_registered():
    ours = _ours()
    # the trt_dyn ops, and the aten / torchvision ops the package converts itself (roi_align, nms, nonzero, ...)
    assert len(ours) > len(ALL_OPS)
    assert {"torchvision.roi_align.default", "torchvision.nms.default", "aten.nonzero.default"} <= \
        {target for target, _ in ours}
    elsewhere = [(target, converter.__code__.co_filename) for target, converter in ours
                 if converter.__code__.co_filename != common.__file__]
    assert elsewhere == []


class Numel(torch.nn.Module):
    def forward(self, x):
        return ops.numel_dyn(x) + x.sum().long()


def test_an_error_a_converter_does_not_expect_names_op_node_and_source_line(monkeypatch):
    from trt_dyn.build import build_engine

    def refuse(*args, **kwargs):
        raise ValueError("refused by the network")

    monkeypatch.setattr(shape, "shape_binary", refuse)  # what numel_dyn's converter multiplies the sizes with
    x = torch.randn(3, 4)
    dims = {"x": {0: torch.export.Dim("n", min=2, max=9), 1: torch.export.Dim("m", min=2, max=9)}}
    program = torch.export.export(Numel(), (x,), dynamic_shapes=dims, strict=False)
    with pytest.raises(Exception) as info:
        build_engine(program)
    error = find_converter_error(info.value)
    assert isinstance(error, ConverterError)
    assert error.op == "trt_dyn.numel_dyn.default" and error.node_name.startswith("numel_dyn")
    assert "test_common.py" in error.source and "ops.numel_dyn(x)" in error.source
    assert "ValueError: refused by the network" in str(error)
    assert isinstance(error.__cause__, ValueError)


def _network_with_input():
    from torch_tensorrt.dynamo.conversion._ConversionContext import ConversionContext

    from trt_dyn._trt import trt

    network = trt.Builder(trt.Logger(trt.Logger.ERROR)).create_network(
        1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED))
    return ConversionContext(network), network.add_input("x", trt.float32, (-1, 3, -1))


@pytest.mark.parametrize("converter, op_name, args, bad", [
    ("slicing.convert_narrow_dyn", "narrow_dyn", lambda x, bad: (x, 0, bad, 1), "start"),
    ("slicing.convert_slice_dyn", "slice_dyn", lambda x, bad: (x, 0, 0, bad, 1), "end"),
    ("creation.convert_arange_dyn", "arange_dyn", lambda x, bad: (torch.tensor(0), bad, torch.tensor(1)), "end"),
])
def test_a_shape_value_of_the_wrong_rank_is_refused_naming_the_argument(converter, op_name, args, bad):
    import importlib

    from trt_dyn.converters import shape_tensor

    ctx, x = _network_with_input()
    three_sizes = shape_tensor.shape_of(ctx, x, "shape")  # a 1-d shape value where one size belongs
    module_name, function = converter.split(".")
    convert = getattr(importlib.import_module(f"trt_dyn.converters.{module_name}"), function)
    target = getattr(ops, op_name).default
    with pytest.raises(ConverterError) as info:
        convert(ctx, target, args(x, three_sizes), {}, "node_1")
    assert info.value.op == str(target)
    assert f"node_1/{bad}" in str(info.value) and "(3,)" in str(info.value)


class DivisorOverride(torch.nn.Module):
    def forward(self, x):
        y = torch.relu(x)
        return torch.nn.functional.avg_pool2d(y, 2, ceil_mode=True, divisor_override=3) + 1


@pytest.mark.parametrize("use_fast_partitioner", [True, False])
def test_full_compilation_refused_names_the_nodes_no_converter_accepts(use_fast_partitioner):
    """torch_tensorrt's partitioners say only "model is not fully supported"; the error now names each node no
    converter accepts, with its op and the user's source line (no converter takes a divisor override)."""
    from trt_dyn.testing import compile_cpu

    program = torch.export.export(DivisorOverride(), (torch.randn(1, 2, 7, 9),), strict=False)
    with pytest.raises(AssertionError, match="not fully supported") as info:
        compile_cpu(program, require_full_compilation=True, min_block_size=1,
                    use_fast_partitioner=use_fast_partitioner)
    message = str(info.value)
    assert "aten.avg_pool2d.default (node avg_pool2d" in message
    assert "test_common.py" in message and "divisor_override=3" in message
    assert "aten.relu" not in message and "aten.add" not in message  # converted nodes are not listed
