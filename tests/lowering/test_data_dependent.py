"""The dense masked write-back rewrite, checked in eager: rewritten graph == original graph.

Each program is exported with a dynamic row count, decomposed like torch_tensorrt does, copied and
rewritten; both graphs then run on fresh random inputs at several sizes and mask densities
(including all-false and all-true) and must agree. Patterns that are not row-independent must be
left untouched.
"""

import copy

import pytest
import torch
import torchvision  # noqa: F401  (registers torchvision::roi_align)
from torch.export import Dim

import trt_dyn  # noqa: F401  (before torch_tensorrt: no-GPU shim)
from torch_tensorrt.dynamo.lowering import get_decompositions
from trt_dyn.lowering import data_dependent as dd

from sibling_tests import load_test_module

aten = torch.ops.aten
SIZES = (1, 7, 32)  # min, odd, max of the exported range
DENSITIES = (0.0, 1.0, 0.35)


@pytest.fixture(autouse=True)
def dense_mode():
    with dd.data_dependent_mode("dense"):
        yield


def scores(n, density, generator, extra=()):
    """Scores whose fraction ``density`` is positive (so ``scores > 0`` has that density)."""
    magnitude = torch.rand((n,) + tuple(extra), generator=generator) + 0.1
    positive = torch.rand((n,) + tuple(extra), generator=generator) < density
    return torch.where(positive, magnitude, -magnitude)


def decomposed(module, args, dynamic_shapes):
    program = torch.export.export(module, args, dynamic_shapes=dynamic_shapes)
    return program.run_decompositions(get_decompositions(False))


def rewrite(program):
    gm = copy.deepcopy(program.graph_module)
    changed = dd.rewrite_data_dependent(gm)
    return gm, changed


def targets(gm):
    return [node.target for node in gm.graph.nodes if node.op == "call_function"]


def assert_no_data_dependent_ops(gm):
    found = [t for t in targets(gm) if t in (aten.nonzero.default, aten.index.Tensor,
                                              aten.index_put.default)]
    assert not found, f"left in the graph: {found}"


def lifted(program, gm):
    """Call ``gm`` (a copy of the program's graph) with the program's parameters prepended."""
    from torch.export.graph_signature import InputKind

    def call(*args):
        user = iter(args)
        values = []
        for spec in program.graph_signature.input_specs:
            if spec.kind == InputKind.USER_INPUT:
                values.append(next(user))
            elif spec.kind in (InputKind.PARAMETER, InputKind.BUFFER):
                values.append(program.state_dict[spec.target])
            else:
                values.append(program.constants[spec.target])
        return gm(*values)

    return call


def compare(program, gm, make_inputs, atol=1e-6):
    """Rewritten vs original graph; 1e-6: CPU kernels round differently for other lengths."""
    original = lifted(program, program.graph_module)
    rewritten = lifted(program, gm)
    for size in SIZES:
        for density in DENSITIES:
            generator = torch.Generator().manual_seed(size * 100 + int(density * 10))
            args = make_inputs(size, density, generator)
            expected = original(*[a.clone() for a in args])
            actual = rewritten(*[a.clone() for a in args])
            for e, a in zip(expected, actual):
                assert e.shape == a.shape and e.dtype == a.dtype, (size, density)
                torch.testing.assert_close(a, e, atol=atol, rtol=1e-6,
                                           msg=f"size {size} density {density}")


ROWS = Dim("N", min=1, max=32)


class MaskedElementwise(torch.nn.Module):
    def forward(self, x, s):
        out = x.clone()
        mask = s > 0
        out[mask] = torch.sigmoid(x[mask]) * 2.0 - x[mask].abs()
        return out


def test_masked_elementwise_write_back_becomes_where():
    program = decomposed(MaskedElementwise(), (torch.randn(8, 4), torch.randn(8)),
                         ({0: ROWS}, {0: ROWS}))
    gm, changed = rewrite(program)
    assert changed
    assert_no_data_dependent_ops(gm)
    assert aten.where.self in targets(gm)
    assert any(node.name.startswith(dd.DENSE_PREFIX) for node in gm.graph.nodes)
    compare(program, gm, lambda n, p, g: (torch.randn(n, 4, generator=g), scores(n, p, g)))


