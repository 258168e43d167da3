"""as_shape_tensor and the small shape helpers, on a hand-built network run by the CPU executor."""

import numpy as np
import pytest
import torch
from torch_tensorrt.dynamo.conversion._ConversionContext import ConversionContext

import trt_dyn
from trt_dyn._trt import trt
from trt_dyn.converters import shape_tensor as st
from trt_dyn.testing.executor import execute_network


def _network():
    builder = trt.Builder(trt.Logger(trt.Logger.ERROR))
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED))
    ctx = ConversionContext(network)
    x = network.add_input("x", trt.float32, (-1, 3, -1))
    return builder, network, ctx, x


def _run(network, shape):
    return execute_network(network, {"x": torch.randn(shape)}, cache=False)


def test_mixed_values_freeze_into_one_int64_shape():
    builder, network, ctx, x = _network()
    n = st.dim_of(ctx, x, 0, "n")                       # 0-d ITensor
    w = st.dim_of(ctx, x, -1, "w")
    static_c = st.dim_of(ctx, x, 1, "c")                # static dim: a constant
    as_int32 = network.add_cast(st.shape_of(ctx, x, "s"), trt.int32).get_output(0)
    value = [2, n, torch.tensor([7, -1]), np.int64(4), static_c, as_int32,
             st.shape_binary(ctx, "floordiv", w, 2, "half"), torch.tensor(9)]
    shape = st.as_shape_tensor(ctx, value, "mixed")
    network.mark_output(shape)
    assert shape.dtype == trt.int64 and len(shape.shape) == 1 and shape.shape[0] == 11
    for dims in [(1, 3, 2), (4, 3, 9), (5, 3, 4)]:
        out = list(_run(network, dims).values())[0]
        n_, c_, w_ = dims
        assert out.dtype == torch.int64
        assert out.tolist() == [2, n_, 7, -1, 4, c_, n_, c_, w_, w_ // 2, 9]


def test_plain_ints_scalars_and_empty():
    builder, network, ctx, x = _network()
    outputs = [
        st.as_shape_tensor(ctx, 5, "one"),
        st.as_shape_tensor(ctx, [], "empty"),
        st.as_shape_tensor(ctx, (3, 1), "tuple"),
        st.as_scalar_tensor(ctx, torch.tensor([6]), "scalar"),
        st.to_scalar(ctx, st.as_shape_tensor(ctx, [st.dim_of(ctx, x, 2, "w")], "w1"), "w0"),
        st.gather_dims(ctx, st.shape_of(ctx, x, "s"), [2, 0], "gather"),
        st.python_mod(ctx, st.shape_binary(ctx, "sub", 0, st.dim_of(ctx, x, 0, "n"), "neg"), 3, "mod"),
        st.ceildiv(ctx, st.dim_of(ctx, x, 2, "w"), 4, "ceil"),
        st.shape_clamp(ctx, st.dim_of(ctx, x, 2, "w"), 2, 5, "clamp"),
    ]
    for tensor in outputs:
        network.mark_output(tensor)
    for dims in [(1, 3, 1), (7, 3, 10), (2, 3, 5)]:
        got = [t.tolist() for t in _run(network, dims).values()]
        n, _, w = dims
        assert got == [[5], [], [3, 1], 6, w, [w, n], (-n) % 3, -(-w // 4), min(max(w, 2), 5)]


@pytest.mark.parametrize(
    "bad, fragment",
    [
        (1.5, "cannot use float"),
        ([1, 2.0], "[1]: cannot use float"),
        ([[1, 2]], "nested lists"),
        (torch.zeros(2, 2, dtype=torch.int64), "0-d or 1-d"),
        (torch.tensor([1.0]), "must be integer"),
        (None, "cannot use NoneType"),
    ],
)
def test_bad_values_raise_naming_the_value(bad, fragment):
    builder, network, ctx, x = _network()
    with pytest.raises(st.ShapeValueError) as info:
        st.as_shape_tensor(ctx, bad, "node_x")
    assert "node_x" in str(info.value) and fragment in str(info.value)


def test_float_itensor_is_not_a_shape():
    builder, network, ctx, x = _network()
    with pytest.raises(st.ShapeValueError, match="integer tensor"):
        st.as_shape_tensor(ctx, x, "data")
