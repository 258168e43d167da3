"""torch.compile(dynamic=True) through torch_tensorrt's own backend, engines run by the CPU executor.

Every pattern of the dynamic-shape suite (the 20 of ``benchmarks/coverage.py``: the model classes of
``tests/lowering/test_patterns.py`` and ``tests/converters/test_selection.py``, the roi_align box heads and
the Cascade Mask R-CNN replica) must compile ONCE for all the sizes it is called with: one dynamo graph, one
backend call, one TensorRT engine, no recompilation (dynamo is told to raise on one), no node left to
PyTorch, and the executor's outputs equal eager PyTorch's at each size on fresh random inputs.
"""

from __future__ import annotations

import itertools
import logging
import os
import sys
from dataclasses import dataclass, field
from typing import Any, Callable

import pytest
import torch
import torch.nn.functional as F
import torchvision  # noqa: F401  (torchvision::roi_align before any graph is traced)
from torch._dynamo.utils import counters

import trt_dyn
from trt_dyn.build import capture_builds
from trt_dyn.testing.cpu_backend import CpuBackend

from sibling_tests import load_test_module

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO = os.path.dirname(TESTS)


patterns = load_test_module("lowering/test_patterns.py", "_cpu_backend_patterns")
selection = load_test_module("converters/test_selection.py", "_cpu_backend_selection")


@pytest.fixture(autouse=True)
def _fresh_dynamo():
    torch._dynamo.reset()
    counters.clear()
    yield
    torch._dynamo.reset()


def _random(*shape):
    return torch.randn(*shape)


def _signed(count, density):
    """``count`` scores of which about ``density`` are positive (never exactly zero)."""
    magnitude = torch.rand(count) + 0.1
    return torch.where(torch.rand(count) < density, magnitude, -magnitude)


_DENSITIES = itertools.cycle((0.0, 1.0, 0.5, 0.15, 0.85))


def _boxes(count, image=128):
    xy = torch.rand(count, 2) * 40
    wh = torch.where(torch.rand(count, 1) < 0.5, torch.rand(count, 2) * 60 + 4, torch.rand(count, 2) * 100 + 120)
    return torch.cat([xy, xy + wh], dim=1)


def _rois(count, side):
    boxes = (torch.rand(count, 4) * side * 4).sort(dim=1).values
    return torch.cat([torch.zeros(count, 1), boxes], dim=1)


def _roi_head(name):
    """The tiny roi_align box head of benchmarks/upstream_vs_trt_dyn.py (8 channels, side <= 64, <= 64 boxes)."""
    if HERE_BENCHMARKS not in sys.path:
        sys.path.append(HERE_BENCHMARKS)
    import upstream_vs_trt_dyn

    return upstream_vs_trt_dyn.PATTERNS[name](True).module


HERE_BENCHMARKS = os.path.join(REPO, "benchmarks")


@dataclass
class Case:
    model: Callable[[], torch.nn.Module]
    inputs: Callable[[Any], tuple]  #: inputs at one size
    sizes: list  #: >= 4 sizes, the first traced
    exact: bool = True
    #: per input, {dim: (min, max)} given to mark_dynamic: the ranges the export tests use (TensorRT needs a
    #: bounded profile; without one torch_tensorrt takes min * 2**12 as the max)
    bounds: tuple = ()
    #: per input, the dims kept static (mark_static) where dynamic=True would make a converter's static one dynamic
    static: tuple = ()
    #: torch._dynamo.config for this model (the roi heads read ints from a closure, which dynamic=True turns
    #: into SymInt inputs, roi_align's output size included)
    dynamo_config: dict = field(default_factory=dict)


HW = ({2: (2, 64), 3: (2, 64)},)
#: (feature side, boxes); torch's CPU convolution guards 8 * H * W <= 20480, so sides stay <= 50
ROI_SIZES = [(32, 8), (8, 2), (50, 64), (17, 5)]
ROI_BOUNDS = ({2: (8, 50), 3: (8, 50)}, {0: (2, 64)})
ROWS = ({0: (2, 24)}, {0: (2, 24)})

