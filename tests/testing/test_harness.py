"""The converter harness: it passes correct conversions and demonstrably catches wrong ones."""

import unittest

import pytest
import torch
from parameterized import parameterized

import trt_dyn  # noqa: F401
from torch_tensorrt.dynamo.conversion import impl
from torch_tensorrt.dynamo.conversion._ConverterRegistry import dynamo_tensorrt_converter
from torch_tensorrt.dynamo._SourceIR import SourceIR
from trt_dyn.testing.harness import (
    ENGINE_MODES,
    ConverterMismatchError,
    ConverterTestCase,
    SpecializationError,
    assert_layer_types,
    compare_outputs,
    export_dynamic,
    run_converter_test,
)

from sibling_tests import load_test_module


class AddRelu(torch.nn.Module):
    def forward(self, x, y):
        return torch.relu(x + y), x.sum(dim=1)


# ---- a deliberately wrong converter: the harness must catch it ------------------------------------


@torch.library.custom_op("trt_dyn_harness_test::twice", mutates_args=())
def twice(x: torch.Tensor) -> torch.Tensor:
    """twice(Tensor x) -> Tensor: 2 * x."""
    return 2 * x


@twice.register_fake
def _(x):
    return torch.empty_like(x)


@dynamo_tensorrt_converter(torch.ops.trt_dyn_harness_test.twice.default, supports_dynamic_shapes=True)
def convert_twice_wrongly(ctx, target, args, kwargs, name):
    # wrong on purpose: 2x + 1e-3, a small error a loose comparison would let through
    doubled = impl.elementwise.mul(ctx, target, SourceIR.ATEN, f"{name}_mul", args[0], 2.0)
    return impl.elementwise.add(ctx, target, SourceIR.ATEN, f"{name}_add", doubled, 1e-3)


class Twice(torch.nn.Module):
    def forward(self, x):
        return twice(x) + 1


def test_correct_conversion_is_checked_at_min_opt_max_and_odd_sizes():
    result = run_converter_test(AddRelu(), (torch.randn(4, 3), torch.randn(4, 3)), {"x": {0: (1, 8)}, "y": {0: (1, 8)}})
    labels = [label for label, _ in result.points]
    assert labels == ["min", "opt", "max", "odd"]
    assert [shapes["x"] for _, shapes in result.points] == [(1, 3), (4, 3), (8, 3), (7, 3)]
    assert result.compiled.num_trt_engines == 1
    assert_layer_types(result, "ACTIVATION", "ELEMENTWISE", "REDUCE")


def test_a_wrong_converter_fails_with_output_size_and_error():
    with pytest.raises(ConverterMismatchError) as info:
        run_converter_test(Twice(), (torch.randn(3, 5),), {"x": {0: (1, 6)}})
    message = str(info.value)
    assert "min sizes {'x': (1, 5)}" in message
    assert "output 0" in message and "max abs err 0.001" in message and "max rel err" in message


def test_a_wrong_layer_type_expectation_fails():
    result = run_converter_test(AddRelu(), (torch.randn(4, 3), torch.randn(4, 3)))
    with pytest.raises(ConverterMismatchError, match="CONVOLUTION"):
        assert_layer_types(result, "CONVOLUTION")


def test_specialized_dimension_is_reported():
    class PinsBatch(torch.nn.Module):
        def forward(self, x):
            return x.reshape(4, -1)  # only valid for batch 4: export pins it

    with pytest.raises(SpecializationError, match="input 'x' axis 0"):
        export_dynamic(PinsBatch(), (torch.randn(4, 3),), {"x": {0: (1, 8)}})


def test_related_dimensions_keep_the_requested_range():
    class Cat(torch.nn.Module):
        def forward(self, x, y):
            return torch.cat([x, y], dim=1)

    program = export_dynamic(Cat(), (torch.randn(3, 2), torch.randn(3, 5)), {"x": {0: (1, 6)}, "y": {0: (1, 6)}})
    (lower, upper), = {(int(r.lower), int(r.upper)) for r in program.range_constraints.values()}
    assert (lower, upper) == (1, 6)


def test_pytorch_nodes_and_engine_count_are_enforced():
    inputs = (torch.randn(4, 3), torch.randn(4, 3))
    settings = dict(torch_executed_ops={"torch.ops.aten.relu.default"}, require_full_compilation=False)
    with pytest.raises(ConverterMismatchError, match=r"nodes left to PyTorch.*relu \(aten.relu.default\)"):
        run_converter_test(AddRelu(), inputs, **settings)
    with pytest.raises(ConverterMismatchError, match=r"expected 3 TensorRT engine\(s\), torch_tensorrt built 1"):
        run_converter_test(AddRelu(), inputs, expected_engines=3, allow_pytorch_nodes=True, **settings)
    result = run_converter_test(AddRelu(), inputs, expected_engines=None, allow_pytorch_nodes=True, **settings)
    assert [node.target for node in result.compiled.pytorch_nodes] == ["aten.relu.default"]


def test_input_generators_see_every_shape_and_are_checked():
    class Pick(torch.nn.Module):
        def forward(self, x, index):
            return torch.index_select(x, 0, index)

    seen = []

    def valid_rows(shape, dtype, generator, shapes):
        seen.append(shapes["x"])
        return torch.randint(0, shapes["x"][0], shape, generator=generator, dtype=dtype)

    inputs = (torch.randn(5, 3), torch.tensor([0, 4, 2]))
    run_converter_test(Pick(), inputs, {"x": {0: (2, 9)}}, input_generators={"index": valid_rows})
    assert sorted(seen) == [(2, 3), (5, 3), (7, 3), (9, 3)]

    with pytest.raises(ValueError, match="input generator for 'index'"):
        run_converter_test(Pick(), inputs, input_generators={"index": lambda s, d, g: torch.zeros(2, dtype=d)})


