"""Gather (DEFAULT / ELEMENT / ND, num_elementwise_dims), Scatter (ELEMENT / ND) and OneHot."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from trt_dyn._trt import trt
from trt_dyn.testing.executor import LayerExecutionError

from ._netutil import Net, assert_close, rand

G = trt.GatherMode


@pytest.mark.parametrize("axis", [0, 1, 2])
@pytest.mark.parametrize("idx_shape", [(), (4,), (2, 3)])
@pytest.mark.parametrize("idx_dtype", [torch.int32, torch.int64])
def test_gather_default(axis, idx_shape, idx_dtype):
    net = Net()
    x = net.input("x", torch.float32, (-1, 4, 5), (3, 4, 5), (6, 4, 5))
    i = net.input("i", idx_dtype, idx_shape)
    layer = net.network.add_gather(x, i, axis)
    net.output(layer.get_output(0))
    net.build()
    for n in (3, 6):
        v = rand((n, 4, 5), seed=n)
        limit = v.shape[axis]
        idx = torch.randint(0, limit, idx_shape, generator=torch.Generator().manual_seed(n)).to(idx_dtype)
        assert_close(net.run1(x=v, i=idx), np.take(v.numpy(), idx.numpy(), axis=axis))


def test_gather_default_one_elementwise_dim():
    net = Net()
    x = net.input("x", torch.float32, (3, 4, 5))
    i = net.input("i", torch.int32, (3, 2))
    layer = net.network.add_gather(x, i, 2)
    layer.num_elementwise_dims = 1
    net.output(layer.get_output(0))
    net.build()
    v = rand((3, 4, 5))
    idx = torch.tensor([[0, 4], [1, 1], [3, 2]], dtype=torch.int32)
    ref = np.stack([np.take(v.numpy()[b], idx.numpy()[b], axis=1) for b in range(3)])
    assert_close(net.run1(x=v, i=idx), ref)


@pytest.mark.parametrize("axis", [0, 1])
def test_gather_element(axis):
    net = Net()
    x = net.input("x", torch.int64, (3, 4))
    i = net.input("i", torch.int32, (2, 4) if axis == 0 else (3, 2))
    layer = net.network.add_gather_v2(x, i, G.ELEMENT)
    layer.axis = axis
    net.output(layer.get_output(0))
    net.build()
    v = rand((3, 4), torch.int64, low=-50, high=50)
    shape = (2, 4) if axis == 0 else (3, 2)
    idx = torch.randint(0, v.shape[axis], shape, generator=torch.Generator().manual_seed(axis)).int()
    assert_close(net.run1(x=v, i=idx), np.take_along_axis(v.numpy(), idx.numpy().astype(np.int64), axis=axis))


def _np_gather_nd(data, idx, batch):
    out_shape = idx.shape[:-1] + data.shape[batch + idx.shape[-1]:]
    flat_idx = idx.reshape(-1, *idx.shape[batch:])
    bshape = data.shape[:batch]
    out = []
    for b in range(int(np.prod(bshape, dtype=np.int64))):
        bidx = np.unravel_index(b, bshape) if batch else ()
        d = data[bidx]
        for t in flat_idx[b].reshape(-1, idx.shape[-1]):
            out.append(d[tuple(t)])
    return np.array(out).reshape(out_shape)


@pytest.mark.parametrize(
    "data_shape,idx_shape,batch",
    [((4, 5, 6), (3, 2), 0), ((4, 5, 6), (2, 2, 3), 0), ((4, 5, 6), (4, 1), 1), ((4, 5, 6), (4, 3, 2), 1)],
)
def test_gather_nd(data_shape, idx_shape, batch):
    net = Net()
    x = net.input("x", torch.float32, data_shape)
    i = net.input("i", torch.int32, idx_shape)
    layer = net.network.add_gather_v2(x, i, G.ND)
    layer.num_elementwise_dims = batch
    net.output(layer.get_output(0))
    net.build()
    v = rand(data_shape)
    k = idx_shape[-1]
    g = torch.Generator().manual_seed(5)
    cols = [torch.randint(0, data_shape[batch + j], idx_shape[:-1], generator=g) for j in range(k)]
    idx = torch.stack(cols, dim=-1).int()
    assert_close(net.run1(x=v, i=idx), _np_gather_nd(v.numpy(), idx.numpy(), batch))


def test_gather_out_of_range_index_is_an_error():
    net = Net()
    x = net.input("x", torch.float32, (3, 4))
    i = net.input("i", torch.int32, (2,))
    layer = net.network.add_gather(x, i, 0)
    layer.name = "oob_gather"
    net.output(layer.get_output(0))
    with pytest.raises(LayerExecutionError, match="oob_gather"):
        net.run(x=rand((3, 4)), i=torch.tensor([0, -1], dtype=torch.int32))


@pytest.mark.parametrize("axis", [0, 1])
def test_scatter_element(axis):
    net = Net()
    x = net.input("x", torch.float32, (4, 5))
    i = net.input("i", torch.int32, (2, 5) if axis == 0 else (4, 2))
    u = net.input("u", torch.float32, (2, 5) if axis == 0 else (4, 2))
    layer = net.network.add_scatter(x, i, u, trt.ScatterMode.ELEMENT)
    layer.axis = axis
    net.output(layer.get_output(0))
    net.build()
    v = rand((4, 5))
    if axis == 0:
        idx = np.array([[0, 1, 2, 3, 0], [3, 2, 1, 0, 1]], np.int32)
        upd = rand((2, 5), seed=2)
    else:
        idx = np.array([[4, 0], [1, 2], [3, 3 - 1], [0, 4]], np.int32)
        upd = rand((4, 2), seed=2)
    ref = v.numpy().copy()
    for pos in np.ndindex(*idx.shape):
        dst = list(pos)
        dst[axis] = idx[pos]
        ref[tuple(dst)] = upd.numpy()[pos]
    assert_close(net.run1(x=v, i=torch.from_numpy(idx), u=upd), ref)


def test_scatter_nd():
    net = Net()
    x = net.input("x", torch.float32, (4, 3, 2))
    i = net.input("i", torch.int32, (2, 2))
    u = net.input("u", torch.float32, (2, 2))
    layer = net.network.add_scatter(x, i, u, trt.ScatterMode.ND)
    net.output(layer.get_output(0))
    net.build()
    v = rand((4, 3, 2))
    idx = torch.tensor([[3, 1], [0, 2]], dtype=torch.int32)
    upd = rand((2, 2), seed=4)
    ref = v.numpy().copy()
    ref[3, 1] = upd.numpy()[0]
    ref[0, 2] = upd.numpy()[1]
    assert_close(net.run1(x=v, i=idx, u=upd), ref)


def test_scatter_duplicate_indices_with_different_updates_are_refused():
    net = Net()
    x = net.input("x", torch.float32, (4,))
    i = net.input("i", torch.int32, (2, 1))
    u = net.input("u", torch.float32, (2,))
    layer = net.network.add_scatter(x, i, u, trt.ScatterMode.ND)
    layer.name = "dup_scatter"
    net.output(layer.get_output(0))
    with pytest.raises(LayerExecutionError, match="dup_scatter.*same slice more than once with different updates"):
        net.run(x=rand((4,)), i=torch.tensor([[1], [1]], dtype=torch.int32), u=torch.tensor([1.0, 2.0]))
    # 0.0 and -0.0 compare equal but are different bits: the result would depend on the order
    with pytest.raises(LayerExecutionError, match="dup_scatter"):
        net.run(x=rand((4,)), i=torch.tensor([[1], [1]], dtype=torch.int32), u=torch.tensor([0.0, -0.0]))


def test_scatter_nd_duplicate_indices_with_equal_updates_are_accepted():
    """Every write order gives the same result when all colliding updates are equal."""
    net = Net()
    x = net.input("x", torch.float32, (5, 3))
    i = net.input("i", torch.int32, (4, 1))
    u = net.input("u", torch.float32, (4, 3))
    net.output(net.network.add_scatter(x, i, u, trt.ScatterMode.ND).get_output(0))
    net.build()
    data = rand((5, 3))
    row_a, row_b = rand((3,), seed=1), rand((3,), seed=2)
    updates = torch.stack([row_a, row_b, row_a, row_a])
    idx = torch.tensor([[3], [0], [3], [3]], dtype=torch.int32)
    expected = data.clone().numpy()
    expected[3], expected[0] = row_a.numpy(), row_b.numpy()
    assert_close(net.run1(x=data, i=idx, u=updates), expected)


def test_scatter_nd_with_no_index_rows_leaves_the_data_unchanged():
    """A data-dependent count of 0 (nothing selected) scatters nothing; the collision check must not choke on it."""
    net = Net()
    x = net.input("x", torch.float32, (5, 3))
    i = net.input("i", torch.int32, (-1, 1), lo=(0, 1), hi=(4, 1))
    u = net.input("u", torch.float32, (-1, 3), lo=(0, 3), hi=(4, 3))
    net.output(net.network.add_scatter(x, i, u, trt.ScatterMode.ND).get_output(0))
    data = rand((5, 3))
    result = net.run1(x=data, i=torch.zeros((0, 1), dtype=torch.int32), u=torch.zeros((0, 3)))
    assert_close(result, data.numpy())


def test_scatter_element_duplicate_indices_equal_updates_accepted_different_refused():
    net = Net()
    x = net.input("x", torch.float32, (3, 4))
    i = net.input("i", torch.int32, (2, 4))
    u = net.input("u", torch.float32, (2, 4))
    layer = net.network.add_scatter(x, i, u, trt.ScatterMode.ELEMENT)
    layer.axis = 0
    layer.name = "element_scatter"
    net.output(layer.get_output(0))
    net.build()
    data = rand((3, 4))
    idx = torch.tensor([[2, 0, 1, 2], [2, 1, 1, 0]], dtype=torch.int32)  # columns 0 and 2 collide
    updates = torch.tensor([[5.0, 6.0, 7.0, 8.0], [5.0, 9.0, 7.0, 10.0]])
    expected = data.clone().numpy()
    for r in range(2):
        for c in range(4):
            expected[idx[r, c], c] = updates[r, c]
    assert_close(net.run1(x=data, i=idx, u=updates), expected)
    clash = updates.clone()
    clash[1, 2] = 7.5
    with pytest.raises(LayerExecutionError, match="element_scatter.*same element more than once"):
        net.run(x=data, i=idx, u=clash)


@pytest.mark.parametrize("axis", [-1, 0, 1])
def test_one_hot(axis):
    net = Net()
    i = net.input("i", torch.int32, (2, 5))
    vals = net.const(np.array([0.5, 2.0], np.float32))
    depth = net.const(np.array(4, np.int32))
    layer = net.network.add_one_hot(i, vals, depth, axis)
    net.output(layer.get_output(0))
    net.build()
    idx = np.array([[0, 1, 2, 3, 4], [-1, -2, -3, -4, -5]], np.int32)
    # ONNX semantics: negative indices count from the end, out-of-range ones give all "off"
    wrapped = np.where(idx < 0, idx + 4, idx)
    hot = (np.arange(4).reshape(4, 1, 1) == wrapped[None]).astype(np.float32)
    ref = np.where(hot > 0, 2.0, 0.5).astype(np.float32)
    ref = np.moveaxis(ref, 0, axis if axis >= 0 else 2)
    assert_close(net.run1(i=torch.from_numpy(idx)), ref)
