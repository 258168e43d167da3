"""ILoops inside ILoop bodies: each inner loop runs completely once per outer iteration, with its own
recurrences, iterators, trip limits and outputs; checked against plain torch computations."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from trt_dyn._trt import trt
from trt_dyn.testing.executor import LayerExecutionError, get_executor

from ._netutil import Net, assert_close, rand

E = trt.ElementWiseOperation


def _dim(net: Net, tensor: trt.ITensor, axis: int) -> trt.ITensor:
    """A 0-D int64 tensor holding ``tensor.shape[axis]``."""
    shape = net.network.add_shape(tensor).get_output(0)
    return net.network.add_gather(shape, net.const(np.array(axis, np.int32)), 0).get_output(0)


def _running_sum_network() -> Net:
    """Outer COUNT loop over the rows of x; inner COUNT loop over the row's elements.

    carry = 0; for each row: acc = carry; for each element e: acc = acc + e, emit acc (inner
    CONCATENATE); carry = LAST_VALUE(acc). Outputs: the rows of emitted sums (outer CONCATENATE of
    the inner CONCATENATE) = cumsum of x flattened, the per-row totals (outer CONCATENATE of the
    inner LAST_VALUE), the rows reversed (outer REVERSE), and LAST_VALUE(carry) = x.sum().
    """
    net = Net()
    x = net.input("x", torch.float32, (-1, -1), lo=(1, 1), hi=(6, 7))
    rows, cols = _dim(net, x, 0), _dim(net, x, 1)
    outer = net.network.add_loop()
    outer.add_trip_limit(rows, trt.TripLimit.COUNT)
    row = outer.add_iterator(x, 0).get_output(0)
    carry = outer.add_recurrence(net.const(np.array(0.0, np.float32)))

    inner = net.network.add_loop()
    inner.add_trip_limit(cols, trt.TripLimit.COUNT)
    element = inner.add_iterator(row, 0).get_output(0)
    acc = inner.add_recurrence(carry.get_output(0))
    total = net.network.add_elementwise(acc.get_output(0), element, E.SUM).get_output(0)
    acc.set_input(1, total)
    emitted = inner.add_loop_output(total, trt.LoopOutput.CONCATENATE)
    emitted.set_input(1, cols)
    row_end = inner.add_loop_output(acc.get_output(0), trt.LoopOutput.LAST_VALUE).get_output(0)

    carry.set_input(1, row_end)
    row_sum = net.network.add_elementwise(row_end, carry.get_output(0), E.SUB).get_output(0)
    sums = outer.add_loop_output(emitted.get_output(0), trt.LoopOutput.CONCATENATE)
    sums.set_input(1, rows)
    row_sums = outer.add_loop_output(row_sum, trt.LoopOutput.CONCATENATE)
    row_sums.set_input(1, rows)
    doubled = net.network.add_elementwise(row, row, E.SUM).get_output(0)
    reversed_rows = outer.add_loop_output(doubled, trt.LoopOutput.REVERSE)
    reversed_rows.set_input(1, rows)
    grand_total = outer.add_loop_output(carry.get_output(0), trt.LoopOutput.LAST_VALUE)
    net.output(sums.get_output(0), row_sums.get_output(0), reversed_rows.get_output(0), grand_total.get_output(0))
    return net


def test_nested_count_loops_running_sum():
    net = _running_sum_network()
    # TensorRT-RTX builds nested loops: the build proves the network is valid
    net.build()
    executor = get_executor(net.network)
    outer, inner = sorted(executor.loops, key=lambda info: -len(info.body))
    assert inner.parent is outer and outer.children == [inner] and outer.parent is None
    for seed, shape in enumerate([(1, 1), (3, 4), (6, 7), (5, 2), (2, 5)]):
        xv = rand(shape, seed=seed)
        sums, row_sums, reversed_rows, grand_total = net.run(x=xv).values()
        flat = xv.double().flatten().cumsum(0).reshape(shape)
        assert_close(sums, flat, rtol=1e-5, atol=1e-4)
        assert_close(row_sums, xv.double().sum(1), rtol=1e-5, atol=1e-4)
        assert_close(reversed_rows, (2 * xv).flip(0))
        assert_close(grand_total, xv.double().sum(), rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("bound", ["inner_recurrence", "outer_tensor"])
def test_inner_while_loop_bounded_by_the_outer_iteration(bound):
    """for i in range(n): s = 0; j = 0; while j <= i: s += v[j]; j += 1; emit s  ->  cumsum(v)[:n].
    The inner WHILE condition depends on the outer recurrence i, so the inner trip count changes
    per outer iteration; the outer LAST_VALUE(i) is n.

    bound="inner_recurrence": the condition reads an inner recurrence initialised from i + 1.
    bound="outer_tensor": the condition reads i + 1 (an outer-body tensor) directly. TensorRT-RTX
    1.6 refuses to build that network ("No nesting relationship. In deeperScope"), so its build
    step is skipped; the executor result is still checked against torch.
    """
    net = Net()
    v = net.input("v", torch.float32, (-1,), lo=(1,), hi=(9,))
    n = net.shape_input("n", 0, lo=[0], hi=[9])
    outer = net.network.add_loop()
    outer.add_trip_limit(n, trt.TripLimit.COUNT)
    i = outer.add_recurrence(net.const(np.array(0, np.int32)))
    one = net.const(np.array(1, np.int32))
    i_next = net.network.add_elementwise(i.get_output(0), one, E.SUM).get_output(0)
    i.set_input(1, i_next)

    inner = net.network.add_loop()
    j = inner.add_recurrence(net.const(np.array(0, np.int32)))
    s = inner.add_recurrence(net.const(np.array(0.0, np.float32)))
    if bound == "inner_recurrence":
        limit = inner.add_recurrence(i_next)
        limit.set_input(1, limit.get_output(0))
        limit_value = limit.get_output(0)
    else:
        limit_value = i_next
    keep_going = net.network.add_elementwise(j.get_output(0), limit_value, E.LESS).get_output(0)
    inner.add_trip_limit(keep_going, trt.TripLimit.WHILE)
    term = net.network.add_gather(v, j.get_output(0), 0).get_output(0)
    s.set_input(1, net.network.add_elementwise(s.get_output(0), term, E.SUM).get_output(0))
    j.set_input(1, net.network.add_elementwise(j.get_output(0), one, E.SUM).get_output(0))
    prefix = inner.add_loop_output(s.get_output(0), trt.LoopOutput.LAST_VALUE).get_output(0)
    steps = inner.add_loop_output(j.get_output(0), trt.LoopOutput.LAST_VALUE).get_output(0)

    prefixes = outer.add_loop_output(prefix, trt.LoopOutput.CONCATENATE)
    prefixes.set_input(1, n)
    inner_trips = outer.add_loop_output(steps, trt.LoopOutput.CONCATENATE)
    inner_trips.set_input(1, n)
    count = outer.add_loop_output(i.get_output(0), trt.LoopOutput.LAST_VALUE)
    net.output(prefixes.get_output(0), inner_trips.get_output(0), count.get_output(0))
    if bound == "inner_recurrence":
        net.build()
    for seed, (length, trips) in enumerate([(1, 1), (4, 3), (9, 9), (7, 5), (5, 0)]):
        vv = rand((length,), seed=seed)
        got_prefixes, got_trips, got_count = net.run(v=vv, n=torch.tensor(trips, dtype=torch.int32)).values()
        assert_close(got_prefixes, vv.double().cumsum(0)[:trips], rtol=1e-5, atol=1e-5)
        assert_close(got_trips, torch.arange(1, trips + 1))
        assert int(got_count) == trips


def _lookahead_network(with_last_value: bool) -> Net:
    """i = 1, cur = v[0]; len(v) times: emit cur; cur = v[i]; i = i + 1. The final iteration's next
    value of cur reads v[len(v)], out of range (the shape of torch_tensorrt's embedding_bag loop)."""
    net = Net()
    v = net.input("v", torch.float32, (-1,), lo=(1,), hi=(8,))
    n = _dim(net, v, 0)
    loop = net.network.add_loop()
    loop.add_trip_limit(n, trt.TripLimit.COUNT)
    one = net.const(np.array(1, np.int64))
    i = loop.add_recurrence(one)
    cur = loop.add_recurrence(net.network.add_gather(v, net.const(np.array(0, np.int64)), 0).get_output(0))
    i.set_input(1, net.network.add_elementwise(i.get_output(0), one, E.SUM).get_output(0))
    cur.set_input(1, net.network.add_gather(v, i.get_output(0), 0).get_output(0))
    seen = loop.add_loop_output(cur.get_output(0), trt.LoopOutput.CONCATENATE)
    seen.set_input(1, n)
    net.output(seen.get_output(0))
    if with_last_value:
        net.output(loop.add_loop_output(cur.get_output(0), trt.LoopOutput.LAST_VALUE).get_output(0))
    return net


def test_unread_final_next_value_is_not_computed():
    net = _lookahead_network(with_last_value=False)
    net.build()
    for seed, length in enumerate([1, 2, 8, 5]):
        vv = rand((length,), seed=seed)
        assert_close(net.run1(v=vv), vv)


def test_final_next_value_read_by_last_value_is_computed():
    net = _lookahead_network(with_last_value=True)
    with pytest.raises(LayerExecutionError, match="gather index 3 is outside"):
        net.run(v=rand((3,)))


def test_three_levels_carry_a_running_sum_through_every_loop():
    """Loops over the three axes of x, a running sum carried from each level into the next: the
    innermost CONCATENATE, stacked by both outer loops, is cumsum(x.flatten()).reshape(x.shape)."""
    net = Net()
    x = net.input("x", torch.float32, (-1, -1, -1), lo=(1, 1, 1), hi=(4, 5, 6))
    sizes = [_dim(net, x, axis) for axis in range(3)]
    zero = net.const(np.array(0.0, np.float32))
    loops, carries, slices = [], [], [x]
    for level in range(3):
        loop = net.network.add_loop()
        loop.add_trip_limit(sizes[level], trt.TripLimit.COUNT)
        slices.append(loop.add_iterator(slices[-1], 0).get_output(0))
        carries.append(loop.add_recurrence(carries[-1].get_output(0) if carries else zero))
        loops.append(loop)
    total = net.network.add_elementwise(carries[2].get_output(0), slices[3], E.SUM).get_output(0)
    carries[2].set_input(1, total)
    emitted = total
    for level in (2, 1, 0):
        stacked = loops[level].add_loop_output(emitted, trt.LoopOutput.CONCATENATE)
        stacked.set_input(1, sizes[level])
        emitted = stacked.get_output(0)
        if level > 0:
            done = loops[level].add_loop_output(carries[level].get_output(0), trt.LoopOutput.LAST_VALUE)
            carries[level - 1].set_input(1, done.get_output(0))
    net.output(emitted)
    net.build()
    executor = get_executor(net.network)
    by_size = sorted(executor.loops, key=lambda info: len(info.body))
    assert by_size[0].parent is by_size[1] and by_size[1].parent is by_size[2] and by_size[2].parent is None
    for seed, shape in enumerate([(1, 1, 1), (2, 3, 4), (4, 5, 6), (3, 1, 5)]):
        xv = rand(shape, seed=seed)
        assert_close(net.run1(x=xv), xv.double().flatten().cumsum(0).reshape(shape), rtol=1e-5, atol=1e-4)