def test_half_precision_uses_the_float16_tolerance():
    class Scale(torch.nn.Module):
        def forward(self, x):
            return x * 1.5 + 0.25

    result = run_converter_test(Scale(), (torch.randn(3, 4).half(),), {"x": {0: (1, 4)}})
    assert len(result.points) >= 3


# ---- compare_outputs ------------------------------------------------------------------------------


def test_compare_outputs_tolerances_per_dtype():
    expected = torch.tensor([1.0, -2.0, 1000.0])
    compare_outputs(expected * (1 + 5e-5), expected)
    with pytest.raises(ConverterMismatchError, match=r"max abs err 0\.5.*max rel err 0\.0005"):
        compare_outputs(expected + torch.tensor([0.0, 0.0, 0.5]), expected)
    compare_outputs(expected.half() * (1 + 4e-3), expected.half())
    with pytest.raises(ConverterMismatchError, match="exact match"):
        compare_outputs(torch.tensor([1, 2, 4]), torch.tensor([1, 2, 3]))
    with pytest.raises(ConverterMismatchError, match="dtype"):
        compare_outputs(torch.tensor([1, 2, 3], dtype=torch.int32), torch.tensor([1, 2, 3]))
    with pytest.raises(ConverterMismatchError, match="shape"):
        compare_outputs(torch.zeros(2, 3), torch.zeros(3, 2))
    with pytest.raises(ConverterMismatchError, match="2 outputs"):
        compare_outputs((torch.zeros(1), torch.zeros(1)), torch.zeros(1))


def test_compare_outputs_nan_and_inf():
    expected = torch.tensor([float("nan"), float("inf"), 1.0])
    compare_outputs(expected.clone(), expected)
    with pytest.raises(ConverterMismatchError):
        compare_outputs(torch.tensor([0.0, float("inf"), 1.0]), expected)
    with pytest.raises(ConverterMismatchError):
        compare_outputs(torch.tensor([float("nan"), float("-inf"), 1.0]), expected)


# ---- unittest / parameterized / gpu --------------------------------------------------------------


class HarnessFromUnittest(ConverterTestCase, unittest.TestCase):
    tolerances = {torch.float32: (1e-5, 1e-5)}

    @parameterized.expand([("sigmoid", torch.sigmoid), ("tanh", torch.tanh)])
    def test_activation(self, _, fn):
        class Apply(torch.nn.Module):
            def forward(self, x):
                return fn(x)

        result = self.run_converter_test(Apply(), (torch.randn(2, 5),), {"x": {1: (1, 10)}})
        self.assert_layer_types(result, "ACTIVATION")


@pytest.mark.parametrize("run_engines", ENGINE_MODES)
def test_real_engine_when_a_gpu_is_present(run_engines):
    run_converter_test(AddRelu(), (torch.randn(4, 3), torch.randn(4, 3)), {"x": {0: (1, 8)}, "y": {0: (1, 8)}},
                       run_engines=run_engines)


def test_shared_dim_objects_and_raw_dynamic_shapes():
    from torch.export import Dim

    class Mul(torch.nn.Module):
        def forward(self, x, y):
            return x * y

    inputs = (torch.randn(3, 4), torch.randn(3, 4))
    batch = Dim("batch", min=1, max=5)
    shared = run_converter_test(Mul(), inputs, {"x": {0: batch}, "y": {0: batch}})
    assert [shapes["x"][0] for _, shapes in shared.points] == [1, 3, 5]
    assert all(shapes["x"] == shapes["y"] for _, shapes in shared.points)

    raw = run_converter_test(Mul(), inputs, dynamic_shapes={"x": {1: Dim("w", min=2, max=9)}, "y": {1: Dim("w", min=2, max=9)}})
    assert [shapes["y"] for _, shapes in raw.points] == [(3, 2), (3, 4), (3, 9), (3, 7)]


def test_auto_dims_record_a_size_condition_as_a_guard():
    class BranchOnParity(torch.nn.Module):
        def forward(self, x):
            if x.shape[0] % 2 == 1:
                return x - 1
            return x * 3

    program = export_dynamic(BranchOnParity(), (torch.randn(5, 3),), {"x": {0: (2, 9)}}, auto_dims=True)
    assert [(int(r.lower), int(r.upper)) for r in program.range_constraints.values()] == [(2, 9)]
    module = program.module()
    x = torch.randn(7, 3)
    torch.testing.assert_close(module(x), x - 1)
    with pytest.raises(AssertionError, match="Guard failed"):
        module(torch.randn(4, 3))  # the branch not traced is refused, not computed wrongly


def test_fixes_export_cannot_apply_fall_back_to_auto_dims_with_the_input_names():
    # named Dims: export suggests ``w = 3*_w - 2`` for the split sizes, which its own parser refuses (negative minimum)
    SplitAtThird = load_test_module("converters/test_slicing.py", "_harness_test_slicing").Split
    program = export_dynamic(SplitAtThird(), (torch.randn(3, 7, 2),), {"x": {0: (2, 4), 1: (2, 13)}})
    assert [n.name for n in program.graph.nodes if n.op == "placeholder"] == ["x"]
    assert sorted((int(r.lower), int(r.upper)) for r in program.range_constraints.values()) == [(2, 4), (2, 13)]
    with pytest.raises(SpecializationError, match=r"requested \[1, 13\], export kept \[2, 13\]"):
        export_dynamic(SplitAtThird(), (torch.randn(3, 7, 2),), {"x": {0: (2, 4), 1: (1, 13)}})
