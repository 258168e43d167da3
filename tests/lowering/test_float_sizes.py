"""Sizes through float math are exact integers in the network, or refused with the reason (issue 13: 3, 7, 8).

Each model is compiled by torch_tensorrt (compile_cpu: real conversion and TensorRT-RTX build, engines
run by the CPU executor) and compared with eager at sizes across the whole dynamic range; what cannot be
exact must be refused by the build AND reported by ``trt_dyn.report()`` with op, node and source line.
"""

import math
import warnings

import pytest
import torch
import torch.nn.functional as F
from torch.export import Dim

import trt_dyn
from trt_dyn.lowering import MissingDynVariantError
from trt_dyn.testing.compile_cpu import compile_cpu


def _line(marker: str) -> int:
    with open(__file__) as handle:
        for number, text in enumerate(handle, start=1):
            if marker in text and "def _line" not in text and "_line(" not in text:
                return number
    raise AssertionError(marker)


class FloatArange(torch.nn.Module):
    def forward(self, x):
        return torch.arange(0, x.shape[0] * 0.1, 0.1) + x.sum()  # marker: float arange


class HalfStepArange(torch.nn.Module):
    def forward(self, x):
        return torch.arange(0.5, x.shape[0], 1.0) * x.mean()


class TruncHalf(torch.nn.Module):
    def forward(self, x):
        n = x.shape[0]
        return x.new_ones(math.trunc(n / 2), 3) * x[:1]


class Recompute(torch.nn.Module):
    def forward(self, x):
        return F.interpolate(x, scale_factor=1.7, mode="nearest", recompute_scale_factor=True)


class MinMaxScale(torch.nn.Module):
    """The float size arithmetic of torchvision's GeneralizedRCNNTransform.resize."""

    def forward(self, x):
        h, w = x.shape[-2:]
        scale = min(16 / min(h, w), 24 / max(h, w))
        return F.interpolate(x, scale_factor=scale, mode="bilinear", recompute_scale_factor=True)  # marker: scale


class FloatThresholdMask(torch.nn.Module):
    def forward(self, x, t):
        return x[x.sum(1) > t]  # marker: mask


def _compile(model, args, dynamic_shapes):
    program = torch.export.export(model, args, dynamic_shapes=dynamic_shapes)
    return program, compile_cpu(program, min_block_size=1, require_full_compilation=False)


def _assert_refused(program, op, node, marker):
    entries = [m for m in trt_dyn.report(program).missing if m.op == op]
    assert entries, trt_dyn.report(program)
    assert entries[0].node == node
    assert entries[0].source == f"{__file__}:{_line(marker)}"
    with pytest.raises(MissingDynVariantError) as info:
        compile_cpu(program, min_block_size=1, require_full_compilation=False)
    assert op in str(info.value) and node in str(info.value) and f"{__file__}:{_line(marker)}" in str(info.value)
    return str(info.value)


def _in_warn_mode(model, args, dynamic_shapes):
    trt_dyn.lowering.set_on_missing("warn")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _compile(model, args, dynamic_shapes)[1]


def test_float_arange_is_refused_where_float32_gives_another_length():
    program = torch.export.export(FloatArange(), (torch.randn(6, 3),), dynamic_shapes=({0: Dim("n", min=2, max=64)},))
    message = _assert_refused(program, "aten.arange.start_step", "arange", "marker: float arange")
    assert "torch (double) gives 4 elements" in message or "differ" in message


def test_float_arange_left_to_pytorch_has_torch_lengths():
    compiled = _in_warn_mode(FloatArange(), (torch.randn(6, 3),), ({0: Dim("n", min=2, max=64)},))
    for n in (2, 3, 6, 7, 29, 63, 64):  # 3 and 6 are lengths float32 gets wrong
        x = torch.randn(n, 3)
        torch.testing.assert_close(compiled(x), FloatArange()(x))


def test_float_arange_that_float32_computes_exactly_is_built():
    program, compiled = _compile(HalfStepArange(), (torch.randn(6, 3),), ({0: Dim("n", min=1, max=300)},))
    assert trt_dyn.report(program).ok
    assert not compiled.pytorch_nodes and compiled.num_trt_engines == 1
    for n in (1, 2, 7, 150, 299, 300):
        x = torch.randn(n, 3)
        out, expected = compiled(x), HalfStepArange()(x)
        assert out.shape == expected.shape
        torch.testing.assert_close(out, expected)


def test_trunc_of_int_division_is_exact_integer_division():
    program, compiled = _compile(TruncHalf(), (torch.randn(6, 3),), ({0: Dim("n", min=4, max=64)},))
    assert trt_dyn.report(program).ok
    assert compiled.num_trt_engines == 1 and not compiled.pytorch_nodes
    for n in (4, 5, 9, 33, 63, 64):
        x = torch.randn(n, 3)
        torch.testing.assert_close(compiled(x), TruncHalf()(x))


def test_recompute_scale_factor_sizes_are_exact_integers():
    """floor(1.7 * h) in double equals (17 * h) // 10 at every h of the range, so it is built with ints."""
    program, compiled = _compile(Recompute(), (torch.randn(1, 2, 10, 12),),
                                 ({2: Dim("h", min=4, max=40), 3: Dim("w", min=4, max=40)},))
    assert trt_dyn.report(program).ok
    assert compiled.num_trt_engines == 1 and not compiled.pytorch_nodes
    for h, w in ((4, 4), (10, 7), (20, 40), (40, 33)):  # 10 * 1.7 is 17 in double, 16.99... as a rational
        x = torch.randn(1, 2, h, w)
        out, expected = compiled(x), Recompute()(x)
        assert out.shape == expected.shape
        torch.testing.assert_close(out, expected)


