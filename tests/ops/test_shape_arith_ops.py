"""Shape producers and shape arithmetic: eager results against Python / aten references."""

import itertools
import math
import random

import pytest
import torch

import trt_dyn  # noqa: F401
from trt_dyn.ops import ALL_OPS

dyn = torch.ops.trt_dyn
SHAPES = [(2, 3, 4), (1, 1), (0, 5), (7,), ()]


def _i(value):
    return torch.tensor(value, dtype=torch.int64)


def test_all_ops_listed_and_registered():
    for name, overload in ALL_OPS.items():
        assert overload is getattr(torch.ops.trt_dyn, name).default
        # shape-value ops end in _dyn; the selection ops keep the name of what they compute
        assert name in ("const", "const_scalar", "nonzero_bounded", "batched_nms") or name.endswith("_dyn"), name
    for required in ("size_dyn", "sym_size_dyn", "numel_dyn", "const", "const_scalar", "shape_cat_dyn",
                     "add_dyn", "sub_dyn", "mul_dyn", "floordiv_dyn", "ceildiv_dyn", "mod_dyn", "min_dyn",
                     "max_dyn", "neg_dyn", "truediv_dyn", "float_dyn", "int_dyn", "ceil_dyn", "floor_dyn",
                     "reshape_dyn", "expand_dyn", "unflatten_dyn", "repeat_dyn", "select_dyn", "full_dyn",
                     "zeros_dyn", "ones_dyn", "new_full_dyn", "new_zeros_dyn", "new_ones_dyn", "arange_dyn",
                     "linspace_dyn", "slice_dyn", "narrow_dyn", "split_dyn", "pad_dyn", "interpolate_dyn",
                     "topk_dyn"):
        assert required in ALL_OPS, required
        assert ALL_OPS[required].__doc__ or ALL_OPS[required]._schema


@pytest.mark.parametrize("shape", SHAPES)
def test_shape_producers(shape):
    x = torch.randn(shape)
    size = dyn.size_dyn(x)
    assert size.dtype == torch.int64 and size.shape == (len(shape),)
    assert size.tolist() == list(shape)
    numel = dyn.numel_dyn(x)
    assert numel.dim() == 0 and numel.item() == math.prod(shape)
    for dim in range(-len(shape), len(shape)):
        value = dyn.sym_size_dyn(x, dim)
        assert value.dim() == 0 and value.dtype == torch.int64 and value.item() == x.size(dim)


def test_sym_size_bad_dim_raises():
    with pytest.raises(IndexError):
        dyn.sym_size_dyn(torch.zeros(2, 3), 2)


def test_const_and_shape_cat():
    assert dyn.const([3, -1, 0]).tolist() == [3, -1, 0]
    assert dyn.const([]).shape == (0,)
    assert dyn.const_scalar(5).dtype == torch.int64 and dyn.const_scalar(5).dim() == 0
    assert dyn.const_scalar(0.25).dtype == torch.float32 and dyn.const_scalar(0.25).item() == 0.25
    with pytest.raises(TypeError, match="const_scalar"):
        dyn.const_scalar(True)
    x = torch.zeros(4, 9, 2)
    parts = [dyn.const([1, 2]), dyn.sym_size_dyn(x, 1), dyn.size_dyn(x), dyn.const_scalar(-1)]
    assert dyn.shape_cat_dyn(parts).tolist() == [1, 2, 9, 4, 9, 2, -1]
    assert dyn.shape_cat_dyn([]).shape == (0,)
    with pytest.raises(TypeError, match="shape_cat_dyn"):
        dyn.shape_cat_dyn([torch.zeros(2)])
    with pytest.raises(ValueError, match="shape_cat_dyn"):
        dyn.shape_cat_dyn([torch.zeros(2, 2, dtype=torch.int64)])


INT_BINARY = {
    "add_dyn": lambda a, b: a + b,
    "sub_dyn": lambda a, b: a - b,
    "mul_dyn": lambda a, b: a * b,
    "floordiv_dyn": lambda a, b: a // b,
    "ceildiv_dyn": lambda a, b: -((-a) // b),
    "mod_dyn": lambda a, b: a % b,
    "min_dyn": min,
    "max_dyn": max,
}


@pytest.mark.parametrize("name", sorted(INT_BINARY))
def test_integer_arithmetic_matches_python(name):
    op = getattr(dyn, name)
    reference = INT_BINARY[name]
    values = [-17, -7, -3, -1, 0, 1, 2, 3, 7, 64, 1001]
    for a, b in itertools.product(values, values):
        if b == 0 and name in ("floordiv_dyn", "ceildiv_dyn", "mod_dyn"):
            continue
        result = op(_i(a), _i(b))
        assert result.dtype == torch.int64 and result.dim() == 0
        assert result.item() == reference(a, b), (name, a, b)
    if name == "ceildiv_dyn":
        for a, b in ((7, 2), (8, 2), (1, 3), (0, 5), (1000001, 7)):
            assert op(_i(a), _i(b)).item() == math.ceil(a / b)


@pytest.mark.parametrize("name", ["floordiv_dyn", "ceildiv_dyn", "mod_dyn", "truediv_dyn"])
def test_division_by_zero_raises(name):
    with pytest.raises(ZeroDivisionError, match=name):
        getattr(dyn, name)(_i(3), _i(0))


def test_broadcast_vector_and_scalar():
    rng = random.Random(0)
    a = [rng.randint(-50, 50) for _ in range(5)]
    b = rng.randint(1, 9)
    out = dyn.floordiv_dyn(torch.tensor(a), _i(b))
    assert out.tolist() == [v // b for v in a]
    out = dyn.mul_dyn(_i(b), torch.tensor(a))
    assert out.tolist() == [v * b for v in a]


def test_float_arithmetic_and_casts():
    for a, b in ((7, 2), (-7, 2), (9, 3), (1, 3), (100, 7)):
        q = dyn.truediv_dyn(_i(a), _i(b))
        assert q.dtype == torch.float32
        assert q.item() == pytest.approx(a / b, rel=1e-6)
        assert dyn.ceil_dyn(q).item() == math.ceil(a / b)
        assert dyn.floor_dyn(q).item() == math.floor(a / b)
        assert dyn.int_dyn(q).item() == int(a / b)  # truncation toward zero
        assert dyn.ceil_dyn(q).dtype == torch.int64
    assert dyn.float_dyn(_i(5)).dtype == torch.float32 and dyn.float_dyn(_i(5)).item() == 5.0
    assert dyn.neg_dyn(_i(4)).item() == -4
    assert dyn.ceil_dyn(_i(4)).item() == 4  # identity on ints
    mixed = dyn.add_dyn(_i(3), dyn.const_scalar(0.5))
    assert mixed.dtype == torch.float32 and mixed.item() == 3.5
    scaled = dyn.mul_dyn(_i(3), dyn.const_scalar(1.5))
    assert dyn.floor_dyn(scaled).item() == 4


def test_bad_shape_operands_raise_naming_the_op():
    with pytest.raises(TypeError, match="add_dyn"):
        dyn.add_dyn(torch.tensor([True]), _i(1))
    with pytest.raises(ValueError, match="mul_dyn"):
        dyn.mul_dyn(torch.zeros(2, 2, dtype=torch.int64), _i(1))
