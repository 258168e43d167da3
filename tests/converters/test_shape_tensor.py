"""as_shape_tensor and the small shape helpers, on a hand-built network run by the CPU executor."""

import re

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


# ---------------------------------------------------------------------------------------------- lean networks


def _layer_types(network):
    return [network.get_layer(index).type.name for index in range(network.num_layers)]


def test_one_shape_layer_constant_and_cast_per_tensor_and_network():
    builder, network, ctx, x = _network()
    first, second = st.shape_of(ctx, x, "a"), st.shape_of(ctx, x, "b")
    assert first is second and _layer_types(network).count("SHAPE") == 1
    n, n_again = st.dim_of(ctx, x, 0, "n"), st.dim_of(ctx, x, 0, "n2")
    assert n is n_again and _layer_types(network).count("GATHER") == 1
    assert st.int64_constant(ctx, [4, 5], "c") is st.int64_constant(ctx, [4, 5], "d")
    assert st.int64_constant(ctx, 4, "scalar") is not st.int64_constant(ctx, [4], "vector")  # rank is kept
    narrow = network.add_cast(n, trt.int32).get_output(0)
    assert st.cast_int64(ctx, narrow, "wide") is st.cast_int64(ctx, narrow, "wide_again")
    assert st.cast(ctx, st.cast_int64(ctx, narrow, "wide"), trt.int32, "back") is narrow  # no round trip
    doubled = st.shape_binary(ctx, "mul", n, 2, "twice")
    assert st.shape_binary(ctx, "mul", n, 2, "twice_again") is doubled  # the same arithmetic, one layer
    network.mark_output(doubled)
    for dims in [(1, 3, 2), (6, 3, 5)]:
        assert list(_run(network, dims).values())[0].tolist() == 2 * dims[0]

    # another network (torch_tensorrt makes one context per network) never sees these tensors
    other_builder, other = builder, builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED))
    ctx.net = other
    y = other.add_input("x", trt.float32, (-1, 3, -1))
    assert st.shape_of(ctx, y, "a") is not first and _layer_types(other) == ["SHAPE"]
    assert st.int64_constant(ctx, [4, 5], "c").name not in [t.name for t in (first, second)]
    assert _layer_types(other) == ["SHAPE", "CONSTANT"]


def test_constant_arithmetic_is_folded_on_the_host():
    builder, network, ctx, x = _network()
    three, seven = st.int64_constant(ctx, 3, "three"), st.int64_constant(ctx, [7, -7], "seven")
    folded = st.shape_binary(ctx, "floordiv", seven, three, "div")   # Python floor: [2, -3]
    assert st.constant_value(ctx, folded) == [2, -3] and "ELEMENTWISE" not in _layer_types(network)
    assert st.constant_value(ctx, st.shape_binary(ctx, "sub", 10, 4, "sub")) == [6]
    static = st.shape_of(ctx, network.add_input("s", trt.float32, (2, 5)), "static")
    assert st.constant_value(ctx, static) == [2, 5] and "SHAPE" not in _layer_types(network)
    assert st.constant_value(ctx, st.concat_shapes(ctx, [static, seven], "cat")) == [2, 5, 7, -7]
    assert st.constant_value(ctx, st.gather_dims(ctx, static, [1, 0], "pick")) == [5, 2]
    # a constant division by zero is not folded: it stays a layer (as before), and no exception is raised here
    by_zero = st.shape_binary(ctx, "floordiv", seven, 0, "zero")
    assert st.constant_value(ctx, by_zero) is None and "ELEMENTWISE" in _layer_types(network)
    out = st.shape_binary(ctx, "add", folded, st.dim_of(ctx, x, 2, "w"), "mixed")   # a run-time value stays a layer
    network.mark_output(out)
    for dims in [(1, 3, 2), (2, 3, 9)]:
        feeds = {"x": torch.randn(dims), "s": torch.randn(2, 5)}
        assert list(execute_network(network, feeds, cache=False).values())[0].tolist() == [2 + dims[2], -3 + dims[2]]