def test_min_max_scale_of_the_detection_transform_is_refused_then_runs_in_pytorch():
    example = (torch.randn(1, 3, 20, 30),)
    dims = ({2: Dim("h", min=8, max=40), 3: Dim("w", min=8, max=40)},)
    program = torch.export.export(MinMaxScale(), example, dynamic_shapes=dims)
    entries = trt_dyn.report(program).missing
    # the export specialised min() to its first argument: a guard with float division, which no engine checks
    guards = [m for m in entries if m.op == "torch.export guard"]
    assert len(guards) == 1 and "IntTrueDiv" in guards[0].reason and "does not check this guard" in guards[0].reason
    entries = [m for m in entries if m not in guards]
    assert entries and all("float arithmetic on a size" in m.reason for m in entries)
    assert {m.source for m in entries} == {f"{__file__}:{_line('marker: scale')}"}
    with pytest.raises(MissingDynVariantError, match="Fp shape input to Myelin graph"):
        compile_cpu(program, min_block_size=1, require_full_compilation=False)
    compiled = _in_warn_mode(MinMaxScale(), example, dims)
    # sizes inside the export's guard (it specialised min() to its first argument: min(h, w) / max(h, w) >= 2/3)
    for h, w in ((8, 8), (20, 30), (27, 36), (40, 31), (40, 40)):
        x = torch.randn(1, 3, h, w)
        out, expected = compiled(x), MinMaxScale()(x)
        assert out.shape == expected.shape
        torch.testing.assert_close(out, expected)


def test_mask_from_a_float_input_is_refused_then_runs_in_pytorch():
    example = (torch.randn(6, 3), torch.tensor(0.1))
    dims = ({0: Dim("n", min=2, max=16)}, None)
    program = torch.export.export(FloatThresholdMask(), example, dynamic_shapes=dims)
    message = _assert_refused(program, "aten.index.Tensor", "index", "marker: mask")
    assert "float graph input 't'" in message
    compiled = _in_warn_mode(FloatThresholdMask(), example, dims)
    for n in (2, 7, 16):
        for threshold in (-0.5, 0.0, 0.7):
            x, t = torch.randn(n, 3), torch.tensor(threshold)
            assert torch.equal(compiled(x, t), FloatThresholdMask()(x, t))


class NearestExactRecompute(torch.nn.Module):
    def forward(self, x):
        return F.interpolate(x, scale_factor=0.7, mode="nearest-exact", recompute_scale_factor=True)


def test_nearest_exact_with_recomputed_sizes_is_built_with_integer_sizes():
    program, compiled = _compile(NearestExactRecompute(), (torch.randn(1, 2, 10, 12),),
                                 ({2: Dim("h", min=4, max=40), 3: Dim("w", min=4, max=40)},))
    assert trt_dyn.report(program).ok
    assert compiled.num_trt_engines == 1 and not compiled.pytorch_nodes
    for h, w in ((4, 4), (7, 13), (10, 30), (40, 33)):  # 10 * 0.7 is 7.000000000000001 in double
        x = torch.randn(1, 2, h, w)
        assert torch.equal(compiled(x), NearestExactRecompute()(x))


# issue 13 item 6 / issue 7: a small static input feeding a data-dependent size. Measured: a 0-d input
# (float or int) cannot be built (TensorRT takes it as a shape tensor); a (1,) one builds, in static and
# dynamic graphs, because the compaction declares its dim 0 dynamic with a min = opt = max profile.
THRESHOLD_CASES = [
    (torch.tensor(0.1), False), (torch.tensor(0), False),
    (torch.tensor([0.1]), True), (torch.tensor([0]), True),
]


@pytest.mark.parametrize("dynamic", [False, True], ids=["static", "dynamic"])
@pytest.mark.parametrize("threshold, builds", THRESHOLD_CASES, ids=["float0d", "int0d", "float1", "int1"])
def test_report_and_build_agree_on_inputs_feeding_a_selection(threshold, builds, dynamic):
    dims = ({0: Dim("n", min=2, max=16)}, None) if dynamic else None
    program = torch.export.export(FloatThresholdMask(), (torch.randn(6, 3), threshold), dynamic_shapes=dims)
    assert trt_dyn.report(program).ok == builds, trt_dyn.report(program)
    if not builds:
        kind = "float" if threshold.dtype.is_floating_point else "int"
        message = _assert_refused(program, "aten.index.Tensor", "index", "marker: mask")
        assert f"{kind} graph input 't'" in message and "shape (1,)" in message
        return
    compiled = compile_cpu(program, min_block_size=1, require_full_compilation=True)
    assert compiled.num_trt_engines == 1 and not compiled.pytorch_nodes
    generator = torch.Generator().manual_seed(7)
    for n in ((2, 7, 16) if dynamic else (6,)):
        for value in (-3.0, -0.5, 0.0, 0.7, 3.0):  # keeps all, some and none of the rows
            x = torch.randn(n, 3, generator=generator)
            t = torch.full_like(threshold, value) if threshold.is_floating_point() else \
                torch.full_like(threshold, int(value))
            assert torch.equal(compiled(x, t), FloatThresholdMask()(x, t))