class ChainedWriteBacks(torch.nn.Module):
    """Three write-backs, each reading the previous one's result (through a row-wise op, then a selection): once the
    first is rewritten, what depends on it is no longer data-dependent."""

    def forward(self, x, s):
        out = x.clone()
        mask = s > 0
        out[mask] = torch.sigmoid(x[mask]) * 2.0
        scaled = out * 3.0 + 1.0
        second = scaled.clone()
        second[mask] = scaled[mask].abs() - 1.0
        third = second.clone()
        third[mask] = torch.tanh(second[mask])
        return third


def test_chained_write_backs_see_the_taint_of_the_graph_as_rewritten_so_far(monkeypatch):
    """The taint is computed once per rewrite pass and refreshed after each rewritten write-back (it was recomputed
    for every write-back, 1.3-2.2 s of a Cascade compile): at every write-back the builder must get what a fresh
    walk of the graph gives."""
    program = decomposed(ChainedWriteBacks(), (torch.randn(8, 4), torch.randn(8)), ({0: ROWS}, {0: ROWS}))
    writes = [t for t in targets(program.graph_module) if t in (aten.index_put.default, aten.index_put_.default)]
    assert len(writes) == 3
    seen = []
    original_init = dd._DenseBuilder.__init__

    def checked_init(self, gm, mask, mask_rank, tainted, **options):
        fresh = dd._taint(gm)
        assert tainted == fresh, sorted(node.name for node in tainted ^ fresh)
        seen.append(len(fresh))
        original_init(self, gm, mask, mask_rank, tainted, **options)

    monkeypatch.setattr(dd._DenseBuilder, "__init__", checked_init)
    gm, changed = rewrite(program)
    assert changed and len(seen) == 3
    assert seen[0] > seen[1] > seen[2]  # each rewrite removes the data-dependent values it replaced
    assert_no_data_dependent_ops(gm)
    compare(program, gm, lambda n, p, g: (torch.randn(n, 4, generator=g), scores(n, p, g)))


class MaskedWriteBackThroughView(torch.nn.Module):
    """``x[m].view(...)``: torch_tensorrt's decompositions turn each view into ``aten._reshape_copy``."""

    def forward(self, x, s):
        out = x.clone()
        mask = s > 0
        out[mask] = (x[mask].view(-1, 2, 2) * 2.0).view(-1, 4) + 1.0
        return out


def test_write_back_through_reshape_copy_becomes_where():
    program = decomposed(MaskedWriteBackThroughView(), (torch.randn(8, 4), torch.randn(8)),
                         ({0: ROWS}, {0: ROWS}))
    assert aten._reshape_copy.default in targets(program.graph_module)
    gm, changed = rewrite(program)
    assert changed
    assert_no_data_dependent_ops(gm)
    compare(program, gm, lambda n, p, g: (torch.randn(n, 4, generator=g), scores(n, p, g)))


def test_write_back_through_view_builds_dense_not_compaction():
    """Layer counts of the built engine: the dense rewrite (6 layers: the where, the mask's view and the four
    row-wise ops), not the compaction (65 layers: mask_index 33 + masked_put 32, when the rewrite did not know
    ``aten._reshape_copy``)."""
    from trt_dyn.build import build_engine
    from trt_dyn.converters.selection import count_fallback_layers

    class OneInput(torch.nn.Module):
        def forward(self, x):
            out = x.clone()
            mask = x.sum(1) > 0
            out[mask] = (x[mask].view(-1, 2, 2) * 2.0).view(-1, 4) + 1.0
            return out

    program = torch.export.export(OneInput(), (torch.randn(8, 4),), dynamic_shapes=({0: ROWS},))
    counts = count_fallback_layers(build_engine(program).network)
    assert counts["mask_index"] == counts["masked_put"] == 0, counts
    assert 0 < counts["dense"] <= 8, counts


class FullRankMask(torch.nn.Module):
    def forward(self, x, y):
        out = y.clone()
        mask = x > 0
        out[mask] = torch.exp(-x[mask]) + 1.0
        return out