def test_assertions_that_always_hold_are_dropped_the_others_kept():
    builder, network, ctx, x = _network()
    n = st.dim_of(ctx, x, 0, "n")
    sizes = st.as_shape_tensor(ctx, [n, 1, st.shape_binary(ctx, "add", n, 2, "n2")], "sizes")
    st.assert_shape(ctx, st.shape_compare(ctx, "gt", sizes, -1, "nonneg"), "negative size", "full")
    st.assert_shape(ctx, st.shape_compare(ctx, "lt", -1, n, "nonneg"), "negative size", "full")
    assert "ASSERTION" not in _layer_types(network)  # sizes read from a shape are never negative
    st.assert_shape(ctx, st.shape_compare(ctx, "gt", n, 0, "positive"), "empty", "full")  # n may be 0
    smaller = st.shape_binary(ctx, "sub", n, 1, "less")   # n - 1 >= -1 is all the bounds say: the check stays
    st.assert_shape(ctx, st.shape_compare(ctx, "gt", smaller, -1, "less"), "negative", "full")
    assert _layer_types(network).count("ASSERTION") == 2
    network.mark_output(sizes)
    assert list(_run(network, (3, 3, 2)).values())[0].tolist() == [3, 1, 5]
    with pytest.raises(Exception, match="empty|negative"):
        _run(network, (0, 3, 2))


def test_profile_ranges_bound_input_sizes_and_concatenations_are_reused():
    """A dynamic graph input's sizes lie in its profiles' range (TensorRT refuses others): checks they prove are
    dropped (no all-true constant either), upper bounds follow arithmetic; a concatenation is made once, its
    entries are read back from their parts, and the same assertion is added once."""
    from types import SimpleNamespace

    builder, network, ctx, x = _network()
    profile = builder.create_optimization_profile()
    profile.set_shape("x", (1, 3, 2), (4, 3, 5), (8, 3, 9))
    st.record_input_range(SimpleNamespace(ctx=ctx, optimization_profiles=[profile]), None, x)
    unbounded = network.add_input("y", trt.float32, (-1,))   # no profile read for it: nothing known
    assert st.upper_bound(ctx, st.shape_of(ctx, unbounded, "y")) is None
    n, w = st.dim_of(ctx, x, 0, "n"), st.dim_of(ctx, x, 2, "w")
    assert (st.lower_bound(ctx, n), st.upper_bound(ctx, n)) == (1, 9)
    assert st.upper_bound(ctx, st.shape_binary(ctx, "add", n, 2, "n2")) == 11
    assert st.upper_bound(ctx, st.shape_binary(ctx, "sub", n, w, "diff")) == 8
    assert st.upper_bound(ctx, st.shape_binary(ctx, "floordiv", w, 2, "half")) == 4
    assert st.upper_bound(ctx, st.shape_binary(ctx, "min", n, st.dim_of(ctx, unbounded, 0, "m"), "least")) == 9
    sizes = st.as_shape_tensor(ctx, [n, w], "sizes")
    assert st.as_shape_tensor(ctx, [n, w], "again") is sizes and _layer_types(network).count("CONCATENATION") == 1
    gathers = _layer_types(network).count("GATHER")
    width = st.gather_dims(ctx, sizes, [1], "width")
    assert width is st.to_1d(ctx, w, "w1") and _layer_types(network).count("GATHER") == gathers
    before = _layer_types(network)
    st.assert_compare(ctx, "gt", sizes, 0, "empty", "full")   # the profile's min is 1
    assert _layer_types(network) == before
    twice = st.shape_compare(ctx, "gt", sizes, 4, "big")
    st.assert_shape(ctx, twice, "small", "first")
    st.assert_shape(ctx, twice, "small", "second")
    assert _layer_types(network).count("ASSERTION") == 1
    network.mark_output(width)

    def run(dims):
        return execute_network(network, {"x": torch.randn(dims), "y": torch.randn(2)}, cache=False)

    for dims in [(5, 3, 6), (8, 3, 9)]:
        assert list(run(dims).values())[0].tolist() == [dims[2]]
    with pytest.raises(Exception, match="small"):
        run((5, 3, 2))


