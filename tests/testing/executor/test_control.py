"""If-conditionals (branch selection, lazy branches, nesting, multiple outputs) and Assertion."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from trt_dyn._trt import trt
from trt_dyn.testing.executor import AssertionLayerError

from ._netutil import Net, assert_close, rand

E = trt.ElementWiseOperation
U = trt.UnaryOperation


def _if_net():
    """out0 = cond ? exp(x) + y : relu(x) * 2 ; out1 = cond ? x : y (two outputs, shared input)."""
    net = Net()
    x = net.input("x", torch.float32, (-1, 3), (1, 3), (4, 3))
    y = net.input("y", torch.float32, (-1, 3), (1, 3), (4, 3))
    c = net.input("c", torch.bool, ())
    cond = net.network.add_if_conditional()
    cond.set_condition(c)
    xi = cond.add_input(x).get_output(0)
    yi = cond.add_input(y).get_output(0)
    then0 = net.network.add_elementwise(net.network.add_unary(xi, U.EXP).get_output(0), yi, E.SUM).get_output(0)
    relu = net.network.add_activation(xi, trt.ActivationType.RELU).get_output(0)
    two = net.const(np.full((1, 1), 2.0, np.float32))
    else0 = net.network.add_elementwise(relu, two, E.PROD).get_output(0)
    out0 = cond.add_output(then0, else0).get_output(0)
    out1 = cond.add_output(xi, yi).get_output(0)
    net.output(out0, out1)
    net.build()
    return net


@pytest.mark.parametrize("flag", [True, False])
def test_if_conditional_selects_branch(flag):
    net = _if_net()
    for n in (1, 4):
        x, y = rand((n, 3), seed=n), rand((n, 3), seed=n + 1)
        out0, out1 = net.run(x=x, y=y, c=torch.tensor(flag)).values()
        if flag:
            assert_close(out0, np.exp(x.numpy()) + y.numpy(), rtol=1e-6, atol=1e-6)
            assert_close(out1, x.numpy())
        else:
            assert_close(out0, np.maximum(x.numpy(), 0) * 2)
            assert_close(out1, y.numpy())


def test_untaken_branch_is_not_evaluated():
    """The else branch holds a layer the executor refuses (random fill): it must never run when the
    condition selects the then branch."""
    from trt_dyn.testing.executor import UnsupportedLayerError

    net = Net()
    x = net.input("x", torch.float32, (2, 3))
    c = net.input("c", torch.bool, ())
    cond = net.network.add_if_conditional()
    cond.set_condition(c)
    xi = cond.add_input(x).get_output(0)
    noise = net.network.add_fill((2, 3), trt.FillOperation.RANDOM_UNIFORM, trt.float32)
    noise.name = "else_noise"
    noisy = net.network.add_elementwise(xi, noise.get_output(0), E.SUM).get_output(0)
    out = cond.add_output(xi, noisy).get_output(0)
    net.output(out)
    net.build()
    v = rand((2, 3))
    assert_close(net.run1(x=v, c=torch.tensor(True)), v.numpy())
    with pytest.raises(UnsupportedLayerError, match="else_noise"):
        net.run(x=v, c=torch.tensor(False))


def test_assertion_inside_a_branch_is_checked_unconditionally():
    """TensorRT checks assertions as shape constraints outside the conditional's control flow (its
    builder checks this very assertion at the profile's kOPT values), so the executor checks it
    whichever branch runs."""
    net = Net()
    # the profile admits -1 (the executor refuses values outside it, as TensorRT does)
    x = net.shape_input("x", 3, lo=(-1, 1, 1), hi=(5, 5, 5))
    c = net.input("c", torch.bool, ())
    cond = net.network.add_if_conditional()
    cond.set_condition(c)
    xi = cond.add_input(x).get_output(0)
    positive = net.network.add_elementwise(xi, net.const(np.zeros(3, np.int32)), E.GREATER).get_output(0)
    check = net.network.add_assertion(positive, "x must be positive")
    check.name = "branch_assert"
    neg = net.network.add_unary(xi, U.NEG).get_output(0)
    out = cond.add_output(xi, neg).get_output(0)
    net.output(out)
    net.build()
    good = torch.tensor([1, 2, 3], dtype=torch.int32)
    assert_close(net.run1(x=good, c=torch.tensor(True)), good.numpy())
    assert_close(net.run1(x=good, c=torch.tensor(False)), -good.numpy())
    bad = torch.tensor([-1, 2, 3], dtype=torch.int32)
    for flag in (True, False):
        with pytest.raises(AssertionLayerError, match="x must be positive"):
            net.run(x=bad, c=torch.tensor(flag))


def test_nested_conditionals():
    """out = a ? (b ? x + 1 : x - 1) : x * 3"""
    net = Net()
    x = net.input("x", torch.float32, (2,))
    a = net.input("a", torch.bool, ())
    b = net.input("b", torch.bool, ())
    one = np.ones(2, np.float32)
    outer = net.network.add_if_conditional()
    outer.set_condition(a)
    xo = outer.add_input(x).get_output(0)
    bo = outer.add_input(b).get_output(0)
    inner = net.network.add_if_conditional()
    inner.set_condition(bo)
    xin = inner.add_input(xo).get_output(0)
    plus = net.network.add_elementwise(xin, net.const(one), E.SUM).get_output(0)
    minus = net.network.add_elementwise(xin, net.const(one), E.SUB).get_output(0)
    inner_out = inner.add_output(plus, minus).get_output(0)
    times = net.network.add_elementwise(xo, net.const(3 * one), E.PROD).get_output(0)
    out = outer.add_output(inner_out, times).get_output(0)
    net.output(out)
    net.build()
    v = torch.tensor([1.5, -2.0])
    for fa in (True, False):
        for fb in (True, False):
            got = net.run1(x=v, a=torch.tensor(fa), b=torch.tensor(fb))
            ref = (v + 1 if fb else v - 1) if fa else v * 3
            assert_close(got, ref.numpy())


def test_condition_computed_in_network():
    """cond = sum(x) > 0 drives the branch; the condition is itself a computed tensor."""
    net = Net()
    x = net.input("x", torch.float32, (-1,), (1,), (8,))
    total = net.network.add_reduce(x, trt.ReduceOperation.SUM, 1, False).get_output(0)
    zero = net.const(np.array(0.0, np.float32))
    c = net.network.add_elementwise(total, zero, E.GREATER).get_output(0)
    cond = net.network.add_if_conditional()
    cond.set_condition(c)
    xi = cond.add_input(x).get_output(0)
    out = cond.add_output(net.network.add_unary(xi, U.ABS).get_output(0),
                          net.network.add_unary(xi, U.NEG).get_output(0)).get_output(0)
    net.output(out)
    net.build()
    for v in (torch.tensor([1.0, -0.5, 2.0]), torch.tensor([-3.0, 1.0])):
        ref = v.abs() if v.sum() > 0 else -v
        assert_close(net.run1(x=v), ref.numpy())


def test_top_level_assertion():
    net = Net()
    x = net.input("x", torch.float32, (-1, 2), (1, 2), (6, 2))
    y = net.input("y", torch.float32, (-1, 2), (1, 2), (6, 2))
    sx = net.network.add_shape(x).get_output(0)
    sy = net.network.add_shape(y).get_output(0)
    eq = net.network.add_elementwise(sx, sy, E.EQUAL).get_output(0)
    check = net.network.add_assertion(eq, "x and y must have the same shape")
    check.name = "same_shape"
    s = net.network.add_elementwise(x, y, E.SUM)
    net.output(s.get_output(0))
    net.build()
    assert_close(net.run1(x=torch.ones(3, 2), y=torch.ones(3, 2)), 2 * np.ones((3, 2), np.float32))
    with pytest.raises(AssertionLayerError, match="same shape") as info:
        net.run(x=torch.ones(3, 2), y=torch.ones(1, 2))
    assert info.value.layer_name == "same_shape"
