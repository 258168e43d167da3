"""Shape consumers: eager results against the aten op with the same sizes as Python ints,
at several shapes including size-1 and zero-size dims, on fresh random data."""

import pytest
import torch
import torch.nn.functional as F

import trt_dyn  # noqa: F401

dyn = torch.ops.trt_dyn


def shape(values):
    return torch.tensor(list(values), dtype=torch.int64)


def scalar(value):
    return torch.tensor(value, dtype=torch.int64 if isinstance(value, int) else torch.float32)


def same(actual, expected):
    assert actual.shape == expected.shape and actual.dtype == expected.dtype
    assert torch.equal(actual, expected)


@pytest.mark.parametrize("src,target", [((2, 3, 4), (6, -1)), ((1, 1, 5), (5,)), ((0, 4), (2, 0, 3)),
                                        ((3, 1, 7), (1, 21))])
def test_reshape_dyn(src, target):
    x = torch.randn(src)
    out = dyn.reshape_dyn(x, shape(target))
    same(out, x.reshape(target))
    assert out.data_ptr() != x.data_ptr() or x.numel() == 0


def test_reshape_dyn_bad_shape_raises():
    with pytest.raises(RuntimeError):
        dyn.reshape_dyn(torch.randn(2, 3), shape([4, 2]))
    with pytest.raises(TypeError, match="reshape_dyn"):
        dyn.reshape_dyn(torch.randn(2, 3), torch.tensor([6.0]))


@pytest.mark.parametrize("src,target", [((1, 3, 1), (2, 3, 5)), ((4, 1), (3, 4, -1)), ((0, 1), (0, 6)),
                                        ((1,), (1,))])
def test_expand_dyn(src, target):
    x = torch.randn(src)
    same(dyn.expand_dyn(x, shape(target)), x.expand(target))


@pytest.mark.parametrize("src,dim,sizes", [((2, 12, 3), 1, (3, 4)), ((6,), 0, (-1, 2)), ((2, 0), 1, (0, 5)),
                                           ((1, 1, 1), -1, (1, 1))])
def test_unflatten_dyn(src, dim, sizes):
    x = torch.randn(src)
    same(dyn.unflatten_dyn(x, dim, shape(sizes)), x.unflatten(dim, sizes))


@pytest.mark.parametrize("src,repeats", [((1, 4), (3, 1)), ((2, 3), (1, 2, 2)), ((0, 2), (4, 1)), ((5,), (0,))])
def test_repeat_dyn(src, repeats):
    x = torch.randn(src)
    same(dyn.repeat_dyn(x, shape(repeats)), x.repeat(repeats))


@pytest.mark.parametrize("src,dim,index", [((4, 3), 0, 3), ((4, 3), 1, -1), ((1, 5, 2), 1, 0), ((2, 0, 3), 2, 1)])
def test_select_dyn(src, dim, index):
    x = torch.randn(src)
    same(dyn.select_dyn(x, dim, scalar(index)), x.select(dim, index))


@pytest.mark.parametrize("size", [(2, 3), (1,), (0, 4), (3, 1, 2)])
def test_factories(size):
    same(dyn.full_dyn(shape(size), 2.5), torch.full(size, 2.5))
    same(dyn.full_dyn(shape(size), 7), torch.full(size, 7))
    same(dyn.full_dyn(shape(size), 1, dtype=torch.float16), torch.full(size, 1, dtype=torch.float16))
    same(dyn.zeros_dyn(shape(size)), torch.zeros(size))
    same(dyn.ones_dyn(shape(size), dtype=torch.int32), torch.ones(size, dtype=torch.int32))
    base = torch.randn(3).to(torch.float64)
    same(dyn.new_zeros_dyn(base, shape(size)), base.new_zeros(size))
    same(dyn.new_ones_dyn(base, shape(size), dtype=torch.int64), base.new_ones(size, dtype=torch.int64))
    same(dyn.new_full_dyn(base, shape(size), -3.0), base.new_full(size, -3.0))


@pytest.mark.parametrize("start,end,step,dtype", [(0, 7, 1, None), (0.5, 9, 2, torch.float32), (5, 5, 1, None),
                                                  (10, 1, -3, None), (0, 1, 1, torch.float32), (3, 100, 7, torch.int32)])
def test_arange_dyn(start, end, step, dtype):
    out = dyn.arange_dyn(scalar(start), scalar(end), scalar(step), dtype=dtype)
    same(out, torch.arange(start, end, step, dtype=dtype))


@pytest.mark.parametrize("start,end,steps", [(0.5, 9.5, 10), (0.0, 1.0, 1), (2.0, -2.0, 5), (0.0, 1.0, 0)])
def test_linspace_dyn(start, end, steps):
    out = dyn.linspace_dyn(scalar(start), scalar(end), scalar(steps), dtype=torch.float32)
    same(out, torch.linspace(start, end, steps, dtype=torch.float32))


@pytest.mark.parametrize("src,dim,start,end,step", [((10, 3), 0, 2, 7, 1), ((10, 3), 0, -4, 2**63 - 1, 2),
                                                     ((4, 1), 1, 0, 1, 1), ((5, 6), 1, 3, 100, 1), ((0, 3), 0, 0, 5, 1),
                                                     ((6,), 0, -100, -2, 1), ((6,), 0, 4, 2, 1)])