def test_evenly_spaced_entries_are_one_slice_and_keep_reuse_bounds_and_folding():
    """gather_dims reads a run of entries (a single one included, any stride) with one SLICE and no index constant;
    other picks and a 0-d pick stay one GATHER; the result is made once per pick and keeps the source's bounds."""
    from types import SimpleNamespace

    builder, network, ctx, x4 = _network()
    x = network.add_input("x4", trt.float32, (-1, -1, 2, -1))
    profile = builder.create_optimization_profile()
    profile.set_shape("x4", (1, 1, 2, 1), (2, 3, 2, 4), (6, 5, 2, 7))
    st.record_input_range(SimpleNamespace(ctx=ctx, optimization_profiles=[profile]), None, x)
    shape = st.shape_of(ctx, x, "s")
    before = len(_layer_types(network))
    picks = [[1, 2, 3], [1], [3, 1], [0, 0], [3, 0, 1]]  # [2] would be a constant: that size is static
    outputs = [st.gather_dims(ctx, shape, pick, f"pick{index}") for index, pick in enumerate(picks)]
    assert _layer_types(network)[before:] == ["SLICE"] * 4 + ["CONSTANT", "GATHER"]
    assert all(st.gather_dims(ctx, shape, pick, "again") is out for pick, out in zip(picks, outputs))
    assert all((st.lower_bound(ctx, out), st.upper_bound(ctx, out)) == (1, 7) for out in outputs)
    scalar = st.gather_dims(ctx, shape, 3, "last")
    assert len(scalar.shape) == 0 and _layer_types(network)[-2:] == ["CONSTANT", "GATHER"]
    count = len(_layer_types(network))
    assert st.constant_value(ctx, st.gather_dims(ctx, shape, [], "none")) == []
    assert st.constant_value(ctx, st.gather_dims(ctx, st.int64_constant(ctx, [4, 5, 6], "c"), [2, 1], "folded")) == [6, 5]
    assert "GATHER" not in _layer_types(network)[count:]  # constants only: nothing is read at run time
    for out in outputs + [scalar]:
        network.mark_output(out)
    for dims in [(2, 3, 2, 4), (6, 1, 2, 7), (1, 5, 2, 1)]:
        feeds = {"x": torch.randn(1, 3, 1), "x4": torch.randn(dims)}
        got = [t.tolist() for t in execute_network(network, feeds, cache=False).values()]
        assert got == [[dims[d] for d in pick] for pick in picks] + [dims[3]]


