"""MatrixMultiply (NONE / TRANSPOSE / VECTOR, batch broadcasting) and Einsum."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from trt_dyn._trt import trt
from trt_dyn.testing.executor import UnsupportedLayerError

from ._netutil import Net, assert_close, rand

M = trt.MatrixOperation


def _np_op(a, op):
    return np.swapaxes(a, -1, -2) if op == M.TRANSPOSE else a


CASES = [
    # a shape, op0, b shape, op1
    ((2, 3, 4), M.NONE, (2, 4, 5), M.NONE),
    ((2, 4, 3), M.TRANSPOSE, (1, 4, 5), M.NONE),
    ((1, 3, 4), M.NONE, (2, 5, 4), M.TRANSPOSE),
    ((3, 4), M.TRANSPOSE, (5, 3), M.TRANSPOSE),
    ((2, 4), M.VECTOR, (2, 4, 5), M.NONE),
    ((2, 3, 4), M.NONE, (2, 4), M.VECTOR),
    ((2, 4), M.VECTOR, (2, 4), M.VECTOR),
    ((4,), M.VECTOR, (4, 3), M.NONE),
]


@pytest.mark.parametrize("a_shape,op0,b_shape,op1", CASES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_matrix_multiply(a_shape, op0, b_shape, op1, dtype):
    net = Net()
    a = net.input("a", dtype, a_shape)
    b = net.input("b", dtype, b_shape)
    layer = net.network.add_matrix_multiply(a, op0, b, op1)
    net.output(layer.get_output(0))
    net.build()
    x, y = rand(a_shape, dtype, seed=1), rand(b_shape, dtype, seed=2)
    xa, ya = _np_op(x.double().numpy(), op0), _np_op(y.double().numpy(), op1)
    if op0 == M.VECTOR:
        xa = xa[..., None, :]
    if op1 == M.VECTOR:
        ya = ya[..., :, None]
    ref = xa @ ya
    if op1 == M.VECTOR:
        ref = ref[..., 0]
    if op0 == M.VECTOR:
        ref = ref[..., 0] if op1 == M.VECTOR else ref[..., 0, :]
    tol = 2e-2 if dtype == torch.float16 else 1e-5
    assert_close(net.run1(a=x, b=y), torch.from_numpy(np.asarray(ref)).to(dtype), rtol=tol, atol=tol)


def test_matrix_multiply_dynamic_batch():
    net = Net()
    a = net.input("a", torch.float32, (-1, 3, 4), (1, 3, 4), (5, 3, 4))
    w = net.const(rand((1, 4, 6)).numpy())
    layer = net.network.add_matrix_multiply(a, M.NONE, w, M.NONE)
    net.output(layer.get_output(0))
    net.build()
    wv = rand((1, 4, 6)).double().numpy()
    for n in (1, 5):
        x = rand((n, 3, 4), seed=n)
        assert_close(net.run1(a=x), (x.double().numpy() @ wv).astype(np.float32), rtol=1e-5, atol=1e-5)


EINSUMS = [
    ("ij,jk->ik", [(3, 4), (4, 5)]),
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
    ("ij->ji", [(3, 4)]),
    ("ij->", [(3, 4)]),
    ("i,i->", [(6,), (6,)]),
    ("ik,k->i", [(3, 4), (4,)]),
    ("bhqd,bhkd->bhqk", [(1, 2, 3, 4), (1, 2, 5, 4)]),
    ("ij,jk", [(3, 4), (4, 5)]),
    ("abc,cd,de->abe", [(2, 3, 4), (4, 5), (5, 2)]),
]


@pytest.mark.parametrize("equation,shapes", EINSUMS, ids=[e for e, _ in EINSUMS])
def test_einsum(equation, shapes):
    net = Net()
    tensors = [net.input(f"x{i}", torch.float32, s) for i, s in enumerate(shapes)]
    layer = net.network.add_einsum(tensors, equation)
    net.output(layer.get_output(0))
    net.build()
    values = {f"x{i}": rand(s, seed=i) for i, s in enumerate(shapes)}
    ref = np.einsum(equation, *[v.double().numpy() for v in values.values()])
    assert_close(net.run1(**values), np.asarray(ref, np.float32), rtol=1e-5, atol=1e-5)


def test_einsum_diagonal_is_unsupported():
    net = Net()
    x = net.input("x", torch.float32, (3, 3))
    layer = net.network.add_einsum([x], "ii->i")
    if layer is None:
        pytest.skip("TensorRT refuses the equation at construction")
    layer.name = "diag"
    net.output(layer.get_output(0))
    with pytest.raises(UnsupportedLayerError, match="diag"):
        net.run(x=rand((3, 3)))
