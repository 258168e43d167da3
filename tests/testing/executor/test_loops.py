"""ILoop: COUNT and WHILE trip limits, recurrences, iterators (forward / reverse), and loop outputs
(LAST_VALUE / CONCATENATE / REVERSE)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from trt_dyn._trt import trt

from ._netutil import Net, assert_close, rand

E = trt.ElementWiseOperation


def test_count_loop_accumulates():
    """acc = x; repeat n times: acc = acc + y  ->  LAST_VALUE(acc) = x + n * y (TensorRT's own example)."""
    net = Net()
    x = net.input("x", torch.float32, (2, 3))
    y = net.input("y", torch.float32, (2, 3))
    n = net.shape_input("n", 0, lo=[0], hi=[10])
    loop = net.network.add_loop()
    loop.add_trip_limit(n, trt.TripLimit.COUNT)
    acc = loop.add_recurrence(x)
    step = net.network.add_elementwise(acc.get_output(0), y, E.SUM)
    acc.set_input(1, step.get_output(0))
    out = loop.add_loop_output(acc.get_output(0), trt.LoopOutput.LAST_VALUE)
    net.output(out.get_output(0))
    net.build()
    xv, yv = rand((2, 3), seed=1), rand((2, 3), seed=2)
    for count in (0, 1, 3):
        got = net.run1(x=xv, y=yv, n=torch.tensor(count, dtype=torch.int32))
        assert_close(got, (xv + count * yv).numpy(), rtol=1e-6, atol=1e-6)


def test_while_loop_counter_and_accumulator():
    """i = 0, s = 0; while i < t: s = s + x * i; i = i + 1 (the shape of roi_align's adaptive loop)."""
    net = Net()
    x = net.input("x", torch.float32, (4,))
    t = net.shape_input("t", 0, lo=[0], hi=[8])
    loop = net.network.add_loop()
    i = loop.add_recurrence(net.const(np.array(0, np.int32)))
    s = loop.add_recurrence(net.const(np.zeros(4, np.float32)))
    go = net.network.add_elementwise(i.get_output(0), t, E.LESS).get_output(0)
    loop.add_trip_limit(go, trt.TripLimit.WHILE)
    i_f = net.network.add_cast(i.get_output(0), trt.float32).get_output(0)
    i_f = net.network.add_shuffle(i_f)
    i_f.reshape_dims = (1,)
    term = net.network.add_elementwise(x, i_f.get_output(0), E.PROD).get_output(0)
    s.set_input(1, net.network.add_elementwise(s.get_output(0), term, E.SUM).get_output(0))
    i.set_input(1, net.network.add_elementwise(i.get_output(0), net.const(np.array(1, np.int32)), E.SUM).get_output(0))
    out_s = loop.add_loop_output(s.get_output(0), trt.LoopOutput.LAST_VALUE).get_output(0)
    out_i = loop.add_loop_output(i.get_output(0), trt.LoopOutput.LAST_VALUE).get_output(0)
    net.output(out_s, out_i)
    net.build()
    xv = rand((4,))
    for trips in (0, 1, 5):
        got_s, got_i = net.run(x=xv, t=torch.tensor(trips, dtype=torch.int32)).values()
        assert int(got_i) == trips
        assert_close(got_s, (xv * sum(range(trips))).numpy(), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("reverse_iter", [False, True])
@pytest.mark.parametrize("kind", [trt.LoopOutput.CONCATENATE, trt.LoopOutput.REVERSE], ids=["concat", "reverse"])
@pytest.mark.parametrize("axis", [0, 1])
def test_iterator_and_scan_outputs(reverse_iter, kind, axis):
    """Running sum over the rows of x: out[k] = sum(rows[0..k]) (rows read forward or backward)."""
    net = Net()
    x = net.input("x", torch.float32, (-1, 3), (1, 3), (6, 3))
    rows = net.network.add_shape(x).get_output(0)
    first = net.network.add_slice(rows, (0,), (1,), (1,)).get_output(0)
    count = net.network.add_shuffle(first)
    count.reshape_dims = ()
    count = net.network.add_cast(count.get_output(0), trt.int32).get_output(0)
    loop = net.network.add_loop()
    loop.add_trip_limit(count, trt.TripLimit.COUNT)
    row = loop.add_iterator(x, 0, reverse_iter).get_output(0)
    acc = loop.add_recurrence(net.const(np.zeros(3, np.float32)))
    new = net.network.add_elementwise(acc.get_output(0), row, E.SUM).get_output(0)
    acc.set_input(1, new)
    scan = loop.add_loop_output(new, kind, axis)
    scan.set_input(1, count)
    net.output(scan.get_output(0))
    net.build()
    for n in (1, 4):
        v = rand((n, 3), seed=n)
        a = v.numpy()[::-1] if reverse_iter else v.numpy()
        per_iter = np.cumsum(a, axis=0)
        if kind == trt.LoopOutput.REVERSE:
            per_iter = per_iter[::-1]
        ref = np.moveaxis(per_iter, 0, axis)
        assert_close(net.run1(x=v), np.ascontiguousarray(ref), rtol=1e-6, atol=1e-6)


def test_loop_invariant_tensor_used_in_the_body():
    """acc = 0; for each row r of x (5 rows): acc = acc * w + r, with w defined outside the loop."""
    net = Net()
    x = net.input("x", torch.float32, (5, 2))
    w = net.input("w", torch.float32, (2,))
    loop = net.network.add_loop()
    loop.add_trip_limit(net.const(np.array(5, np.int32)), trt.TripLimit.COUNT)
    row = loop.add_iterator(x).get_output(0)
    acc = loop.add_recurrence(net.const(np.zeros(2, np.float32)))
    scaled = net.network.add_elementwise(acc.get_output(0), w, E.PROD).get_output(0)
    acc.set_input(1, net.network.add_elementwise(scaled, row, E.SUM).get_output(0))
    out = loop.add_loop_output(acc.get_output(0), trt.LoopOutput.LAST_VALUE)
    net.output(out.get_output(0))
    net.build()
    xv, wv = rand((5, 2)), rand((2,), seed=3)
    ref = np.zeros(2)
    for r in xv.double().numpy():
        ref = ref * wv.double().numpy() + r
    assert_close(net.run1(x=xv, w=wv), ref.astype(np.float32), rtol=1e-5, atol=1e-5)


def test_if_conditional_inside_a_loop_body():
    """acc = 0; for i in 0..3: acc = acc + (i even ? 1 : 10)  ->  1 + 10 + 1 + 10 = 22."""
    net = Net()
    dummy = net.input("d", torch.float32, (1,))
    loop = net.network.add_loop()
    loop.add_trip_limit(net.const(np.array(4, np.int32)), trt.TripLimit.COUNT)
    i = loop.add_recurrence(net.const(np.array(0, np.int32)))
    acc = loop.add_recurrence(net.const(np.array(0, np.int32)))
    two = net.const(np.array(2, np.int32))
    half = net.network.add_elementwise(i.get_output(0), two, E.FLOOR_DIV).get_output(0)
    back = net.network.add_elementwise(half, two, E.PROD).get_output(0)
    even = net.network.add_elementwise(back, i.get_output(0), E.EQUAL).get_output(0)
    cond = net.network.add_if_conditional()
    cond.set_condition(even)
    acc_in = cond.add_input(acc.get_output(0)).get_output(0)
    plus1 = net.network.add_elementwise(acc_in, net.const(np.array(1, np.int32)), E.SUM).get_output(0)
    plus10 = net.network.add_elementwise(acc_in, net.const(np.array(10, np.int32)), E.SUM).get_output(0)
    acc.set_input(1, cond.add_output(plus1, plus10).get_output(0))
    i.set_input(1, net.network.add_elementwise(i.get_output(0), net.const(np.array(1, np.int32)), E.SUM).get_output(0))
    out = loop.add_loop_output(acc.get_output(0), trt.LoopOutput.LAST_VALUE).get_output(0)
    total = net.network.add_cast(out, trt.float32).get_output(0)
    total = net.network.add_shuffle(total)
    total.reshape_dims = (1,)
    net.output(net.network.add_elementwise(total.get_output(0), dummy, E.SUM).get_output(0))
    net.build()
    assert_close(net.run1(d=torch.zeros(1)), [22.0])