def test_full_rank_mask_write_back():
    program = decomposed(FullRankMask(), (torch.randn(8, 3), torch.randn(8, 3)),
                         ({0: ROWS}, {0: ROWS}))
    gm, changed = rewrite(program)
    assert changed
    assert_no_data_dependent_ops(gm)
    compare(program, gm,
            lambda n, p, g: (scores(n, p, g, (3,)), torch.randn(n, 3, generator=g)))


class ScalarFill(torch.nn.Module):
    def forward(self, x, s):
        out = x * 1.0
        out[s > 0] = -3.0
        return out


def test_scalar_fill_becomes_where():
    program = decomposed(ScalarFill(), (torch.randn(8, 2), torch.randn(8)), ({0: ROWS}, {0: ROWS}))
    gm, changed = rewrite(program)
    assert changed
    assert_no_data_dependent_ops(gm)
    compare(program, gm, lambda n, p, g: (torch.randn(n, 2, generator=g), scores(n, p, g)))


class NonzeroLinear(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(4, 4)

    def forward(self, x, s):
        out = torch.zeros_like(x)
        inds = torch.nonzero(s > 0).squeeze(1)
        out.index_put_((inds,), torch.relu(self.linear(x[inds])).softmax(-1))
        return out


def test_nonzero_index_put_with_linear_and_softmax():
    module = NonzeroLinear().eval()
    program = decomposed(module, (torch.randn(8, 4), torch.randn(8)), ({0: ROWS}, {0: ROWS}))
    gm, changed = rewrite(program)
    assert changed
    assert_no_data_dependent_ops(gm)
    compare(program, gm, lambda n, p, g: (torch.randn(n, 4, generator=g), scores(n, p, g)),
            atol=1e-6)


class FpnPooler(load_test_module("converters/test_selection.py", "_data_dependent_selection").FpnPooler):
    """detectron2's ROIPooler forward (the selection tests' pooler) on three levels, 7x7 bins, adaptive sampling."""

    scales = (1.0 / 4, 1.0 / 8, 1.0 / 16)
    output_size = (7, 7)
    sampling_ratio = 0

    def forward(self, p2, p3, p4, boxes):
        return self.pool((p2, p3, p4), boxes)


def pooler_boxes(n, generator, image=256.0):
    xy = torch.rand(n, 2, generator=generator) * image * 0.7
    # sizes spread over all three levels (small, medium, large boxes)
    wh = torch.exp(torch.rand(n, 2, generator=generator) * 5.0) + 2.0
    return torch.cat([xy, torch.clamp(xy + wh, max=image)], dim=1)


def pooler_inputs(n, generator):
    return (torch.randn(2, 3, 64, 64, generator=generator),
            torch.randn(2, 3, 32, 32, generator=generator),
            torch.randn(2, 3, 16, 16, generator=generator),
            pooler_boxes(n, generator))


def test_fpn_pooler_becomes_dense_roi_align():
    generator = torch.Generator().manual_seed(0)
    program = decomposed(FpnPooler(), pooler_inputs(8, generator), (None, None, None, {0: ROWS}))
    gm, changed = rewrite(program)
    assert changed
    assert_no_data_dependent_ops(gm)
    assert targets(gm).count(torch.ops.torchvision.roi_align.default) == 3
    compare(program, gm, lambda n, p, g: pooler_inputs(n, g), atol=1e-6)


class ModelPooler(torch.nn.Module):
    """trt_dyn.models' detectron2 ROIPooler over two images with their own dynamic box counts."""

    def __init__(self):
        super().__init__()
        from trt_dyn.models.roi_heads import ROIPooler

        self.pooler = ROIPooler(4, [1 / 4, 1 / 8, 1 / 16])

    def forward(self, p2, p3, p4, boxes0, boxes1):
        return self.pooler([p2, p3, p4], [boxes0, boxes1])


def test_model_roi_pooler_two_images():
    def inputs(n, generator, second=5):
        return pooler_inputs(n, generator)[:3] + (pooler_boxes(n, generator),
                                                  pooler_boxes(second, generator))

    generator = torch.Generator().manual_seed(1)
    program = decomposed(ModelPooler(), inputs(7, generator),
                         (None, None, None, {0: ROWS}, {0: Dim("M", min=1, max=32)}))
    gm, changed = rewrite(program)
    assert changed
    assert_no_data_dependent_ops(gm)
    # the second image gets 32, 26 and 1 boxes when the first gets 1, 7 and 32
    compare(program, gm, lambda n, p, g: inputs(n, g, second=33 - n if n > 1 else 32), atol=1e-6)


# ---------------------------------------------------------------------------------------------
# patterns that must NOT be rewritten


class RowReduction(torch.nn.Module):
    def forward(self, x, s):
        out = x.clone()
        mask = s > 0
        selected = x[mask]
        out[mask] = selected - selected.mean(0)  # depends on the other selected rows
        return out


class RowCumsum(torch.nn.Module):
    def forward(self, x, s):
        out = x.clone()
        mask = s > 0
        out[mask] = torch.cumsum(x[mask], 0)
        return out


class OtherSelection(torch.nn.Module):
    def forward(self, x, s, t):
        out = x.clone()
        out[s > 0] = x[t > 0] * 2  # rows of another selection
        return out


class MoreRowsThanMask(torch.nn.Module):
    def forward(self, x, s):
        out = torch.zeros_like(s)
        inds = torch.nonzero(s > 0).squeeze(1)
        out.index_put_((inds,), x[inds, 0])  # x has more rows than the mask
        return out


@pytest.mark.parametrize(
    "module, args, dynamic_shapes",
    [
        (RowReduction(), (torch.randn(8, 3), torch.randn(8)), ({0: ROWS}, {0: ROWS})),
        (RowCumsum(), (torch.randn(8, 3), torch.randn(8)), ({0: ROWS}, {0: ROWS})),
        (OtherSelection(), (torch.randn(8, 3), torch.randn(8), torch.randn(8)),
         ({0: ROWS}, {0: ROWS}, {0: ROWS})),
        (MoreRowsThanMask(), (torch.randn(9, 3), torch.randn(8)), (None, None)),
    ],
    ids=["mean_over_rows", "cumsum_over_rows", "other_selection", "more_rows_than_mask"],
)
def test_not_row_independent_is_left_alone(module, args, dynamic_shapes):
    program = decomposed(module, args, dynamic_shapes)
    gm, changed = rewrite(program)
    assert not changed
    assert aten.index_put.default in targets(gm)
    assert not any(node.name.startswith(dd.DENSE_PREFIX) for node in gm.graph.nodes)


# ---------------------------------------------------------------------------------------------
# the switch


def test_native_mode_leaves_graph_alone():
    program = decomposed(MaskedElementwise(), (torch.randn(8, 4), torch.randn(8)),
                         ({0: ROWS}, {0: ROWS}))
    with dd.data_dependent_mode("native"):
        assert dd.get_mode() == "native"
        gm, changed = rewrite(program)
    assert not changed
    assert aten.index_put.default in targets(gm)


def test_auto_mode_follows_flavour(monkeypatch):
    monkeypatch.delenv("TRT_DYN_DATA_DEPENDENT", raising=False)
    with dd.data_dependent_mode("auto"):
        assert dd.get_mode() == ("dense" if trt_dyn.IS_RTX else "native")
    dd.set_mode(None)
    monkeypatch.setenv("TRT_DYN_DATA_DEPENDENT", "native")
    assert dd.get_mode() == "native"
    monkeypatch.setenv("TRT_DYN_DATA_DEPENDENT", "sparse")
    with pytest.raises(ValueError, match="sparse"):
        dd.get_mode()
    with pytest.raises(ValueError, match="one of"):
        dd.set_mode("always")


def test_lowering_pass_form_returns_module():
    program = decomposed(ScalarFill(), (torch.randn(8, 2), torch.randn(8)), ({0: ROWS}, {0: ROWS}))
    gm = copy.deepcopy(program.graph_module)
    assert dd.data_dependent_pass(gm, None) is gm
    assert_no_data_dependent_ops(gm)
