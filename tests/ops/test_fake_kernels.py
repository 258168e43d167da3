"""Fake kernels under torch.export with dynamic dims: programs calling the dyn ops directly export,
their outputs get precise symbolic shapes (values of shape tensors are tracked symbolically), and
the exported program matches eager at several sizes. When a shape tensor's value is not known
(computed by ordinary tensor ops), the fake kernels fall back to fresh unbacked sizes.

These call ``torch.export.export`` itself, not the harness's ``export_dynamic``: the subject is what
export makes of the fake kernels with unbounded ``Dim.AUTO`` (some programs have no range at all)."""

import pytest
import torch
from torch.export import Dim
from torch.fx.experimental.symbolic_shapes import free_symbols

import trt_dyn  # noqa: F401

dyn = torch.ops.trt_dyn
AUTO = Dim.AUTO


def c(value):
    return dyn.const_scalar(value)


def _output_shapes(ep):
    out = next(n for n in ep.graph.nodes if n.op == "output")
    return [n.meta["val"].shape for n in out.args[0]]


def _symbols(shape):
    return {str(s) for d in shape if isinstance(d, torch.SymInt) for s in free_symbols(d)}


def _check_eager(ep, model, make, sizes):
    module = ep.module()
    for size in sizes:
        inputs = make(size)
        got, expected = module(*inputs), model(*inputs)
        for a, b in zip(got, expected):
            assert a.shape == b.shape and torch.equal(a, b)


class ShapeAndViews(torch.nn.Module):
    def forward(self, x):
        torch._check(x.shape[2] <= 64)
        torch._check(x.shape[3] <= 64)
        b, ch, h, w = (dyn.sym_size_dyn(x, d) for d in range(4))
        flat = dyn.reshape_dyn(x, dyn.shape_cat_dyn([b, ch, dyn.mul_dyn(h, w)]))
        back = dyn.unflatten_dyn(flat, 2, dyn.shape_cat_dyn([h, w]))
        spread = dyn.expand_dyn(x.mean(1, keepdim=True), dyn.size_dyn(x))
        tiled = dyn.repeat_dyn(x[:, :1], dyn.shape_cat_dyn([dyn.const([1, 2]), c(1), c(1)]))
        last_row = dyn.select_dyn(x, 2, dyn.sub_dyn(h, c(1)))
        half = dyn.ceildiv_dyn(h, c(2))
        wide = dyn.reshape_dyn(x, dyn.shape_cat_dyn([c(-1), dyn.max_dyn(w, dyn.min_dyn(h, c(1)))]))
        return flat, back + spread, tiled, last_row, dyn.full_dyn(dyn.shape_cat_dyn([half]), 1.0), wide


def test_shape_and_view_ops_export_precisely():
    model = ShapeAndViews()
    ep = torch.export.export(model, (torch.randn(2, 3, 9, 5),), dynamic_shapes=({2: AUTO, 3: AUTO},))
    shapes = _output_shapes(ep)
    placeholder = next(n for n in ep.graph.nodes if n.op == "placeholder").meta["val"]
    H, W = placeholder.shape[2], placeholder.shape[3]
    assert shapes[0] == (2, 3, H * W)
    assert shapes[1] == (2, 3, H, W)
    assert shapes[2] == (2, 2, H, W)
    assert shapes[3] == (2, 3, W)
    assert _symbols(shapes[4]) == _symbols((H,))  # ceil(H / 2)
    assert shapes[5][1] == W
    assert not any(s.startswith("u") for shape in shapes for s in _symbols(shape))
    _check_eager(ep, model, lambda s: (torch.randn(2, 3, *s),), # ceil(H / 2) == 1 is specialised away by export, so H >= 3
                 [(3, 2), (9, 5), (64, 64), (7, 33)])


class Creation(torch.nn.Module):
    def forward(self, x):
        torch._check(x.shape[0] <= 100)
        n = dyn.sym_size_dyn(x, 0)
        ramp = dyn.arange_dyn(c(0), n, c(1), dtype=torch.float32)
        evens = dyn.arange_dyn(c(0), dyn.mul_dyn(n, c(2)), c(2))
        grid = dyn.linspace_dyn(c(0.5), dyn.sub_dyn(dyn.float_dyn(n), c(0.5)), n, dtype=torch.float32)
        zeros = dyn.new_zeros_dyn(x, dyn.shape_cat_dyn([n, c(2)]))
        ones = dyn.ones_dyn(dyn.shape_cat_dyn([c(1), n]), dtype=torch.float32)
        return x + ramp[:, None] + grid[:, None], evens, zeros, ones


