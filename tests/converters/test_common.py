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