def test_results_known_while_building_add_no_layers():
    """Identities, max / min and comparisons ordered by the bounds, and selects on a decided condition give an
    operand back (no layer); a check the bounds do not prove stays, and one they refute fails the build."""
    from types import SimpleNamespace

    builder, network, ctx, x = _network()
    profile = builder.create_optimization_profile()
    profile.set_shape("x", (1, 3, 2), (4, 3, 5), (8, 3, 9))
    st.record_input_range(SimpleNamespace(ctx=ctx, optimization_profiles=[profile]), None, x)
    n, w = st.dim_of(ctx, x, 0, "n"), st.dim_of(ctx, x, 2, "w")
    before = _layer_types(network)
    assert st.shape_binary(ctx, "add", n, 0, "plus0") is n and st.shape_binary(ctx, "mul", 1, w, "times1") is w
    assert st.shape_binary(ctx, "floordiv", n, 1, "by1") is n and st.ceildiv(ctx, w, 1, "ceil1") is w
    assert st.shape_binary(ctx, "max", n, 0, "relu") is n                       # n >= 1
    assert st.constant_value(ctx, st.shape_binary(ctx, "min", 0, w, "least")) == [0]
    assert st.shape_binary(ctx, "max", 12, n, "cap") is not None and st.constant_value(
        ctx, st.shape_binary(ctx, "max", 12, n, "cap")) == [12]                 # n <= 9
    negative = st.shape_compare(ctx, "lt", n, 0, "negative")
    assert st.shape_where(ctx, negative, st.shape_binary(ctx, "add", n, w, "unused"), n, "wrap") is n
    st.assert_differs(ctx, n, 0, "zero", "div")                                  # n >= 1: proved
    st.assert_differs(ctx, st.int64_constant(ctx, 7, "seven"), 0, "zero", "mod")
    assert set(_layer_types(network)[len(before):]) <= {"CONSTANT", "ELEMENTWISE"}
    assert "ASSERTION" not in _layer_types(network) and "SELECT" not in _layer_types(network)
    assert _layer_types(network).count("ELEMENTWISE") == 1                        # only n + w, made for the where
    negated_twice = st.shape_binary(ctx, "sub", 0, st.shape_binary(ctx, "sub", 0, w, "neg"), "back")
    assert negated_twice is w
    # not proved by the bounds: layers and checks stay
    gap = st.shape_binary(ctx, "sub", w, n, "gap")                              # -7 .. 8
    st.assert_differs(ctx, gap, 0, "equal sizes", "check")
    wrapped = st.shape_where(ctx, st.shape_compare(ctx, "lt", gap, 0, "neg"), st.shape_binary(ctx, "add", gap, w, "g"),
                             gap, "wrap2")
    larger = st.shape_binary(ctx, "max", n, w, "larger")
    assert _layer_types(network).count("ASSERTION") == 1 and _layer_types(network).count("SELECT") == 1
    with pytest.raises(st.ShapeValueError, match="always.*profile"):
        st.assert_compare(ctx, "gt", n, 20, "always too small", "big")          # n <= 9 everywhere
    outputs = [negated_twice, gap, wrapped, larger, st.shape_binary(ctx, "max", n, 0, "relu")]
    for out in outputs:
        network.mark_output(out)
    for dims in [(1, 3, 2), (8, 3, 9), (5, 3, 3), (3, 3, 7)]:
        got = [t.tolist() for t in _run(network, dims).values()]
        size_n, size_w = dims[0], dims[2]
        diff = size_w - size_n
        assert got == [size_w, diff, diff + size_w if diff < 0 else diff, max(size_n, size_w), size_n]
    with pytest.raises(Exception, match="equal sizes"):
        _run(network, (4, 3, 4))


