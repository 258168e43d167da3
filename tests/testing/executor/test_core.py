"""execute_network itself: input checks, output order, unsupported layers, caching, dtype checks,
and a network converted by torch_tensorrt (trt_dyn.build.build_engine) against eager PyTorch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from trt_dyn._trt import trt
from trt_dyn.testing.executor import (
    LAYER_EXECUTORS,
    ExecutorInputError,
    LayerExecutionError,
    NetworkExecutor,
    UnsupportedLayerError,
    execute_network,
)

from ._netutil import Net, assert_close, rand

E = trt.ElementWiseOperation


def _two_output_net():
    net = Net()
    x = net.input("x", torch.float32, (-1, 3), (1, 3), (4, 3))
    y = net.input("y", torch.int32, (2,))
    a = net.network.add_unary(x, trt.UnaryOperation.EXP)
    b = net.network.add_unary(x, trt.UnaryOperation.NEG)
    b.get_output(0).name = "first"
    a.get_output(0).name = "second"
    net.output(b.get_output(0), a.get_output(0))
    yid = net.network.add_identity(y).get_output(0)
    yid.name = "y_out"
    net.output(yid)
    return net


def test_outputs_keyed_by_name_in_network_order():
    net = _two_output_net()
    out = net.run(x=torch.ones(2, 3), y=torch.tensor([4, 5], dtype=torch.int32))
    assert list(out) == ["first", "second", "y_out"]
    assert_close(out["first"], -np.ones((2, 3), np.float32))
    assert_close(out["y_out"], [4, 5])


@pytest.mark.parametrize(
    "feeds,match",
    [
        ({"x": torch.ones(2, 3)}, "'y': missing"),
        ({"x": torch.ones(2, 3), "y": torch.ones(2, dtype=torch.int32), "z": torch.ones(1)}, "'z': not an input"),
        ({"x": torch.ones(2, 3, dtype=torch.float16), "y": torch.ones(2, dtype=torch.int32)}, "'x': dtype"),
        ({"x": torch.ones(2, 4), "y": torch.ones(2, dtype=torch.int32)}, "'x': shape"),
        ({"x": torch.ones(3), "y": torch.ones(2, dtype=torch.int32)}, "'x': shape"),
        ({"x": np.ones((2, 3), np.float32), "y": torch.ones(2, dtype=torch.int32)}, "'x': expected a torch.Tensor"),
    ],
    ids=["missing", "unknown", "dtype", "static-dim", "rank", "not-a-tensor"],
)
def test_input_checks_name_the_input(feeds, match):
    net = _two_output_net()
    with pytest.raises(ExecutorInputError, match=match):
        execute_network(net.network, feeds)


def test_unsupported_layer_type_names_type_and_layer():
    net = Net()
    x = net.input("x", torch.float32, (1, 3, 4, 4))
    lrn = net.network.add_lrn(x, 3, 1e-4, 0.75, 1.0)
    lrn.name = "my_lrn"
    net.output(lrn.get_output(0))
    with pytest.raises(UnsupportedLayerError, match="LRN.*my_lrn") as info:
        net.run(x=torch.ones(1, 3, 4, 4))
    assert info.value.layer_name == "my_lrn"
    assert info.value.layer_type == trt.LayerType.LRN


def test_unsupported_mode_names_layer_and_mode():
    net = Net()
    x = net.input("x", torch.float32, (4,))
    layer = net.network.add_fill((4,), trt.FillOperation.RANDOM_NORMAL, trt.float32)
    layer.name = "rnd"
    s = net.network.add_elementwise(x, layer.get_output(0), E.SUM)
    net.output(s.get_output(0))
    with pytest.raises(UnsupportedLayerError) as info:
        net.run(x=torch.ones(4))
    message = str(info.value)
    assert "FILL" in message and "RANDOM_NORMAL" in message and "rnd" in message


def test_registry_covers_the_required_layer_types():
    L = trt.LayerType
    required = {
        L.ACTIVATION, L.CAST, L.CONCATENATION, L.CONSTANT, L.CONVOLUTION, L.DECONVOLUTION, L.CUMULATIVE,
        L.EINSUM, L.ELEMENTWISE, L.FILL, L.GATHER, L.GRID_SAMPLE, L.IDENTITY, L.MATRIX_MULTIPLY,
        L.NON_ZERO, L.NORMALIZATION, L.ONE_HOT, L.PADDING, L.PARAMETRIC_RELU, L.POOLING, L.REDUCE,
        L.RESIZE, L.SCALE, L.SCATTER, L.SELECT, L.SHAPE, L.SHUFFLE, L.SLICE, L.SOFTMAX, L.SQUEEZE,
        L.UNSQUEEZE, L.TOPK, L.UNARY, L.ASSERTION, L.CONDITION, L.CONDITIONAL_INPUT, L.CONDITIONAL_OUTPUT,
    }
    assert required <= set(LAYER_EXECUTORS)


def test_executor_is_cached_and_rebuilt_when_the_network_changes():
    from trt_dyn.testing.executor import get_executor

    net = Net()
    x = net.input("x", torch.float32, (2,))
    a = net.network.add_unary(x, trt.UnaryOperation.ABS)
    net.output(a.get_output(0))
    first = get_executor(net.network)
    assert get_executor(net.network) is first
    assert_close(net.run1(x=torch.tensor([-1.0, 2.0])), [1.0, 2.0])
    b = net.network.add_unary(a.get_output(0), trt.UnaryOperation.NEG)
    net.network.unmark_output(a.get_output(0))
    net.output(b.get_output(0))
    assert get_executor(net.network) is not first
    assert_close(net.run1(x=torch.tensor([-1.0, 2.0])), [-1.0, -2.0])


def test_executor_does_not_keep_the_network_alive():
    import gc
    import weakref

    net = Net()
    x = net.input("x", torch.float32, (2,))
    net.output(net.network.add_unary(x, trt.UnaryOperation.ABS).get_output(0))
    net.run(x=torch.ones(2))
    ref = weakref.ref(net.network)
    del net, x
    gc.collect()
    assert ref() is None


def test_dtype_mismatch_from_an_executor_is_reported():
    net = Net()
    x = net.input("x", torch.float32, (2,))
    layer = net.network.add_unary(x, trt.UnaryOperation.ABS)
    layer.name = "bad_abs"
    net.output(layer.get_output(0))
    original = LAYER_EXECUTORS[trt.LayerType.UNARY]
    LAYER_EXECUTORS[trt.LayerType.UNARY] = lambda lyr, ins: [ins[0].abs().double()]
    try:
        with pytest.raises(LayerExecutionError, match="bad_abs.*float64"):
            net.run(x=torch.ones(2))
    finally:
        LAYER_EXECUTORS[trt.LayerType.UNARY] = original


def test_network_executor_reuse():
    net = Net()
    x = net.input("x", torch.float32, (-1,), (1,), (9,))
    net.output(net.network.add_unary(x, trt.UnaryOperation.SQRT).get_output(0))
    ex = NetworkExecutor(net.network)
    for n in (1, 9):
        v = rand((n,), low=0, high=4)
        assert_close(next(iter(ex.run({"x": v}).values())), np.sqrt(v.numpy()), rtol=1e-6, atol=1e-6)


def test_torch_tensorrt_network_matches_eager():
    """A network converted by torch_tensorrt (weights kept alive by BuiltEngine) run by the executor."""
    from trt_dyn.build import build_engine

    class Small(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
            self.bn = torch.nn.BatchNorm2d(8)
            self.fc = torch.nn.Linear(8, 5)

        def forward(self, x):
            y = torch.relu(self.bn(self.conv(x)))
            y = torch.nn.functional.adaptive_avg_pool2d(y, 1).flatten(1)
            return torch.softmax(self.fc(y), dim=-1)

    torch.manual_seed(0)
    model = Small().eval()
    with torch.no_grad():
        model.bn.running_mean.uniform_(-0.5, 0.5)
        model.bn.running_var.uniform_(0.5, 1.5)
    batch = torch.export.Dim("batch", min=1, max=4)
    example = torch.randn(2, 3, 8, 8)
    ep = torch.export.export(model, (example,), dynamic_shapes=({0: batch},))
    built = build_engine(ep, min_block_size=1)
    for n in (1, 3):
        x = torch.randn(n, 3, 8, 8)
        with torch.no_grad():
            ref = model(x)
        out = execute_network(built.network, {built.input_names[0]: x})
        assert list(out) == built.output_names
        assert_close(out[built.output_names[0]], ref, rtol=1e-4, atol=1e-5)


def test_values_are_freed_after_their_last_reader(monkeypatch):
    """A chain of 12 unary layers plus a skip connection from the first to the last: at most the
    skip value, the current input and the new output are alive at any time (not all 12)."""
    import weakref

    net = Net()
    x = net.input("x", torch.float32, (64,))
    first = net.network.add_unary(x, trt.UnaryOperation.NEG).get_output(0)
    value = first
    for _ in range(10):
        value = net.network.add_unary(value, trt.UnaryOperation.ABS).get_output(0)
    net.output(net.network.add_elementwise(value, first, E.SUM).get_output(0))
    net.build()
    produced, alive_counts = [], []
    original = LAYER_EXECUTORS[trt.LayerType.UNARY]

    def counting_unary(layer, inputs):
        alive_counts.append(sum(ref() is not None for ref in produced))
        outputs = original(layer, inputs)
        produced.extend(weakref.ref(out) for out in outputs)
        return outputs

    monkeypatch.setitem(LAYER_EXECUTORS, trt.LayerType.UNARY, counting_unary)
    v = rand((64,))
    assert_close(net.run1(x=v), (v.abs() - v).numpy())  # |-v| + (-v)
    assert len(alive_counts) == 11
    assert max(alive_counts) <= 2, alive_counts


def _profiled_net():
    net = Net()
    x = net.input("x", torch.float32, (-1, 3, -1), (2, 3, 4), (6, 3, 16))
    size = net.shape_input("size", 2, lo=(1, 2), hi=(4, 8))
    y = net.network.add_unary(x, trt.UnaryOperation.NEG).get_output(0)
    y.name = "y"
    fill = net.network.add_fill((1, 1), trt.FillOperation.LINSPACE, trt.int32)
    fill.set_input(0, size)
    fill.set_input(1, net.const(np.array(0, np.int32)))
    fill.set_input(2, net.const(np.array([1, 0], np.int32)))
    ramp = fill.get_output(0)
    ramp.name = "ramp"
    net.output(y, ramp)
    net.build()
    return net


@pytest.mark.parametrize(
    "shape, size, match",
    [
        ((7, 3, 8), (2, 2), r"'x': shape \(7, 3, 8\) is outside the optimization profile \(min \(2, 3, 4\), max \(6, 3, 16\)\)"),
        ((2, 3, 17), (2, 2), r"'x': shape \(2, 3, 17\) is outside"),
        ((3, 3, 3), (2, 2), r"'x': shape \(3, 3, 3\) is outside"),
        ((0, 3, 8), (2, 2), r"'x': shape \(0, 3, 8\) is outside"),  # N = 0 below a min of 2
        ((2, 3, 8), (5, 2), r"'size': value \(5, 2\) is outside the optimization profile \(min \(1, 2\), max \(4, 8\)\)"),
        ((2, 3, 8), (2, 1), r"'size': value \(2, 1\) is outside"),
    ],
    ids=["above-max", "last-dim-above-max", "below-min", "zero-batch", "shape-value-above", "shape-value-below"],
)
def test_inputs_outside_the_optimization_profile_are_refused(shape, size, match):
    net = _profiled_net()
    with pytest.raises(ExecutorInputError, match=match):
        net.run(x=rand(shape), size=torch.tensor(size, dtype=torch.int32))


def test_inputs_at_the_profile_bounds_run():
    net = _profiled_net()
    for shape, size in [((2, 3, 4), (1, 2)), ((6, 3, 16), (4, 8)), ((5, 3, 9), (3, 5))]:
        v = rand(shape, seed=shape[-1])
        out = net.run(x=v, size=torch.tensor(size, dtype=torch.int32))
        assert_close(out["y"], (-v).numpy())
        expected = np.tile(np.arange(size[0], dtype=np.int32)[:, None], (1, size[1]))
        assert_close(out["ramp"], expected)
