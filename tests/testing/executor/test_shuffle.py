"""Shuffle, Squeeze, Unsqueeze, Concatenation, Slice (every SampleMode), Padding, Shape."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from trt_dyn._trt import trt
from trt_dyn.testing.executor import LayerExecutionError

from ._netutil import Net, assert_close, rand

S = trt.SampleMode


@pytest.mark.parametrize(
    "first,reshape,second,zero_is_placeholder",
    [
        ((0, 1, 2), None, (0, 1, 2), True),
        ((2, 0, 1), None, (0, 1, 2), True),
        ((0, 1, 2), (0, -1), (1, 0), True),
        ((1, 0, 2), (0, 0, 2, -1), (3, 2, 1, 0), True),
        ((0, 1, 2), (-1,), (0,), True),
        ((0, 2, 1), (0, 2, -1), (0, 2, 1), True),
    ],
)
def test_shuffle_static(first, reshape, second, zero_is_placeholder):
    net = Net()
    x = net.input("x", torch.float32, (-1, 3, 4), (1, 3, 4), (6, 3, 4))
    layer = net.network.add_shuffle(x)
    layer.first_transpose = first
    if reshape is not None:
        layer.reshape_dims = reshape
    layer.second_transpose = second
    layer.zero_is_placeholder = zero_is_placeholder
    net.output(layer.get_output(0))
    net.build()
    for n in (2, 4):
        v = rand((n, 3, 4), seed=n)
        a = v.numpy().transpose(first)
        if reshape is not None:
            dims = [a.shape[i] if d == 0 else d for i, d in enumerate(reshape)]
            a = a.reshape(dims)
        a = a.transpose(second[: a.ndim])
        assert_close(net.run1(x=v), a)


def test_shuffle_zero_is_not_placeholder():
    net = Net()
    x = net.input("x", torch.float32, (2, 0, 3))
    layer = net.network.add_shuffle(x)
    layer.zero_is_placeholder = False
    layer.reshape_dims = (0, 4)
    net.output(layer.get_output(0))
    net.build()
    got = net.run1(x=torch.zeros(2, 0, 3))
    assert tuple(got.shape) == (0, 4)


def test_shuffle_dynamic_reshape_from_shape_tensor():
    # reshape x (N, 6) to the shape of y (computed at run time): N*6 -> (N*2, 3)
    net = Net()
    x = net.input("x", torch.float32, (-1, 6), (1, 6), (5, 6))
    y = net.input("y", torch.float32, (-1, 3), (2, 3), (10, 3))
    shape = net.network.add_shape(y)
    layer = net.network.add_shuffle(x)
    layer.set_input(1, shape.get_output(0))
    layer.second_transpose = (1, 0)
    net.output(layer.get_output(0))
    net.build()
    for n in (1, 3):
        v = rand((n, 6), seed=n)
        got = net.run1(x=v, y=torch.zeros(2 * n, 3))
        assert_close(got, v.numpy().reshape(2 * n, 3).T)


def test_shuffle_shape_tensor_input_with_placeholder_and_infer():
    net = Net()
    x = net.input("x", torch.float32, (-1, 4, 3), (1, 4, 3), (4, 4, 3))
    dims = net.shape_input("dims", 3, lo=(0, 0, -1), hi=(0, 2, -1))
    layer = net.network.add_shuffle(x)
    layer.set_input(1, dims)
    net.output(layer.get_output(0))
    net.build()
    v = rand((3, 4, 3))
    got = net.run1(x=v, dims=torch.tensor([0, 2, -1], dtype=torch.int32))
    assert_close(got, v.numpy().reshape(3, 2, 6))


def test_squeeze_unsqueeze():
    net = Net()
    x = net.input("x", torch.float32, (-1, 1, 4, 1), (1, 1, 4, 1), (3, 1, 4, 1))
    sq = net.network.add_squeeze(x, net.const(np.array([1, -1], np.int64)))
    un = net.network.add_unsqueeze(sq.get_output(0), net.const(np.array([0, 3], np.int32)))
    net.output(sq.get_output(0), un.get_output(0))
    net.build()
    for n in (1, 3):
        v = rand((n, 1, 4, 1), seed=n)
        out = list(net.run(x=v).values())
        assert_close(out[0], v.numpy().reshape(n, 4))
        assert_close(out[1], v.numpy().reshape(1, n, 4, 1))


@pytest.mark.parametrize("axis", [0, 1, 2])
@pytest.mark.parametrize("dtype", [torch.float32, torch.int64, torch.bool])
def test_concatenation(axis, dtype):
    net = Net()
    a = net.input("a", dtype, (-1, 2, 3), (1, 2, 3), (4, 2, 3))
    b = net.input("b", dtype, (-1, 2, 3), (1, 2, 3), (4, 2, 3))
    layer = net.network.add_concatenation([a, b, a])
    layer.axis = axis
    net.output(layer.get_output(0))
    net.build()
    n = 2
    x, y = rand((n, 2, 3), dtype, seed=1), rand((n, 2, 3), dtype, seed=2)
    assert_close(net.run1(a=x, b=y), np.concatenate([x.numpy(), y.numpy(), x.numpy()], axis=axis))


def _np_slice(x, start, size, stride, mode, fill=0.0):
    out = np.empty(size, dtype=x.dtype)
    for pos in np.ndindex(*size):
        src, inside = [], True
        for d, (p, s0, st) in enumerate(zip(pos, start, stride)):
            c, n = s0 + p * st, x.shape[d]
            if mode == S.WRAP:
                c = c % n
            elif mode == S.CLAMP:
                c = min(max(c, 0), n - 1)
            elif mode == S.REFLECT:
                period = 2 * n - 2
                cc = abs(c) % period if period else 0
                c = 2 * n - 2 - cc if cc >= n else cc
            elif not 0 <= c < n:
                inside = False
            src.append(c)
        out[pos] = x[tuple(src)] if inside else fill
    return out


SLICES = [
    ((0, 1), (2, 2), (1, 1)),
    ((3, 3), (3, 2), (-1, -2)),
    ((-2, 1), (5, 4), (1, 1)),
    ((1, -3), (4, 6), (2, 1)),
    ((4, 4), (6, 3), (-1, -1)),
]


@pytest.mark.parametrize("mode", [S.WRAP, S.CLAMP, S.FILL, S.REFLECT], ids=lambda m: m.name)
@pytest.mark.parametrize("start,size,stride", SLICES)
def test_slice_modes(mode, start, size, stride):
    net = Net()
    x = net.input("x", torch.float32, (4, 5))
    layer = net.network.add_slice(x, start, size, stride)
    layer.mode = mode
    if mode == S.FILL:
        layer.set_input(4, net.const(np.array(7.5, np.float32)))
    net.output(layer.get_output(0))
    net.build()
    v = rand((4, 5))
    assert_close(net.run1(x=v), _np_slice(v.numpy(), start, size, stride, mode, fill=7.5))


def test_slice_strict_bounds_in_and_out_of_bounds():
    net = Net()
    x = net.input("x", torch.float32, (4, 5))
    layer = net.network.add_slice(x, (3, 4), (2, 3), (-1, -2))
    layer.name = "strict"
    net.output(layer.get_output(0))
    net.build()
    v = rand((4, 5))
    assert_close(net.run1(x=v), v.numpy()[3:1:-1, 4::-2])
    net = Net()
    x = net.input("x", torch.float32, (4, 5))
    layer = net.network.add_slice(x, (3, 0), (2, 2), (1, 1))
    layer.name = "strict_oob"
    net.output(layer.get_output(0))
    with pytest.raises(LayerExecutionError, match="strict_oob"):
        net.run(x=v)


def test_slice_dynamic_start_size_stride_and_axes():
    net = Net()
    x = net.input("x", torch.float32, (-1, 6, 5), (1, 6, 5), (4, 6, 5))
    start = net.shape_input("start", 2, lo=(0, 0), hi=(3, 3))
    size = net.shape_input("size", 2, lo=(1, 1), hi=(4, 4))
    stride = net.shape_input("stride", 2, lo=(1, 1), hi=(2, 2))
    layer = net.network.add_slice(x, (0, 0), (1, 1), (1, 1))
    layer.set_input(1, start)
    layer.set_input(2, size)
    layer.set_input(3, stride)
    layer.set_input(5, net.const(np.array([2, 1], np.int32)))
    net.output(layer.get_output(0))
    net.build()
    v = rand((3, 6, 5))
    got = net.run1(
        x=v,
        start=torch.tensor([1, 0], dtype=torch.int32),
        size=torch.tensor([2, 3], dtype=torch.int32),
        stride=torch.tensor([2, 2], dtype=torch.int32),
    )
    # axes (2, 1): start/size/stride[0] apply to axis 2, [1] to axis 1
    assert_close(got, v.numpy()[:, 0:6:2, 1:5:2][:, :3, :2])


def test_slice_fill_default_value_and_shape_tensor():
    net = Net()
    x = net.input("x", torch.int32, (3,))
    layer = net.network.add_slice(x, (-1,), (5,), (1,))
    layer.mode = S.FILL
    net.output(layer.get_output(0))
    net.build()
    assert_close(net.run1(x=torch.tensor([4, 5, 6], dtype=torch.int32)), [0, 4, 5, 6, 0])


@pytest.mark.parametrize("pre,post", [((1, 2), (0, 1)), ((0, 0), (2, 2)), ((-1, 1), (1, -2))])
def test_padding(pre, post):
    net = Net()
    x = net.input("x", torch.float32, (-1, 2, 4, 5), (1, 2, 4, 5), (3, 2, 4, 5))
    layer = net.network.add_padding_nd(x, pre, post)
    net.output(layer.get_output(0))
    net.build()
    v = rand((2, 2, 4, 5))
    a = v.numpy()
    pos = [(max(p, 0), max(q, 0)) for p, q in zip(pre, post)]
    a = np.pad(a, [(0, 0), (0, 0)] + pos)
    h0, w0 = max(-pre[0], 0), max(-pre[1], 0)
    h1 = a.shape[2] - max(-post[0], 0)
    w1 = a.shape[3] - max(-post[1], 0)
    assert_close(net.run1(x=v), a[:, :, h0:h1, w0:w1])


def test_shape_layer_and_shape_arithmetic():
    net = Net()
    x = net.input("x", torch.float16, (-1, 3, -1), (1, 3, 1), (4, 3, 8))
    shape = net.network.add_shape(x)
    doubled = net.network.add_elementwise(shape.get_output(0), shape.get_output(0), trt.ElementWiseOperation.SUM)
    net.output(shape.get_output(0), doubled.get_output(0))
    net.build()
    out = list(net.run(x=torch.zeros(2, 3, 7, dtype=torch.float16)).values())
    assert out[0].dtype == torch.int64
    assert out[0].tolist() == [2, 3, 7]
    assert out[1].tolist() == [4, 6, 14]


@pytest.mark.parametrize("batch_axis,seq_axis", [(1, 0), (0, 1), (2, 0)])
def test_reverse_sequence(batch_axis, seq_axis):
    shape = [4, 3, 2]
    net = Net()
    x = net.input("x", torch.float32, tuple(shape))
    lens = net.input("lens", torch.int32, (shape[batch_axis],))
    layer = net.network.add_reverse_sequence(x, lens)
    layer.batch_axis = batch_axis
    layer.sequence_axis = seq_axis
    net.output(layer.get_output(0))
    net.build()
    v = rand(shape)
    n = np.array([min(i + 1, shape[seq_axis]) for i in range(shape[batch_axis])], np.int32)
    n[0] = 0
    ref = v.numpy().copy()
    for b in range(shape[batch_axis]):
        for p in range(n[b]):
            dst = [slice(None)] * 3
            src = [slice(None)] * 3
            dst[batch_axis] = src[batch_axis] = b
            dst[seq_axis], src[seq_axis] = p, n[b] - 1 - p
            ref[tuple(dst)] = v.numpy()[tuple(src)]
    assert_close(net.run1(x=v, lens=torch.from_numpy(n)), ref)


@pytest.mark.parametrize("start,size,stride", [((1,), (2,), (1,)), ((3,), (2,), (-2,)), ((2,), (3,), (0,))])
def test_slice_of_a_shape_tensor_sizes_a_fill(start, size, stride):
    """A static slice of an IShapeLayer output (an int64 shape tensor) read as the dims of a fill, as gather_dims
    emits it: TensorRT builds it, and the executor reads the same entries."""
    net = Net()
    x = net.input("x", torch.float32, (-1, -1, 2, -1), (1, 1, 2, 1), (3, 4, 2, 5))
    picked = net.network.add_slice(net.network.add_shape(x).get_output(0), start, size, stride).get_output(0)
    fill = net.network.add_fill((1,) * size[0], trt.FillOperation.LINSPACE, trt.float32)
    fill.set_input(0, picked)
    fill.set_input(1, net.const(np.array(0.5, np.float32)))
    fill.set_input(2, net.const(np.arange(1, size[0] + 1, dtype=np.float32)))
    net.output(picked, fill.get_output(0))
    net.build()
    for dims in [(3, 4, 2, 5), (2, 1, 2, 3), (1, 3, 2, 4)]:
        entries = [dims[start[0] + k * stride[0]] for k in range(size[0])]
        got = list(net.run(x=torch.randn(dims)).values())
        assert got[0].dtype == torch.int64 and got[0].tolist() == entries
        grid = np.meshgrid(*[np.arange(n) for n in entries], indexing="ij")
        assert_close(got[1], 0.5 + sum((k + 1) * g for k, g in enumerate(grid)).astype(np.float32))