def test_shape_entries_are_tracked_static_ones_are_constants_and_a_rebuilt_shape_is_the_shape():
    """Which size each shape entry is, is known while building: a static size read from a shape is a constant, and
    parts that put a tensor's sizes back together in order (its static sizes as constants) are its shape itself."""
    builder, network, ctx, x = _network()
    y = network.add_input("y", trt.float32, (-1, 3, -1))
    shape = st.shape_of(ctx, x, "s")
    before = len(_layer_types(network))
    assert st.constant_value(ctx, st.gather_dims(ctx, shape, [1], "c")) == [3]
    assert st.constant_value(ctx, st.dim_of(ctx, x, 1, "c0")) == [3]
    assert _layer_types(network)[before:] == ["CONSTANT"] * 2  # 3 as [1] and as 0-d: no slice, no gather
    n, w = st.gather_dims(ctx, shape, [0], "n"), st.gather_dims(ctx, shape, [2], "w")
    count = len(_layer_types(network))
    assert st.concat_shapes(ctx, [n, st.int64_constant(ctx, [3], "c"), w], "cat") is shape
    n0 = st.to_1d(ctx, st.dim_of(ctx, x, 0, "n0"), "n1")
    assert st.concat_shapes(ctx, [n0, st.gather_dims(ctx, shape, [1, 2], "cw")], "cat2") is shape
    assert "CONCATENATION" not in _layer_types(network)
    assert st.leading_then(ctx, x, 2, w, "resized") is shape
    assert _layer_types(network)[count:] == ["CONSTANT", "GATHER", "SHUFFLE", "SLICE"]  # n0 (index, gather, to 1-d), [1, 2]
    mixed = st.leading_then(ctx, y, 2, w, "mixed")         # y's first size is not x's
    reversed_ = st.concat_shapes(ctx, [w, st.int64_constant(ctx, [3], "c"), n], "reversed")
    partial = st.concat_shapes(ctx, [n, st.int64_constant(ctx, [3], "c")], "partial")
    assert _layer_types(network).count("CONCATENATION") == 3
    # a static tensor's sizes are ints until frozen with the rest: no constant of their own that goes unread
    z = network.add_input("z", trt.float32, (2, 3, 4))
    count = len(_layer_types(network))
    resized = st.leading_then(ctx, z, 2, w, "z_resized")
    assert _layer_types(network)[count:] == ["CONSTANT", "CONCATENATION"]
    assert st.constant_value(ctx, st.leading_then(ctx, z, 2, st.int64_constant(ctx, [7], "seven"), "z7")) == [2, 3, 7]
    assert st.constant_value(ctx, st.as_shape_tensor(ctx, [1, 1, *st.shape_items(ctx, z, "z")], "z5")) == [1, 1, 2, 3, 4]
    assert _layer_types(network)[count + 2:] == ["CONSTANT"] * 3  # [7], [2, 3, 7], [1, 1, 2, 3, 4]
    assert st.shape_items(ctx, x, "x") == [shape]
    for out in [shape, mixed, reversed_, partial, resized]:
        network.mark_output(out)
    for dims, other in [((1, 3, 2), (4, 3, 1)), ((7, 3, 10), (2, 3, 5)), ((2, 3, 5), (9, 3, 9))]:
        feeds = {"x": torch.randn(dims), "y": torch.randn(other), "z": torch.randn(2, 3, 4)}
        got = [t.tolist() for t in execute_network(network, feeds, cache=False).values()]
        assert got == [list(dims), [other[0], 3, dims[2]], [dims[2], 3, dims[0]], [dims[0], 3], [2, 3, dims[2]]]