def test_creation_ops_export_precisely():
    model = Creation()
    ep = torch.export.export(model, (torch.randn(6, 2),), dynamic_shapes=({0: AUTO},))
    shapes = _output_shapes(ep)
    N = next(n for n in ep.graph.nodes if n.op == "placeholder").meta["val"].shape[0]
    assert shapes == [(N, 2), (N,), (N, 2), (1, N)]
    _check_eager(ep, model, lambda n: (torch.randn(n, 2),), [2, 6, 17, 100])


class Slicing(torch.nn.Module):
    def forward(self, x):
        torch._check(x.shape[1] >= 4)
        torch._check(x.shape[1] <= 64)
        h = dyn.sym_size_dyn(x, 1)
        inner = dyn.slice_dyn(x, 1, c(1), dyn.sub_dyn(h, c(1)))
        head = dyn.narrow_dyn(x, 1, c(0), dyn.floordiv_dyn(h, c(2)))
        half = dyn.floordiv_dyn(h, c(2))
        top, bottom = dyn.split_dyn(x, dyn.shape_cat_dyn([half, dyn.sub_dyn(h, half)]), 1)
        padded = dyn.pad_dyn(x, dyn.shape_cat_dyn([c(0), c(0), c(0), dyn.mod_dyn(dyn.neg_dyn(h), c(8))]), 0.0)
        return inner, head, top, bottom, padded


def test_slicing_ops_export_precisely():
    model = Slicing()
    ep = torch.export.export(model, (torch.randn(2, 10, 3),), dynamic_shapes=({1: AUTO},))
    shapes = _output_shapes(ep)
    assert not any(s.startswith("u") for shape in shapes for s in _symbols(shape))
    _check_eager(ep, model, lambda h: (torch.randn(2, h, 3),), [4, 5, 10, 16, 63, 64])


class ResizeTopk(torch.nn.Module):
    def forward(self, x, small):
        torch._check(x.shape[2] <= 64)
        torch._check(x.shape[3] <= 64)
        up = dyn.interpolate_dyn(small, dyn.shape_cat_dyn([dyn.sym_size_dyn(x, 2), dyn.sym_size_dyn(x, 3)]),
                                 "bilinear", False)
        flat = x.flatten(1)
        k = dyn.min_dyn(dyn.sym_size_dyn(flat, 1), c(20))
        values, indices = dyn.topk_dyn(flat, k, 1)
        return x + up, values, indices


def test_resize_and_topk_export_precisely():
    model = ResizeTopk()
    ep = torch.export.export(model, (torch.randn(1, 2, 8, 6), torch.randn(1, 2, 4, 3)),
                             dynamic_shapes=({2: AUTO, 3: AUTO}, {2: AUTO, 3: AUTO}))
    shapes = _output_shapes(ep)
    assert not any(s.startswith("u") for shape in shapes for s in _symbols(shape))
    _check_eager(ep, model, lambda s: (torch.randn(1, 2, *s[0]), torch.randn(1, 2, *s[1])),
                 [((8, 6), (4, 3)), ((2, 3), (1, 1)), ((64, 64), (5, 9)), ((13, 7), (13, 7))])


class UnknownValues(torch.nn.Module):
    """Shape tensors built with ordinary tensor ops: their values are unknown to the fake kernels."""

    def forward(self, x):
        n = dyn.sym_size_dyn(x, 0)
        doubled = n * 2  # aten.mul, not mul_dyn: no symbolic value is tracked
        return dyn.arange_dyn(c(0), doubled, c(1)), dyn.zeros_dyn(doubled.reshape(1))


def test_unknown_shape_values_get_unbacked_sizes():
    model = UnknownValues()
    ep = torch.export.export(model, (torch.randn(5, 2),), dynamic_shapes=({0: AUTO},))
    shapes = _output_shapes(ep)
    assert all(s.startswith("u") for shape in shapes for s in _symbols(shape))
    _check_eager(ep, model, lambda n: (torch.randn(n, 2),), [2, 5, 9])


def test_fake_kernel_checks_static_length():
    class Bad(torch.nn.Module):
        def forward(self, x):
            sizes = dyn.size_dyn(x)[: dyn.sym_size_dyn(x, 0).item()]
            return dyn.reshape_dyn(x, sizes)

    with pytest.raises(Exception):
        torch.export.export(Bad(), (torch.randn(2, 3),), dynamic_shapes=({0: AUTO},))
