"""``aten.max_pool2d`` / ``max_pool3d`` / ``avg_pool2d`` / ``avg_pool3d`` with ``ceil_mode=True``
(trt_dyn/converters/pooling.py): torch_tensorrt refuses ceil mode (its capability validator), so SqueezeNet and
GoogLeNet (max) and timm's ResNet-D family (average, ``count_include_pad=False``), static or dynamic, were cut into
several engines with the pools left to PyTorch. Max pooling is exact: every output must equal eager's bit for bit,
at sizes where PyTorch drops the last window (it would start inside the right padding) and where it does not.
Average pooling must also divide by what PyTorch divides by where the last window hangs over the end."""

import pytest
import torch
import torchvision

import trt_dyn  # noqa: F401
from trt_dyn.testing import compile_cpu
from trt_dyn.testing.harness import run_converter_test

AUTO = torch.export.Dim.AUTO
EXACT = {torch.float32: (0.0, 0.0)}


class Pool(torch.nn.Module):
    def __init__(self, pool):
        super().__init__()
        self.pool = pool

    def forward(self, x):
        return self.pool(x * 2 - 1)


def _last_window_dropped(size, kernel, stride, padding):
    """PyTorch's ceil-mode rule, written out: the ceil count loses its last window when that window would start
    at or past the end of the input plus the left padding."""
    ceil_count = -(-(size + 2 * padding - kernel) // stride) + 1
    return (ceil_count - 1) * stride >= size + padding


def test_ceil_mode_max_pool_that_never_drops_a_window_is_one_engine_equal_to_eager():
    # SqueezeNet's and GoogLeNet's pools: with s <= k - p the last window always starts inside the input
    assert not any(_last_window_dropped(n, 3, 2, 0) for n in range(3, 41))
    pool = torch.nn.MaxPool2d(3, 2, ceil_mode=True)
    result = run_converter_test(Pool(pool), (torch.randn(2, 3, 6, 9),), {"x": {2: (3, 40), 3: (5, 33)}},
                                tolerances=EXACT, extra_points=[{"x": (2, 3, 8, 10)}, {"x": (2, 3, 13, 21)}])
    assert len(result.points) >= 5


@pytest.mark.parametrize("kernel, stride, padding, example, sizes", [
    # every size of [2, 13] x [3, 14]: the last window is dropped at odd sizes
    (2, 2, 1, (5, 8), [(h, w) for h in range(2, 14) for w in (3, 4, 9, 14)]),
    (3, 3, 1, (8, 6), [(h, w) for h in range(3, 15) for w in (4, 5, 6, 13, 14)]),       # dropped when n % 3 == 2
    ((3, 2), (2, 3), (1, 0), (6, 7), [(h, w) for h in (3, 4, 5, 6, 19, 20) for w in range(2, 12)]),
])
def test_ceil_mode_max_pool_that_may_drop_the_last_window(kernel, stride, padding, example, sizes):
    """torch.export decides at the example size whether the last window is dropped and keeps that decision as a
    guard on the size: the engine equals eager at every size where torch decides the same, and refuses the
    others (the guard is an engine assertion) instead of computing with the other count."""
    from trt_dyn.testing.executor.errors import AssertionLayerError

    k, s, p = (v if isinstance(v, tuple) else (v, v) for v in (kernel, stride, padding))
    model = Pool(torch.nn.MaxPool2d(kernel, stride, padding, ceil_mode=True)).eval()
    program = torch.export.export(model, (torch.randn(1, 2, *example),), dynamic_shapes=({2: AUTO, 3: AUTO},),
                                  strict=False)
    compiled = compile_cpu(program, require_full_compilation=True, min_block_size=1,
                           arg_inputs=[{"min": (1, 2, 2, 2), "opt": (1, 2, *example), "max": (1, 2, 20, 20)}])
    assert compiled.num_trt_engines == 1 and compiled.pytorch_nodes == []
    decided = [_last_window_dropped(example[i], k[i], s[i], p[i]) for i in range(2)]
    compared = refused = 0
    for index, hw in enumerate(sizes):
        x = torch.randn(1, 2, *hw, generator=torch.Generator().manual_seed(index))
        same = [_last_window_dropped(hw[i], k[i], s[i], p[i]) for i in range(2)] == decided
        if same:
            torch.testing.assert_close(compiled(x), model(x), rtol=0, atol=0, msg=lambda m: f"{hw}: {m}")
            compared += 1
        else:
            with pytest.raises(AssertionLayerError):
                compiled(x)
            refused += 1
    assert compared >= 4 and refused >= 4


def test_ceil_mode_max_pool_3d():
    pool = torch.nn.MaxPool3d(3, 2, 1, ceil_mode=True)  # s <= k - p: no window is ever dropped, no guard
    run_converter_test(Pool(pool), (torch.randn(1, 2, 4, 6, 5),), {"x": {2: (2, 7), 3: (3, 9), 4: (2, 8)}},
                       tolerances=EXACT, extra_points=[{"x": (1, 2, 5, 7, 3)}])


def test_ceil_mode_max_pool_of_static_shapes():
    # the last window is dropped along H (11 is odd) and not along W: the slice is static
    assert _last_window_dropped(11, 2, 2, 1) and not _last_window_dropped(14, 2, 2, 1)
    pool = torch.nn.MaxPool2d(2, 2, 1, ceil_mode=True)
    result = run_converter_test(Pool(pool), (torch.randn(1, 4, 11, 14),), None, tolerances=EXACT)
    assert result.compiled(torch.randn(1, 4, 11, 14)).shape == (1, 4, 6, 8)  # H: 7 windows, the last dropped


@pytest.mark.parametrize("kernel, stride, padding, count_include_pad", [
    (2, 2, 0, False),   # timm's ResNet-D shortcut: odd sizes leave a last window of one row / column
    (2, 2, 0, True),
    (3, 2, 1, True),    # the divisor counts the padding, not the overhang past it
    (3, 2, 1, False),
    ((3, 2), (2, 2), (1, 0), True),
])
def test_ceil_mode_avg_pool_is_one_engine_equal_to_eager(kernel, stride, padding, count_include_pad):
    k, s, p = (v if isinstance(v, tuple) else (v, v) for v in (kernel, stride, padding))
    assert not any(_last_window_dropped(n, k[i], s[i], p[i]) for i in range(2) for n in range(3, 41))
    pool = torch.nn.AvgPool2d(kernel, stride, padding, ceil_mode=True, count_include_pad=count_include_pad)
    run_converter_test(Pool(pool), (torch.randn(2, 3, 6, 9),), {"x": {2: (3, 40), 3: (5, 33)}},
                       tolerances={torch.float32: (1e-6, 1e-6)},
                       extra_points=[{"x": (2, 3, 7, 9)}, {"x": (2, 3, 13, 21)}])


def test_ceil_mode_avg_pool_that_may_drop_the_last_window():
    from trt_dyn.testing.executor.errors import AssertionLayerError

    model = Pool(torch.nn.AvgPool2d(2, 2, 1, ceil_mode=True, count_include_pad=True)).eval()
    program = torch.export.export(model, (torch.randn(1, 2, 7, 8),), dynamic_shapes=({2: AUTO, 3: AUTO},),
                                  strict=False)
    compiled = compile_cpu(program, require_full_compilation=True, min_block_size=1,
                           arg_inputs=[{"min": (1, 2, 2, 2), "opt": (1, 2, 7, 8), "max": (1, 2, 20, 20)}])
    assert compiled.num_trt_engines == 1 and compiled.pytorch_nodes == []
    for index, hw in enumerate([(3, 2), (7, 8), (19, 20), (11, 14)]):  # H odd: dropped; W even: kept
        x = torch.randn(1, 2, *hw, generator=torch.Generator().manual_seed(index))
        torch.testing.assert_close(compiled(x), model(x), rtol=1e-6, atol=1e-6, msg=lambda m: f"{hw}: {m}")
    with pytest.raises(AssertionLayerError):
        compiled(torch.randn(1, 2, 8, 8))


def test_avg_pool_with_a_divisor_override_is_left_to_torch_tensorrt():
    pool = torch.nn.AvgPool2d(2, 2, ceil_mode=True, divisor_override=3)
    program = torch.export.export(Pool(pool), (torch.randn(1, 2, 7, 9),), strict=False)
    compiled = compile_cpu(program, min_block_size=1)
    assert [node.target for node in compiled.pytorch_nodes] == ["aten.avg_pool2d.default"]
    x = torch.randn(1, 2, 7, 9)
    torch.testing.assert_close(compiled(x), Pool(pool)(x))


def _squeezenet():
    return torchvision.models.squeezenet1_1(weights=None)


def _timm_resnet_d():
    return pytest.importorskip("timm").create_model("resnet18d", pretrained=False, num_classes=10)


@pytest.mark.parametrize("build", [_squeezenet, _timm_resnet_d], ids=["squeezenet1_1", "timm_resnet18d"])
def test_models_with_ceil_mode_pools_are_one_engine_equal_to_eager(build):
    """SqueezeNet (max pools) and timm's ResNet-D (the shortcut's average pool), as users bring them."""
    torch.manual_seed(0)
    model = build().eval()
    program = torch.export.export(model, (torch.randn(1, 3, 96, 112),),
                                  dynamic_shapes=({2: AUTO, 3: AUTO},), strict=False)
    compiled = compile_cpu(program, require_full_compilation=True, min_block_size=1,
                           arg_inputs=[{"min": (1, 3, 64, 64), "opt": (1, 3, 96, 112), "max": (1, 3, 160, 160)}])
    assert compiled.num_trt_engines == 1 and compiled.pytorch_nodes == []
    for index, hw in enumerate([(64, 64), (160, 160), (97, 131), (75, 154)]):
        images = torch.rand(1, 3, *hw, generator=torch.Generator().manual_seed(index))
        with torch.no_grad():
            torch.testing.assert_close(compiled(images), model(images), rtol=1e-4, atol=1e-5,
                                       msg=lambda m: f"{hw}: {m}")
