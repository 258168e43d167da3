"""Sizes PyTorch rejects are refused by the network (IAssertionLayer), never computed silently.

Each converter is called directly on a hand-built network whose sizes come from input ``x``
(shape ``(a, b)``); the output is ``x`` itself, so only the converter's assertion can fail.
"""

import pytest
import torch
from torch_tensorrt.dynamo.conversion._ConversionContext import ConversionContext

import trt_dyn
from trt_dyn._trt import trt
from trt_dyn.converters import arith, creation, slicing, views
from trt_dyn.converters import shape_tensor as st
from trt_dyn.testing.executor import execute_network
from trt_dyn.testing.executor.errors import AssertionLayerError

ops = torch.ops.trt_dyn


def _network():
    builder = trt.Builder(trt.Logger(trt.Logger.ERROR))
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED))
    ctx = ConversionContext(network)
    x = network.add_input("x", trt.float32, (-1, -1))
    identity = network.add_identity(x).get_output(0)
    network.mark_output(identity)
    return builder, network, ctx, x


def _sizes(ctx, x):
    return st.dim_of(ctx, x, 0, "a"), st.dim_of(ctx, x, 1, "b")


CASES = {
    # name: (build(ctx, x, a, b), good (a, b), bad (a, b), message fragment)
    "floordiv": (lambda ctx, x, a, b: arith.convert_floordiv_dyn(ctx, ops.floordiv_dyn.default, (a, st.shape_binary(ctx, "sub", b, 3, "d")), {}, "n"),
                 (2, 5), (2, 3), "division by zero"),
    "mod": (lambda ctx, x, a, b: arith.convert_mod_dyn(ctx, ops.mod_dyn.default, (a, st.shape_binary(ctx, "sub", b, a, "d")), {}, "n"),
            (2, 5), (4, 4), "division by zero"),
    "select": (lambda ctx, x, a, b: views.convert_select_dyn(ctx, ops.select_dyn.default, (x, 1, a), {}, "n"),
               (2, 5), (5, 5), "index out of range"),
    "select_negative": (lambda ctx, x, a, b: views.convert_select_dyn(ctx, ops.select_dyn.default, (x, 1, st.shape_binary(ctx, "sub", 0, a, "m")), {}, "n"),
                        (3, 5), (6, 5), "index out of range"),
    "narrow": (lambda ctx, x, a, b: slicing.convert_narrow_dyn(ctx, ops.narrow_dyn.default, (x, 1, a, a), {}, "n"),
               (2, 5), (3, 5), "out of range"),
    "split": (lambda ctx, x, a, b: slicing.convert_split_dyn(ctx, ops.split_dyn.default, (x, st.as_shape_tensor(ctx, [a, 2], "s"), 1), {}, "n"),
              (3, 5), (2, 5), "sum to the dim size"),
    "expand": (lambda ctx, x, a, b: views.convert_expand_dyn(ctx, ops.expand_dyn.default, (x, st.as_shape_tensor(ctx, [a, 6], "s")), {}, "n"),
               (2, 1), (2, 3), "expand"),
    "expand_new_dim": (lambda ctx, x, a, b: views.convert_expand_dyn(ctx, ops.expand_dyn.default, (x, st.as_shape_tensor(ctx, [st.shape_binary(ctx, "sub", a, 3, "m"), a, b], "s")), {}, "n"),
                       (4, 5), (2, 5), "new leading dim"),
    "arange": (lambda ctx, x, a, b: creation.convert_arange_dyn(ctx, ops.arange_dyn.default, (a, b, st.as_scalar_tensor(ctx, 1, "one")), {}, "n"),
               (2, 5), (5, 2), "inconsistent with step sign"),
    "known_size": (lambda ctx, x, a, b: views.with_known_size(ctx, x, 1, 5, "the input must have 5 channels", "n"),
                   (2, 5), (2, 4), "must have 5 channels"),
    "pad": (lambda ctx, x, a, b: slicing.convert_pad_dyn(ctx, ops.pad_dyn.default, (x, st.as_shape_tensor(ctx, [st.shape_binary(ctx, "sub", 0, a, "m"), 0], "p")), {}, "n"),
            (2, 5), (6, 5), "negative"),
}


class _Node:
    """Stand-in for the FX node being converted (creation converters read the traced dtype)."""

    def __init__(self, dtype):
        self.name = "n"
        self.meta = {"val": torch.empty(0, dtype=dtype)}


@pytest.mark.parametrize("case", sorted(CASES))
def test_invalid_sizes_trip_the_assertion(case):
    build, good, bad, fragment = CASES[case]
    builder, network, ctx, x = _network()
    ctx.current_node = _Node(torch.int64)
    a, b = _sizes(ctx, x)
    build(ctx, x, a, b)
    assert any(network.get_layer(i).type == trt.LayerType.ASSERTION for i in range(network.num_layers))
    execute_network(network, {"x": torch.randn(good)}, cache=False)
    with pytest.raises(AssertionLayerError) as info:
        execute_network(network, {"x": torch.randn(bad)}, cache=False)
    assert fragment in str(info.value)
