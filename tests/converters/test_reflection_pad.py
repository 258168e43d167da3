"""reflection_pad_dyn: ``F.pad(..., mode="reflect")`` with pads computed from the input size (pad to a multiple).

The worked example of docs/adding_an_op.md: the op (trt_dyn/ops/slicing.py), its rows
(trt_dyn/lowering/translation_map.py), its converter (trt_dyn/converters/slicing.py) and this test.
"""

import pytest
import torch
import torch.nn.functional as F

import trt_dyn
from trt_dyn.testing.harness import assert_layer_types, export_dynamic, run_converter_test

ops = torch.ops.trt_dyn


@pytest.mark.parametrize("shape, pad", [
    ((2, 7), (3, 0)), ((1, 3, 5), (4, 4)), ((1, 3, 5), (-2, 1)),
    ((2, 3, 6, 5), (0, 4, 5, 1)), ((1, 2, 3, 4), (-1, 2, 2, -1)),
    ((1, 2, 4, 3, 5), (1, 2, 0, 2, 3, 3)),
])
def test_eager_kernel_equals_torch_reflect_pad(shape, pad):
    x = torch.randn(shape)
    got = ops.reflection_pad_dyn(x, torch.tensor(pad))
    assert torch.equal(got, F.pad(x, pad, mode="reflect"))


def test_eager_kernel_refuses_what_aten_refuses():
    with pytest.raises(RuntimeError, match="Padding size should be less than"):
        ops.reflection_pad_dyn(torch.randn(1, 2, 4), torch.tensor([4, 0]))
    with pytest.raises(ValueError, match="pad length 8 must be 2, 4 or 6"):
        ops.reflection_pad_dyn(torch.randn(1, 2, 4, 4, 4), torch.tensor([1] * 8))


class PadToMultiple(torch.nn.Module):
    """Pad H and W up to a multiple of 8 by reflection (window-attention and U-Net style models)."""

    def forward(self, x):
        h, w = x.shape[-2:]
        return F.pad(x, (0, (8 - w % 8) % 8, 0, (8 - h % 8) % 8), mode="reflect") * 2


class ReflectSequence(torch.nn.Module):
    """1-d: pads growing with the length (a negative pad next to a symbolic one makes torch.export specialise
    the length, so crops are covered by the eager-kernel cases and by pad_dyn's shared slice)."""

    def forward(self, x):
        n = x.shape[-1]
        return F.pad(x, (n // 4, 1), mode="reflect"), F.pad(x, (n // 2, n // 3), mode="reflect")


def test_pad_to_multiple_is_rewritten():
    program = export_dynamic(PadToMultiple(), (torch.randn(1, 3, 13, 21),), {"x": {2: (9, 40), 3: (9, 40)}})
    report = trt_dyn.report(program)
    assert report.ok and report.rewritten.get("aten.reflection_pad2d.default") == 1, str(report)


def test_pad_to_multiple_matches_eager():
    result = run_converter_test(PadToMultiple(), (torch.randn(1, 3, 13, 21),), {"x": {2: (9, 40), 3: (9, 40)}},
                                extra_points=[{"x": (1, 3, 16, 24)}, {"x": (1, 3, 17, 9)}])
    assert_layer_types(result, "SLICE", "ASSERTION")
    assert {"min", "max", "odd"} <= {label for label, _ in result.points}


def test_reflect_1d_pads_grow_with_the_length():
    run_converter_test(ReflectSequence(), (torch.randn(2, 3, 11),), {"x": {2: (4, 30)}})