CASES = {
    "WindowPartition": Case(patterns.WindowPartition, lambda s: (_random(2, s[0], s[1], 8),),
                            [(20, 30), (8, 8), (64, 64), (33, 9), (15, 22)]),
    "DinoReferencePoints": Case(patterns.DinoReferencePoints, lambda s: (_random(2, 4, *s),),
                                [(10, 13), (2, 2), (64, 64), (7, 33), (3, 50)], False, HW),
    "AnchorGrid": Case(patterns.AnchorGrid, lambda s: (_random(1, 8, *s),),
                       [(12, 17), (2, 2), (100, 100), (3, 99), (50, 2)], True, ({2: (2, 100), 3: (2, 100)},)),
    "FpnTopDown": Case(patterns.FpnTopDown, lambda s: (_random(1, 4, *s[0]), _random(1, 4, *s[1])),
                       [((20, 26), (10, 13)), ((2, 2), (2, 2)), ((64, 64), (32, 32)), ((17, 9), (9, 5)),
                        ((5, 63), (3, 31))], False, HW + ({2: (2, 32), 3: (2, 32)},)),
    "TopKMin": Case(patterns.TopKMin, lambda n: (_random(2, n),), [300, 2, 99, 100, 101, 4999]),
    "DynamicSplit": Case(patterns.DynamicSplit, lambda h: (_random(3, h, 4),), [10, 4, 5, 63, 64]),
    "PadBoxes": Case(patterns.PadBoxes, lambda n: (_random(n, 4), _random(n)), [7, 2, 999, 1000], True,
                     ({0: (2, 1000)}, {0: (2, 1000)})),
    "ViewFamily": Case(patterns.ViewFamily, lambda s: (_random(s[0], 3, s[1], s[2]),),
                       [(2, 6, 7), (3, 2, 2), (8, 32, 32), (3, 5, 31)], True, ({0: (2, 8), 2: (2, 32), 3: (2, 32)},)),
    "VitPositions": Case(patterns.VitPositions, lambda s: (_random(1, s[0], s[1], 4),),
                         [(10, 13), (8, 8), (40, 40), (17, 9), (39, 24)], False),
    "SymIntArithmetic": Case(patterns.SymIntArithmetic, lambda s: (_random(*s),),
                             [(10, 13), (6, 5), (64, 64), (7, 63), (33, 5)], False),
    "MaskIndex": Case(selection.MaskIndex, lambda n: (_random(n, 5), _signed(n, next(_DENSITIES))),
                      [8, 2, 13, 24, 5], True, ROWS),
    "FullMaskIndex": Case(selection.FullMaskIndex, lambda n: (_random(n, 3),), [8, 2, 13, 24], True, ROWS[:1]),
    "NonzeroGather": Case(selection.NonzeroGather, lambda n: (_random(n, 4), _signed(n, next(_DENSITIES))),
                          [8, 2, 13, 24, 5], True, ROWS),
    "MaskedIndexPut": Case(selection.MaskedIndexPut, lambda n: (_random(n, 4), _signed(n, next(_DENSITIES))),
                           [8, 2, 13, 24, 5], False, ROWS),
    "FpnPooler": Case(selection.FpnPooler, lambda n: (_random(2, 2, 16, 16), _random(2, 2, 8, 8), _boxes(n)),
                      [6, 2, 13, 24], False, ({}, {}, {0: (2, 24)}), static=((1,), (1,))),
    # unbounded: mark_dynamic's range check cannot prove topk's guard sym_min(5, N) <= N
    "TopKMinDim0": Case(lambda: selection.TopKMin(5), lambda n: (_random(n, 3),), [9, 2, 5, 6, 24, 300]),
    "NonzeroOfValues": Case(selection.NonzeroOfValues,
                            lambda n: (torch.randint(-1, 2, (n, 2), dtype=torch.int32), _random(n, 3)),
                            [5, 2, 13, 24], True, ROWS),
    "RoiHeadSr2": Case(lambda: _roi_head("roi_align_sr2"), lambda s: (_random(1, 8, s[0], s[0]), _rois(s[1], s[0])),
                       ROI_SIZES, False, ROI_BOUNDS,
                       dynamo_config={"specialize_int": True}),
    "RoiHeadAdaptive": Case(lambda: _roi_head("roi_align_adaptive"), lambda s: (_random(1, 8, s[0], s[0]), _rois(s[1], s[0])),
                            ROI_SIZES, False, ROI_BOUNDS,
                       dynamo_config={"specialize_int": True}),
}


