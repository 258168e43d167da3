"""Size arithmetic whose result is known while building adds no layers: identities (``x + 0``, ``x // 1``,
``-(-x)``), ``max`` / ``min`` and comparisons the bounds order, and selects on a decided condition (issue 16).
Every network is still compared with eager at the export's min / max / odd sizes."""

import torch

from trt_dyn.testing.harness import run_converter_test

ops = torch.ops.trt_dyn


class SliceArangeMod(torch.nn.Module):
    """ViTDet-style size arithmetic: a slice from a constant 0, ``arange`` with step 1, ``%`` and ``//`` by
    constants; each of these used to add a where / negation / division-by-zero check made of layers."""

    def forward(self, x):
        h, w = ops.sym_size_dyn(x, 0), ops.sym_size_dyn(x, 1)
        pad = ops.mod_dyn(ops.sub_dyn(ops.const_scalar(7), ops.mod_dyn(w, ops.const_scalar(7))), ops.const_scalar(7))
        head = ops.slice_dyn(x, 1, ops.const_scalar(0), ops.floordiv_dyn(w, ops.const_scalar(2)))
        rows = ops.arange_dyn(ops.const_scalar(0), h, ops.const_scalar(1), torch.int64, None)
        padded = ops.add_dyn(w, pad)
        return head * 2.0, rows, ops.floordiv_dyn(padded, ops.const_scalar(7))


def test_slice_arange_mod_need_no_selects_negations_or_constant_checks():
    result = run_converter_test(SliceArangeMod(), (torch.randn(5, 9),), {"x": {0: (2, 12), 1: (2, 30)}})
    assert {label for label, _ in result.points} >= {"min", "max", "odd"}
    types = result.layer_types
    # before: 59 layers, 2 SELECT, 2 ASSERTION (7 != 0 and 1 != 0 checked at run time), 30 ELEMENTWISE
    assert "SELECT" not in types and "ASSERTION" not in types, dict(types)
    assert sum(types.values()) <= 31 and types["ELEMENTWISE"] <= 12, dict(types)
