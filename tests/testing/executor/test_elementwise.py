"""ElementWise, Unary, Activation, Cast, Identity, Select, ParametricReLU against NumPy."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from trt_dyn._trt import trt
from trt_dyn.testing.executor import LayerExecutionError, UnsupportedLayerError

from ._netutil import Net, assert_close, rand

E = trt.ElementWiseOperation
U = trt.UnaryOperation
A = trt.ActivationType


def _int_trunc_div(a, b):
    q = np.abs(a) // np.abs(b)
    return np.where((a < 0) ^ (b < 0), -q, q)


ARITH = {
    E.SUM: np.add,
    E.SUB: np.subtract,
    E.PROD: np.multiply,
    E.MAX: np.maximum,
    E.MIN: np.minimum,
}


def _elementwise_net(op, dtype, a_shape, b_shape, out_dynamic=True):
    net = Net()
    lo = tuple(1 if d == -1 else d for d in a_shape)
    hi = tuple(6 if d == -1 else d for d in a_shape)
    a = net.input("a", dtype, a_shape, lo, hi)
    b = net.input("b", dtype, b_shape)
    layer = net.network.add_elementwise(a, b, op)
    layer.name = f"ew_{op.name}"
    net.output(layer.get_output(0))
    net.build()
    return net


@pytest.mark.parametrize("op", list(ARITH) + [E.DIV, E.POW, E.FLOOR_DIV], ids=lambda o: o.name)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_float_arithmetic_broadcast(op, dtype):
    net = _elementwise_net(op, dtype, (-1, 1, 4), (1, 3, 4))
    for n in (1, 5):
        a = rand((n, 1, 4), dtype, seed=n, low=0.5, high=3.0) if op == E.POW else rand((n, 1, 4), dtype, seed=n)
        b = rand((1, 3, 4), dtype, seed=7, low=0.5, high=2.0)
        if op == E.DIV or op == E.FLOOR_DIV:
            b = torch.where(b.abs() < 0.2, torch.ones_like(b), b)
        got = net.run1(a=a, b=b)
        x, y = a.double().numpy(), b.double().numpy()
        if op in ARITH:
            ref = ARITH[op](x, y)
        elif op == E.DIV:
            ref = x / y
        elif op == E.POW:
            ref = np.power(x, y)
        else:
            ref = np.floor(x / y)
        assert got.dtype == dtype
        tol = 2e-3 if dtype == torch.float16 else 1e-5
        if op == E.FLOOR_DIV:
            # floor of a quotient: compare where the quotient is not within rounding of an integer
            q = x / y
            safe = np.abs(q - np.round(q)) > 1e-2
            assert np.array_equal(got.double().numpy()[np.broadcast_to(safe, got.shape)],
                                  np.broadcast_to(ref, got.shape)[np.broadcast_to(safe, got.shape)])
        else:
            assert_close(got, torch.from_numpy(ref).to(dtype), rtol=tol, atol=tol)


@pytest.mark.parametrize("op", list(ARITH) + [E.DIV, E.FLOOR_DIV], ids=lambda o: o.name)
@pytest.mark.parametrize("dtype", [torch.int32, torch.int64])
def test_int_arithmetic(op, dtype):
    net = _elementwise_net(op, dtype, (-1, 3), (1, 3))
    a = torch.tensor([[7, -7, 6], [-9, 5, 0], [100, -100, 3]], dtype=dtype)
    b = torch.tensor([[2, 2, -4]], dtype=dtype)
    got = net.run1(a=a, b=b)
    x, y = a.numpy().astype(np.int64), b.numpy().astype(np.int64)
    if op in ARITH:
        ref = ARITH[op](x, y)
    elif op == E.DIV:
        ref = _int_trunc_div(x, y)  # C / CUDA integer division truncates toward zero
    else:
        ref = np.floor_divide(x, y)
    assert got.dtype == dtype
    assert_close(got, np.broadcast_to(ref, got.shape))


@pytest.mark.parametrize("op,fn", [(E.AND, np.logical_and), (E.OR, np.logical_or), (E.XOR, np.logical_xor)],
                         ids=["AND", "OR", "XOR"])
def test_logical(op, fn):
    net = _elementwise_net(op, torch.bool, (-1, 4), (1, 4))
    for n in (2, 6):
        a, b = rand((n, 4), torch.bool, seed=n), rand((1, 4), torch.bool, seed=9)
        got = net.run1(a=a, b=b)
        assert got.dtype == torch.bool
        assert_close(got, fn(a.numpy(), b.numpy()))


@pytest.mark.parametrize("op,fn", [(E.EQUAL, np.equal), (E.GREATER, np.greater), (E.LESS, np.less)],
                         ids=["EQUAL", "GREATER", "LESS"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.int32, torch.int64])
def test_comparison(op, fn, dtype):
    net = Net()
    a = net.input("a", dtype, (-1, 5), (1, 5), (4, 5))
    b = net.input("b", dtype, (1, 5))
    layer = net.network.add_elementwise(a, b, op)
    net.output(layer.get_output(0))
    net.build()
    x = torch.tensor([[1, 2, 3, 4, 5], [5, 4, 3, 2, 1], [0, 0, 3, 9, 9]], dtype=dtype)
    y = torch.tensor([[1, 3, 3, 2, 5]], dtype=dtype)
    got = net.run1(a=x, b=y)
    assert got.dtype == torch.bool
    assert_close(got, fn(x.numpy(), y.numpy()))


def test_int_pow_exact_and_ambiguous_cases():
    net = Net()
    a = net.input("a", torch.int32, (4,))
    b = net.input("b", torch.int32, (4,))
    layer = net.network.add_elementwise(a, b, E.POW)
    layer.name = "int_pow"
    net.output(layer.get_output(0))
    net.build()
    got = net.run1(a=torch.tensor([2, -3, 5, 0], dtype=torch.int32), b=torch.tensor([10, 3, 0, 4], dtype=torch.int32))
    assert_close(got, [1024, -27, 1, 0])
    with pytest.raises(UnsupportedLayerError, match="int_pow"):
        net.run(a=torch.tensor([2, 2, 2, 2], dtype=torch.int32), b=torch.tensor([1, -1, 1, 1], dtype=torch.int32))
    with pytest.raises(UnsupportedLayerError, match="int_pow"):
        net.run(a=torch.tensor([3, 2, 2, 2], dtype=torch.int32), b=torch.tensor([20, 1, 1, 1], dtype=torch.int32))


def test_int_division_by_zero_is_an_error():
    net = Net()
    a = net.input("a", torch.int32, (2,))
    layer = net.network.add_elementwise(a, a, E.DIV)
    layer.name = "div0"
    net.output(layer.get_output(0))
    with pytest.raises(LayerExecutionError, match="div0"):
        net.run(a=torch.tensor([1, 0], dtype=torch.int32))


FLOAT_UNARY = {
    U.EXP: (np.exp, -3, 3),
    U.LOG: (np.log, 0.1, 5),
    U.SQRT: (np.sqrt, 0.0, 5),
    U.RECIP: (np.reciprocal, 0.5, 3),
    U.ABS: (np.abs, -3, 3),
    U.NEG: (np.negative, -3, 3),
    U.SIN: (np.sin, -3, 3),
    U.COS: (np.cos, -3, 3),
    U.TAN: (np.tan, -1.2, 1.2),
    U.SINH: (np.sinh, -3, 3),
    U.COSH: (np.cosh, -3, 3),
    U.ASIN: (np.arcsin, -0.99, 0.99),
    U.ACOS: (np.arccos, -0.99, 0.99),
    U.ATAN: (np.arctan, -3, 3),
    U.ASINH: (np.arcsinh, -3, 3),
    U.ACOSH: (np.arccosh, 1.0, 4),
    U.ATANH: (np.arctanh, -0.99, 0.99),
    U.CEIL: (np.ceil, -3, 3),
    U.FLOOR: (np.floor, -3, 3),
    U.ERF: (np.vectorize(math.erf), -3, 3),
    U.SIGN: (np.sign, -3, 3),
    U.ROUND: (np.round, -3, 3),  # NumPy rounds halves to even, as TensorRT documents
}


def _unary_net(op, dtype, shape=(-1, 6), lo=(1, 6), hi=(5, 6)):
    net = Net()
    x = net.input("x", dtype, shape, lo, hi)
    layer = net.network.add_unary(x, op)
    layer.name = f"unary_{op.name}"
    net.output(layer.get_output(0))
    net.build()
    return net


@pytest.mark.parametrize("op", list(FLOAT_UNARY), ids=lambda o: o.name)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_unary_float(op, dtype):
    fn, low, high = FLOAT_UNARY[op]
    net = _unary_net(op, dtype)
    for n in (1, 4):
        x = rand((n, 6), dtype, seed=n, low=low, high=high)
        if op == U.ROUND:
            x = torch.tensor([[0.5, 1.5, 2.5, -0.5, -1.5, 0.4]] * n, dtype=dtype)
        got = net.run1(x=x)
        ref = fn(x.double().numpy())
        assert got.dtype == dtype
        tol = 3e-3 if dtype == torch.float16 else 1e-5
        assert_close(got, torch.from_numpy(np.asarray(ref, dtype=np.float64)).to(dtype), rtol=tol, atol=tol)


@pytest.mark.parametrize("op,fn", [(U.ABS, np.abs), (U.NEG, np.negative), (U.SIGN, np.sign)],
                         ids=["ABS", "NEG", "SIGN"])
@pytest.mark.parametrize("dtype", [torch.int32, torch.int64])
def test_unary_int(op, fn, dtype):
    net = _unary_net(op, dtype)
    x = rand((3, 6), dtype, seed=1, low=-5, high=5)
    got = net.run1(x=x)
    assert got.dtype == dtype
    assert_close(got, fn(x.numpy()))


def test_unary_not_isinf_isnan():
    net = _unary_net(U.NOT, torch.bool)
    x = rand((3, 6), torch.bool)
    assert_close(net.run1(x=x), ~x.numpy())
    special = torch.tensor([[0.0, math.inf, -math.inf, math.nan, 1.0, -2.0]])
    for op, fn in ((U.ISINF, np.isinf), (U.ISNAN, np.isnan)):
        net = _unary_net(op, torch.float32)
        got = net.run1(x=special)
        assert got.dtype == torch.bool
        assert_close(got, fn(special.numpy()))


def _np_activation(kind, x, alpha, beta):
    erf = np.vectorize(math.erf)
    if kind == A.RELU:
        return np.maximum(x, 0)
    if kind == A.SIGMOID:
        return 1 / (1 + np.exp(-x))
    if kind == A.TANH:
        return np.tanh(x)
    if kind == A.LEAKY_RELU:
        return np.where(x >= 0, x, alpha * x)
    if kind == A.ELU:
        return np.where(x >= 0, x, alpha * (np.exp(x) - 1))
    if kind == A.SELU:
        return np.where(x > 0, beta * x, beta * (alpha * np.exp(x) - alpha))
    if kind == A.SOFTSIGN:
        return x / (1 + np.abs(x))
    if kind == A.SOFTPLUS:
        return alpha * np.log(np.exp(beta * x) + 1)
    if kind == A.CLIP:
        return np.maximum(alpha, np.minimum(beta, x))
    if kind == A.HARD_SIGMOID:
        return np.maximum(0, np.minimum(1, alpha * x + beta))
    if kind == A.SCALED_TANH:
        return alpha * np.tanh(beta * x)
    if kind == A.THRESHOLDED_RELU:
        return np.where(x > alpha, x, 0.0)
    if kind == A.GELU_ERF:
        return 0.5 * x * (1 + erf(x / math.sqrt(2)))
    if kind == A.GELU_TANH:
        return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))
    raise AssertionError(kind)


ACTIVATIONS = [
    (A.RELU, 0.0, 0.0), (A.SIGMOID, 0.0, 0.0), (A.TANH, 0.0, 0.0), (A.LEAKY_RELU, 0.1, 0.0),
    (A.ELU, 0.7, 0.0), (A.SELU, 1.6733, 1.0507), (A.SOFTSIGN, 0.0, 0.0), (A.SOFTPLUS, 1.5, 0.8),
    (A.CLIP, -1.0, 2.0), (A.HARD_SIGMOID, 0.2, 0.5), (A.SCALED_TANH, 1.7, 0.66),
    (A.THRESHOLDED_RELU, 0.5, 0.0), (A.GELU_ERF, 0.0, 0.0), (A.GELU_TANH, 0.0, 0.0),
]


@pytest.mark.parametrize("kind,alpha,beta", ACTIVATIONS, ids=[a[0].name for a in ACTIVATIONS])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_activation(kind, alpha, beta, dtype):
    net = Net()
    x = net.input("x", dtype, (-1, 8), (1, 8), (4, 8))
    layer = net.network.add_activation(x, kind)
    layer.alpha, layer.beta = alpha, beta
    net.output(layer.get_output(0))
    net.build()
    for n in (1, 3):
        v = rand((n, 8), dtype, seed=n)
        got = net.run1(x=v)
        ref = _np_activation(kind, v.double().numpy(), alpha, beta)
        assert got.dtype == dtype
        tol = {torch.float32: 1e-5, torch.float16: 3e-3, torch.bfloat16: 2e-2}[dtype]
        assert_close(got, torch.from_numpy(ref).to(dtype), rtol=tol, atol=tol)


def test_activation_relu_int_and_unsupported_int():
    net = Net()
    x = net.input("x", torch.int32, (4,))
    relu = net.network.add_activation(x, A.RELU)
    net.output(relu.get_output(0))
    assert_close(net.run1(x=torch.tensor([-2, 0, 3, -1], dtype=torch.int32)), [0, 0, 3, 0])
    net = Net()
    x = net.input("x", torch.int32, (4,))
    sig = net.network.add_activation(x, A.SIGMOID)
    sig.name = "int_sigmoid"
    net.output(sig.get_output(0))
    with pytest.raises(UnsupportedLayerError, match="int_sigmoid"):
        net.run(x=torch.zeros(4, dtype=torch.int32))


CASTS = [
    (torch.float32, torch.float16), (torch.float32, torch.int32), (torch.float32, torch.bool),
    (torch.float16, torch.float32), (torch.int32, torch.float32), (torch.int32, torch.int64),
    (torch.int64, torch.int32), (torch.bool, torch.float32), (torch.bool, torch.int32),
    (torch.float32, torch.bfloat16), (torch.bfloat16, torch.float32), (torch.int32, torch.int8),
    (torch.int8, torch.float32), (torch.float32, torch.int64),
]


@pytest.mark.parametrize("src,dst", CASTS, ids=[f"{a}-{b}".replace("torch.", "") for a, b in CASTS])
def test_cast(src, dst):
    from ._netutil import TORCH_TO_TRT

    net = Net()
    x = net.input("x", src, (-1, 5), (1, 5), (3, 5))
    layer = net.network.add_cast(x, TORCH_TO_TRT[dst])
    net.output(layer.get_output(0))
    net.build()
    v = rand((3, 5), src, seed=2, low=-100 if src == torch.int32 else -3, high=100 if src == torch.int32 else 3)
    if src == torch.int32 and dst == torch.int8:
        v = v.clamp(-128, 127)
    got = net.run1(x=v)
    assert got.dtype == dst
    x_np = v.double().numpy() if v.dtype == torch.bfloat16 else v.numpy()
    np_dst = {torch.float32: np.float32, torch.float16: np.float16, torch.int32: np.int32,
              torch.int64: np.int64, torch.bool: np.bool_, torch.int8: np.int8, torch.bfloat16: np.float64}[dst]
    if dst in (torch.int32, torch.int64) and src.is_floating_point:
        ref = np.trunc(x_np).astype(np_dst)  # float -> int truncates toward zero
    else:
        ref = x_np.astype(np_dst)
    ref_t = torch.from_numpy(np.asarray(ref)).to(dst)
    assert_close(got, ref_t, rtol=1e-2 if dst == torch.bfloat16 else 1e-3, atol=1e-2 if dst == torch.bfloat16 else 1e-3)


def test_identity_and_select_and_prelu():
    net = Net()
    x = net.input("x", torch.float32, (-1, 4), (1, 4), (5, 4))
    c = net.input("c", torch.bool, (-1, 4), (1, 4), (5, 4))
    y = net.input("y", torch.float32, (1, 4))
    ident = net.network.add_identity(x)
    sel = net.network.add_select(c, ident.get_output(0), y)
    slopes = net.const(np.array([[0.1, 0.2, 0.3, 0.4]], np.float32))
    prelu = net.network.add_parametric_relu(sel.get_output(0), slopes)
    net.output(prelu.get_output(0))
    net.build()
    for n in (1, 5):
        xv, cv, yv = rand((n, 4), seed=n), rand((n, 4), torch.bool, seed=n + 10), rand((1, 4), seed=3)
        s = np.where(cv.numpy(), xv.numpy(), yv.numpy())
        ref = np.where(s >= 0, s, s * np.array([[0.1, 0.2, 0.3, 0.4]]))
        assert_close(net.run1(x=xv, c=cv, y=yv), ref.astype(np.float32))