def compile_once(model, make_inputs, sizes, exact=True, bounds=(), static=(), options=None, dynamo_config=None,
                 **compile_kwargs):
    """torch.compile with a fresh CpuBackend; call at every size; compare with eager; return the backend."""
    backend = CpuBackend()
    compiled = torch.compile(model, backend=backend, options={"min_block_size": 1, **(options or {})},
                             **compile_kwargs)
    config = {"error_on_recompile": True, "capture_dynamic_output_shape_ops": True, **(dynamo_config or {})}
    with torch._dynamo.config.patch(**config):
        for size in sizes:
            torch.manual_seed(hash(str(size)) % 1000)
            inputs = make_inputs(size)
            for tensor, dims in zip(inputs, bounds):
                for dim, (low, high) in dims.items():
                    torch._dynamo.mark_dynamic(tensor, dim, min=low, max=high)
            for tensor, dims in zip(inputs, static):
                for dim in dims:
                    torch._dynamo.mark_static(tensor, dim)
            with torch.no_grad():
                actual = compiled(*inputs)
                expected = model(*inputs)
            actual = actual if isinstance(actual, (tuple, list)) else (actual,)
            expected = expected if isinstance(expected, (tuple, list)) else (expected,)
            assert len(actual) == len(expected)
            for index, (a, e) in enumerate(zip(actual, expected)):
                assert a.shape == e.shape and a.dtype == e.dtype, (size, index, a.shape, e.shape, a.dtype, e.dtype)
                if exact or not e.is_floating_point():
                    assert torch.equal(a, e), (size, index)
                else:
                    torch.testing.assert_close(a, e, rtol=1e-4, atol=1e-4, msg=lambda m: f"size {size}: {m}")
    return backend


def assert_one_engine(backend):
    assert backend.fallbacks == [], f"torch_tensorrt fell back to eager: {backend.fallbacks[0]!r}"
    assert backend.num_calls == 1, [call.inputs for call in backend.calls]
    assert counters["stats"]["unique_graphs"] == 1
    assert backend.num_engines == 1
    assert backend.pytorch_nodes == [], backend.pytorch_nodes


@pytest.mark.parametrize("name", sorted(CASES))
def test_pattern_compiles_once(name):
    case = CASES[name]
    backend = compile_once(case.model().eval(), case.inputs, case.sizes, case.exact, case.bounds, case.static,
                           dynamo_config=case.dynamo_config, dynamic=True)
    assert_one_engine(backend)