def test_shape_items_are_ints_when_static_else_one_read_of_the_shape():
    """shape_items: static sizes as ints (no layer at all, not even a SHAPE layer a fold would leave unread), all dims
    in order as the shape itself, other dims as one slice / gather of it; negative dims wrap; dims out of range are
    refused naming the dims and the rank."""
    builder, network, ctx, x = _network()
    z = network.add_input("z", trt.float32, (2, 3, 4))
    assert st.shape_items(ctx, z, "z") == [2, 3, 4]
    assert st.shape_items(ctx, z, "z", [-1, 0]) == [4, 2]
    assert st.shape_items(ctx, x, "x", [1, -2]) == [3, 3]       # x's static dim, read from no shape layer
    assert st.shape_items(ctx, x, "x", []) == []
    assert _layer_types(network) == []
    shape = st.shape_of(ctx, x, "s")
    assert st.shape_items(ctx, x, "x") == [shape]
    assert st.shape_items(ctx, x, "x", [-3, 1, -1]) == [shape]  # all of them in order: the shape itself
    before = len(_layer_types(network))
    (last,) = st.shape_items(ctx, x, "x", [-1])
    (outer,) = st.shape_items(ctx, x, "x", [0, 2])
    (backwards,) = st.shape_items(ctx, x, "x", [2, -3])
    (with_static,) = st.shape_items(ctx, x, "x", [1, 0])
    (uneven,) = st.shape_items(ctx, x, "x", [2, 0, -2])
    # evenly spaced dims (backwards too) are one slice, others one gather by an index constant
    assert _layer_types(network)[before:] == ["SLICE"] * 4 + ["CONSTANT", "GATHER"]
    assert [tuple(item.shape) for item in (last, outer, backwards, with_static, uneven)] == \
        [(1,), (2,), (2,), (2,), (3,)]
    for dims in ([3], [0, -4]):
        with pytest.raises(st.ShapeValueError, match=re.escape(f"x: dims {dims} are out of range for rank 3")):
            st.shape_items(ctx, x, "x", dims)
    frozen = [st.as_shape_tensor(ctx, [1, *st.shape_items(ctx, x, "x", dims), -1], f"f{i}")
              for i, dims in enumerate(([2], [0, 2], [2, -3], [1, 0], [1], None))]
    for tensor in (last, outer, backwards, with_static, uneven, *frozen):
        network.mark_output(tensor)
    for dims in [(1, 3, 2), (4, 3, 9), (6, 3, 5)]:
        data = torch.randn(dims)
        size = data.shape  # eager's sizes, read by indexing as torch does
        feeds = {"x": data, "z": torch.randn(2, 3, 4)}
        got = [t.tolist() for t in execute_network(network, feeds, cache=False).values()]
        assert got == [[size[-1]], [size[0], size[2]], [size[2], size[-3]], [size[1], size[0]], [size[2], size[0], size[-2]],
                       [1, size[2], -1], [1, size[0], size[2], -1], [1, size[2], size[-3], -1],
                       [1, size[1], size[0], -1], [1, 3, -1], [1, *size, -1]]


def test_concatenation_entries_say_which_part_holds_them_and_which_size_they_are():
    """A concatenation records each entry as the element of its part: a size computed at run time (n // 2) stays an
    element of its part, the others resolve to what they are (ints, sizes of x). One entry held by a one-entry part
    is that part, static entries are constants, even beside a computed part, and nothing else is built for them."""
    builder, network, ctx, x = _network()
    half = st.to_1d(ctx, st.shape_binary(ctx, "floordiv", st.dim_of(ctx, x, 0, "n"), 2, "half"), "half1")
    w = st.gather_dims(ctx, st.shape_of(ctx, x, "s"), [2], "w")
    cat = st.as_shape_tensor(ctx, [half, 3, 5, w], "cat")
    assert st.entries(ctx, cat) == (st.Element(half, 0), 3, 5, (x, 2))
    assert st.entries(ctx, half) is None
    before = _layer_types(network)
    assert st.gather_dims(ctx, cat, [0], "first") is half
    assert st.gather_dims(ctx, cat, [3], "last") is w
    assert st.constant_value(ctx, st.gather_dims(ctx, cat, [1, 2], "static")) == [3, 5]
    assert _layer_types(network) == before  # [3, 5] is the constant the concatenation already has
    head = st.gather_dims(ctx, cat, [0, 1], "head")
    assert st.entries(ctx, head) == (st.Element(half, 0), 3)
    assert st.gather_dims(ctx, head, [0], "head0") is half
    nested = st.concat_shapes(ctx, [head, w], "nested")
    assert st.entries(ctx, nested) == (st.Element(half, 0), 3, (x, 2))
    assert st.gather_dims(ctx, nested, [2], "nested_w") is w
    assert _layer_types(network)[len(before):] == ["SLICE", "CONCATENATION"]
    for tensor in (cat, head, nested):
        network.mark_output(tensor)
    for dims in [(1, 3, 2), (7, 3, 10), (4, 3, 5)]:
        data = torch.randn(dims)
        got = [t.tolist() for t in execute_network(network, {"x": data}, cache=False).values()]
        n, w_ = data.shape[0], data.shape[2]
        assert got == [[n // 2, 3, 5, w_], [n // 2, 3], [n // 2, 3, w_]]
