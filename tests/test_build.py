"""Serialized TensorRT engines built on the CPU for dynamic-shape graphs, with the requested profiles."""

import pytest
import torch
from torch.export import Dim

import trt_dyn
from trt_dyn.build import build_engine
from trt_dyn.inputs import InputSpecError, resolve_inputs


class ConvNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.bn = torch.nn.BatchNorm2d(8)

    def forward(self, x):
        return torch.relu(self.bn(self.conv(x))).mean(dim=(2, 3))


class TokenMLP(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = torch.nn.Linear(16, 32)
        self.fc2 = torch.nn.Linear(32, 4)

    def forward(self, tokens):
        return self.fc2(torch.nn.functional.gelu(self.fc1(tokens))).softmax(-1)


class TwoImages(torch.nn.Module):
    def forward(self, a, b):
        torch._check(a.shape[2] >= 8)
        torch._check(a.shape[2] <= 64)
        torch._check(a.shape[3] >= 8)
        torch._check(a.shape[3] <= 48)
        return torch.nn.functional.max_pool2d(a * 2 + b, 2)


def _dim_ranges_graph():
    batch = Dim("batch", min=1, max=16)
    ep = torch.export.export(ConvNet().eval(), (torch.randn(4, 3, 20, 20),), dynamic_shapes=({0: batch},))
    expected = {"x": ((1, 3, 20, 20), (4, 3, 20, 20), (16, 3, 20, 20))}
    return ep, None, expected


def _explicit_input_spec_graph():
    seq = Dim("seq", min=1, max=512)
    ep = torch.export.export(TokenMLP().eval(), (torch.randn(2, 10, 16),), dynamic_shapes=({1: seq},))
    spec = trt_dyn.torch_tensorrt.Input(
        min_shape=(2, 3, 16), opt_shape=(2, 77, 16), max_shape=(2, 300, 16), dtype=torch.float32
    )
    return ep, [spec], {"tokens": ((2, 3, 16), (2, 77, 16), (2, 300, 16))}


def _auto_dims_graph():
    example = (torch.randn(1, 4, 32, 24), torch.randn(1, 4, 32, 24))
    auto = {2: Dim.AUTO, 3: Dim.AUTO}
    ep = torch.export.export(TwoImages(), example, dynamic_shapes=(auto, auto))
    shape = ((1, 4, 8, 8), (1, 4, 32, 24), (1, 4, 64, 48))
    return ep, None, {"a": shape, "b": shape}


@pytest.mark.parametrize(
    "make_graph", [_dim_ranges_graph, _explicit_input_spec_graph, _auto_dims_graph], ids=lambda f: f.__name__
)
def test_engine_built_on_cpu_with_requested_profile(make_graph, tmp_path):
    ep, arg_inputs, expected_profile = make_graph()
    built = build_engine(ep, arg_inputs)
    assert len(built.serialized_engine) > 1000
    assert built.profiles == [expected_profile]
    assert built.num_layers > 0
    path = tmp_path / "model.engine"
    assert built.save(str(path)) == path.stat().st_size == len(built.serialized_engine)


def test_profile_follows_export_ranges_not_example():
    ep, _, _ = _dim_ranges_graph()
    (spec,) = resolve_inputs(ep)
    assert tuple(spec.shape["min_shape"]) == (1, 3, 20, 20)
    assert tuple(spec.shape["max_shape"]) == (16, 3, 20, 20)


@pytest.mark.parametrize(
    "spec, message",
    [
        ({"min": (8, 3, 20, 20), "opt": (4, 3, 20, 20), "max": (2, 3, 20, 20)}, "min <= opt <= max"),
        ({"min": (1, 3, 20), "opt": (2, 3, 20), "max": (4, 3, 20)}, "rank 3 does not match"),
        ({"shape": (2, 3, 20, 20), "dtype": "float33"}, "invalid specification"),
        ({"shape": (2, 3, 20, 20), "dtype": torch.complex64}, "unsupported dtype"),
        ({"min": (1, 3, 20, 20), "opt": (4, 3, 20, 20), "max": (64, 3, 20, 20)}, "leaves the exported dynamic range"),
        ({"shape": (2, 3, 21, 20)}, "leaves the exported static range"),
        ({"shape": (2, 3, 20, 20), "dtype": torch.float16}, "does not match the exported program's torch.float32"),
    ],
    ids=["min_gt_max", "rank", "unknown_dtype", "unsupported_dtype", "beyond_export", "static_dim", "dtype_mismatch"],
)
def test_bad_input_spec_names_the_input(spec, message):
    ep, _, _ = _dim_ranges_graph()
    with pytest.raises(InputSpecError) as info:
        build_engine(ep, [spec])
    assert "input 'x'" in str(info.value)
    assert message in str(info.value)


def test_torch_tensorrt_input_with_inverted_range_is_rejected():
    ep, _, _ = _dim_ranges_graph()
    spec = trt_dyn.torch_tensorrt.Input(
        min_shape=(8, 3, 20, 20), opt_shape=(4, 3, 20, 20), max_shape=(2, 3, 20, 20), dtype=torch.float32
    )
    with pytest.raises(InputSpecError, match=r"input 'x': dim 0: need min <= opt <= max"):
        resolve_inputs(ep, [spec])


def test_unbounded_dim_asks_for_a_maximum():
    ep = torch.export.export(
        TokenMLP().eval(), (torch.randn(2, 10, 16),), dynamic_shapes=({1: Dim.AUTO},)
    )
    with pytest.raises(InputSpecError, match=r"input 'tokens': dim 1 has no upper bound"):
        resolve_inputs(ep)