class InterpolateTopK(torch.nn.Module):
    """The example of issue 12: interpolate to (h // 2, w // 2), then top-k with k = min(5, h * w // 4)."""

    def forward(self, x):
        h, w = x.shape[-2:]
        y = F.interpolate(x, size=(h // 2, w // 2), mode="bilinear")
        k = min(5, h * w // 4)
        return y.flatten(1).topk(k, dim=1).values


WHY_SIZES = [(16, 20), (4, 4), (33, 17), (64, 40), (5, 9)]


def test_issue_example_one_engine_sizes_from_the_input():
    backend = compile_once(InterpolateTopK(), lambda s: (_random(1, 3, *s),), WHY_SIZES, exact=False, dynamic=True)
    assert_one_engine(backend)
    (call,) = backend.calls
    # dynamo passed the sizes as SymInts too; the engine reads them from the image: one input, no shape input
    assert [kind.split("[")[0] for kind in call.inputs].count("SymInt") >= 2
    assert call.engines[0].network.num_inputs == 1
    layers = " ".join(call.engines[0].network.get_layer(i).name for i in range(call.engines[0].network.num_layers))
    assert "topk_dyn" in layers and "sym_size_dyn" in layers


def test_issue_example_with_the_torch_tensorrt_backend_builds_an_engine(caplog):
    """backend="torch_tensorrt" itself: with trt_dyn imported the graph converts into one engine (built here on the
    CPU). Running it needs a GPU: torch_tensorrt then hands dynamo the graph back, for a runtime reason only."""
    model = InterpolateTopK()
    x = _random(1, 3, 16, 20)
    with capture_builds() as engines, caplog.at_level(logging.WARNING, "torch_tensorrt.dynamo.backend.backends"):
        out = torch.compile(model, backend="torch_tensorrt", dynamic=True, options={"min_block_size": 1})(x)
    assert len(engines) == 1
    torch.testing.assert_close(out, model(x))
    errors = [record.exc_info[1] for record in caplog.records if record.exc_info]
    assert not any(isinstance(error, trt_dyn.MissingDynVariantError) for error in errors), errors


def test_mark_dynamic_without_dynamic_true():
    bounds = ({2: (4, 64), 3: (4, 64)},)
    backend = compile_once(InterpolateTopK(), lambda s: (_random(1, 3, *s),), WHY_SIZES, exact=False, bounds=bounds)
    assert_one_engine(backend)
    (call,) = backend.calls
    network = call.engines[0].network
    assert network.num_inputs == 1 and list(network.get_input(0).shape) == [1, 3, -1, -1]


def test_min_block_size_and_torch_executed_ops_keep_their_meaning():
    sizes = WHY_SIZES[:4]
    make = lambda s: (_random(1, 3, *s),)  # noqa: E731
    everything = compile_once(InterpolateTopK(), make, sizes, exact=False, options={"min_block_size": 10_000},
                              dynamic=True)
    assert everything.num_calls == 1 and everything.num_engines == 0 and everything.fallbacks == []
    torch._dynamo.reset()
    counters.clear()
    split = compile_once(InterpolateTopK(), make, sizes, exact=False,
                         options={"torch_executed_ops": {"torch.ops.trt_dyn.topk_dyn.default"}}, dynamic=True)
    assert split.num_calls == 1 and split.fallbacks == []
    assert split.num_engines >= 1
    assert {node.target for node in split.pytorch_nodes} == {"trt_dyn.topk_dyn.default"}


class HostValues(torch.nn.Module):
    """Int constants of trt_dyn ops reach their converters as host values (torch_tensorrt's constant folding even
    hands top-k its k as a frozen tensor); the backend converts inside its FakeTensorMode, where reading one (a
    divisor's zero check, top-k's k) must not go through fake tensors."""

    def forward(self, x):  # (N, C)
        ops = torch.ops.trt_dyn
        half = ops.floordiv_dyn(ops.sym_size_dyn(x, 0), ops.const_scalar(2))
        best = ops.topk_dyn(x, ops.const_scalar(2), 1, True, True)[0]
        return best * ops.float_dyn(half)


def test_host_values_are_read_inside_the_fake_mode_and_leave_no_dead_layer():
    from trt_dyn.testing.harness import dead_layers

    backend = compile_once(HostValues().eval(), lambda n: (torch.randn(n, 5),), (2, 3, 7, 16), dynamic=True)
    assert_one_engine(backend)
    (engine,) = backend.calls[0].engines
    assert dead_layers(engine.network) == []


class IntArgument(torch.nn.Module):
    """A Python int argument: dynamic=True turns it into a SymInt graph input with no tensor behind it."""

    def forward(self, x, n: int):
        return x[:, :n] * 2.0 + torch.arange(n, dtype=torch.float32)


def test_int_argument_is_an_engine_shape_input():
    sizes = [(40, 7), (40, 2), (40, 39), (40, 13)]
    backend = compile_once(IntArgument(), lambda s: (_random(3, s[0]), s[1]), sizes, dynamic=True)
    assert_one_engine(backend)
    network = backend.calls[0].engines[0].network
    assert sorted(network.get_input(i).is_shape_tensor for i in range(network.num_inputs)) == [False, True]


#: image sizes (multiples of the 16-pixel patch) inside one guard set of dynamo's CPU convolution backend choice:
#: each convolution guards C * h * w against 20480, which for the pyramid's convolutions puts H * W between
#: 163840 and 327680 (on the CPU, 256x256 and 768x768 recompile: other guard sets, other engines). The window
#: padding guards whether H / 16 and W / 16 are multiples of the 7-token window, as torch.export does.
CASCADE_SIZES = [(512, 528), (432, 432), (352, 592), (720, 304), (400, 416)]


@pytest.mark.slow
def test_cascade_replica_compiles_once():
    from trt_dyn.models import build_cascade_mask_rcnn
    from trt_dyn.models.export import DynamicImageSize

    model = DynamicImageSize(build_cascade_mask_rcnn(seed=0), (256, 256), (768, 768), 16).eval()
    backend = compile_once(model, lambda hw: (_random(1, 3, *hw),), CASCADE_SIZES, exact=False, dynamic=True)
    assert_one_engine(backend)