def test_slice_dyn(src, dim, start, end, step):
    x = torch.randn(src)
    same(dyn.slice_dyn(x, dim, scalar(start), scalar(end), step),
         torch.ops.aten.slice.Tensor(x, dim, start, end, step))


@pytest.mark.parametrize("src,dim,start,length", [((8, 2), 0, 3, 4), ((8, 2), 1, -1, 1), ((1, 5), 0, 0, 1),
                                                  ((4, 0), 1, 0, 0)])
def test_narrow_dyn(src, dim, start, length):
    x = torch.randn(src)
    same(dyn.narrow_dyn(x, dim, scalar(start), scalar(length)), x.narrow(dim, start, length))


@pytest.mark.parametrize("src,sizes,dim", [((10, 3), (4, 6), 0), ((2, 7), (1, 0, 6), 1), ((1, 4), (1,), 0),
                                           ((0, 3), (0, 0), 0)])
def test_split_dyn(src, sizes, dim):
    x = torch.randn(src)
    parts = dyn.split_dyn(x, shape(sizes), dim)
    expected = torch.split(x, list(sizes), dim)
    assert len(parts) == len(expected)
    for a, b in zip(parts, expected):
        same(a, b)


def test_split_dyn_sizes_must_sum():
    with pytest.raises(RuntimeError):
        dyn.split_dyn(torch.randn(5), shape([2, 2]), 0)


@pytest.mark.parametrize("src,pad,value", [((2, 3, 4), (0, 3, 1, 0), 0.0), ((1, 1), (2, 2), -1.5),
                                           ((3, 5), (-1, 2), 0.0), ((0, 2), (1, 1, 0, 2), 4.0)])
def test_pad_dyn(src, pad, value):
    x = torch.randn(src)
    same(dyn.pad_dyn(x, shape(pad), value), F.pad(x, pad, value=value))


@pytest.mark.parametrize("src,size", [((1, 3, 5, 6), (10, 12)), ((2, 1, 1, 1), (3, 4)), ((1, 2, 7, 3), (4, 2)),
                                      ((1, 2, 4, 4), (4, 4))])
@pytest.mark.parametrize("mode,align", [("nearest", None), ("bilinear", False), ("bilinear", True)])
def test_interpolate_dyn_size(src, size, mode, align):
    x = torch.randn(src)
    out = dyn.interpolate_dyn(x, shape(size), mode, bool(align))
    same(out, F.interpolate(x, size=size, mode=mode, align_corners=align))


@pytest.mark.parametrize("src,scale", [((1, 2, 5, 7), 2.0), ((1, 1, 3, 3), 1.5), ((2, 3, 1, 4), 3.0)])
@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
def test_interpolate_dyn_scales(src, scale, mode):
    x = torch.randn(src)
    expected = F.interpolate(x, scale_factor=scale, mode=mode, align_corners=False if mode == "bilinear" else None)
    out = dyn.interpolate_dyn(x, shape(expected.shape[-2:]), mode, False, [scale, scale])
    same(out, expected)


@pytest.mark.parametrize("mode,src,size", [("linear", (2, 3, 5), (11,)), ("linear", (1, 1, 1), (4,)),
                                           ("linear", (1, 4, 9), (3,)), ("bicubic", (1, 2, 5, 6), (9, 4)),
                                           ("bicubic", (2, 1, 1, 3), (2, 7)), ("bicubic", (1, 3, 8, 8), (8, 8)),
                                           ("trilinear", (1, 2, 3, 4, 2), (5, 1, 3))])
@pytest.mark.parametrize("align", [False, True])
def test_interpolate_dyn_linear_bicubic_trilinear(mode, src, size, align):
    x = torch.randn(src)
    same(dyn.interpolate_dyn(x, shape(size), mode, align), F.interpolate(x, size=size, mode=mode, align_corners=align))


def test_interpolate_dyn_nearest_1d_3d_and_errors():
    x = torch.randn(2, 3, 5)
    same(dyn.interpolate_dyn(x, shape([11]), "nearest"), F.interpolate(x, size=11, mode="nearest"))
    v = torch.randn(1, 2, 3, 4, 2)
    same(dyn.interpolate_dyn(v, shape([5, 1, 3]), "nearest"), F.interpolate(v, size=(5, 1, 3), mode="nearest"))
    with pytest.raises(NotImplementedError, match="area"):
        dyn.interpolate_dyn(torch.randn(1, 1, 2, 2), shape([4, 4]), "area")
    with pytest.raises(ValueError, match="interpolate_dyn"):
        dyn.interpolate_dyn(torch.randn(1, 1, 2, 2), shape([4]), "bilinear")


@pytest.mark.parametrize("src,k,dim,largest", [((2, 50), 10, 1, True), ((7,), 7, 0, False), ((1, 1), 1, -1, True),
                                               ((3, 0), 0, 1, True), ((4, 9, 2), 3, 1, False)])
def test_topk_dyn(src, k, dim, largest):
    x = torch.randn(src)
    values, indices = dyn.topk_dyn(x, scalar(k), dim, largest, True)
    expected = torch.topk(x, k, dim, largest, True)
    same(values, expected.values)
    same(indices, expected.indices)


def test_topk_dyn_k_too_large_raises():
    with pytest.raises(RuntimeError):
        dyn.topk_dyn(torch.randn(3), scalar(4))
