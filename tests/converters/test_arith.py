"""Converters of shape arithmetic: Python integer semantics (negative floor/mod/ceil), float paths."""

import pytest
import torch

import trt_dyn
from trt_dyn.testing.harness import run_converter_test

ops = torch.ops.trt_dyn


class IntegerArithmetic(torch.nn.Module):
    """Negative and positive operands from the dynamic sizes, so rounding direction matters."""

    def forward(self, x):
        h, w = ops.sym_size_dyn(x, 1), ops.sym_size_dyn(x, 2)
        negative = ops.sub_dyn(h, ops.const_scalar(7))  # in [-5, 2]
        shape = ops.size_dyn(x)
        three = ops.const_scalar(3)
        minus_two = ops.neg_dyn(ops.const_scalar(2))
        return (
            ops.add_dyn(h, w), ops.sub_dyn(h, w), ops.mul_dyn(negative, w),
            ops.floordiv_dyn(negative, three), ops.floordiv_dyn(w, minus_two),
            ops.ceildiv_dyn(negative, three), ops.ceildiv_dyn(w, h),
            ops.mod_dyn(negative, three), ops.mod_dyn(w, minus_two),
            ops.min_dyn(h, w), ops.max_dyn(negative, minus_two), ops.neg_dyn(w),
            # 0-d against 1-d broadcasts like PyTorch
            ops.mul_dyn(shape, h), ops.floordiv_dyn(shape, ops.const([2, 2, -2])),
        )


def test_integer_arithmetic_matches_python_semantics():
    run_converter_test(IntegerArithmetic(), (torch.randn(1, 5, 7),), {"x": {1: (2, 9), 2: (1, 11)}})


class FloatArithmetic(torch.nn.Module):
    def forward(self, x):
        h, w = ops.sym_size_dyn(x, 1), ops.sym_size_dyn(x, 2)
        ratio = ops.truediv_dyn(ops.sub_dyn(h, ops.const_scalar(6)), w)  # negative and positive
        scaled = ops.mul_dyn(ops.float_dyn(w), ops.const_scalar(1.5))
        return (
            ratio, scaled, ops.int_dyn(ratio), ops.ceil_dyn(ratio), ops.floor_dyn(ratio),
            ops.int_dyn(scaled), ops.ceil_dyn(scaled), ops.floor_dyn(scaled), ops.neg_dyn(scaled),
            ops.floordiv_dyn(scaled, ops.const_scalar(2.0)), ops.mod_dyn(ops.neg_dyn(scaled), ops.const_scalar(2.5)),
            ops.add_dyn(ratio, h),  # ceil_dyn/floor_dyn on ints alias their input in eager (op library)
        )


def test_float_arithmetic_and_rounding():
    run_converter_test(FloatArithmetic(), (torch.randn(1, 5, 7),), {"x": {1: (1, 11), 2: (1, 9)}})


class DivideByConstantZero(torch.nn.Module):
    def forward(self, x):
        return ops.floordiv_dyn(ops.sym_size_dyn(x, 0), torch.zeros((), dtype=torch.int64)) + x.sum().long()


def test_division_by_constant_zero_is_refused_with_node_and_line():
    from trt_dyn.build import build_engine

    x = torch.randn(3, 4)
    program = torch.export.export(DivideByConstantZero(), (x,), strict=False)
    with pytest.raises(Exception) as info:
        build_engine(program)
    text = "".join(str(e) for e in _chain(info.value))
    assert "floordiv_dyn" in text and "constant zero" in text
    assert "test_arith.py" in text


def _chain(error):
    while error is not None:
        yield error
        error = error.__cause__ or error.__context__


def test_size_arriving_as_one_element_vector_keeps_the_traced_rank():
    """A size handed over from a PyTorch segment is a [1] tensor; the result must stay 0-d."""
    from torch_tensorrt.dynamo.conversion._ConversionContext import ConversionContext

    from trt_dyn._trt import trt
    from trt_dyn.converters import arith
    from trt_dyn.converters import shape_tensor as st
    from trt_dyn.testing.executor import execute_network

    class Node:
        name = "add"
        meta = {"val": torch.empty((), dtype=torch.int64)}

    builder = trt.Builder(trt.Logger(trt.Logger.ERROR))
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED))
    ctx = ConversionContext(network)
    ctx.current_node = Node()
    x = network.add_input("x", trt.float32, (-1, 2))
    as_vector = st.as_shape_tensor(ctx, [st.dim_of(ctx, x, 0, "n")], "n1")
    result = arith.convert_add_dyn(ctx, ops.add_dyn.default, (as_vector, st.as_scalar_tensor(ctx, 3, "three")), {}, "add")
    network.mark_output(result)
    assert len(result.shape) == 0
    for rows in (1, 4, 7):
        (value,) = execute_network(network, {"x": torch.randn(rows, 2)}, cache=False).values()
        assert value.shape == () and int(value) == rows + 3
