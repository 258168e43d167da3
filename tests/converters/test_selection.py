"""Data-dependent selection in ONE TensorRT engine (require_full_compilation), checked against eager.

Boolean-mask index, nonzero-then-gather, masked index_put, the detectron2 FPN ROI pooler and top-k
with ``k = min(K, N)`` are compiled with a dynamic row count N by the harness (CPU reference
executor), which compares with eager at min / opt / max / odd N on fresh random inputs. Mask
densities cycle through all-false, all-true, half and sparse so that every test sees empty and full
selections. Layer counts per fallback come from :func:`count_fallback_layers`.
"""

from __future__ import annotations

import itertools

import pytest
import torch
import torchvision  # noqa: F401  (registers torchvision::roi_align)

import trt_dyn  # noqa: F401  (before torch_tensorrt)
from trt_dyn.build import build_engine
from trt_dyn.converters.selection import FALLBACK_PREFIXES, count_fallback_layers
from trt_dyn.lowering import data_dependent as dd
from trt_dyn.testing.harness import ENGINE_MODES, export_dynamic, run_converter_test

aten = torch.ops.aten
ROWS = (1, 24)
#: extra sizes so every density meets more than one size (min/opt/max/odd come from the harness)
EXTRA = (2, 13, 24)


def density_scores():
    """Input generator: scores whose positive fraction cycles all-false, all-true, 0.5, 0.15, ..."""
    densities = itertools.cycle((0.0, 1.0, 0.5, 0.15, 0.85))

    def generate(shape, dtype, generator):
        density = next(densities)
        magnitude = torch.rand(shape, generator=generator) + 0.1
        positive = torch.rand(shape, generator=generator) < density
        return torch.where(positive, magnitude, -magnitude).to(dtype)

    return generate


def extra_points(name, shape_of):
    return [{name: shape_of(n)} for n in EXTRA]


def fallback_counts(result):
    assert len(result.networks) == 1
    return count_fallback_layers(result.networks[0])


class MaskIndex(torch.nn.Module):
    def forward(self, x, s):
        return x[s > 0] * 3.0


@pytest.mark.parametrize("run_engines", ENGINE_MODES)
def test_boolean_mask_index_rows(run_engines):
    result = run_converter_test(
        MaskIndex(), (torch.randn(8, 5), torch.randn(8)), {"x": {0: ROWS}, "s": {0: ROWS}},
        input_generators={"s": density_scores()},
        extra_points=[{"x": (n, 5), "s": (n,)} for n in EXTRA],
        run_engines=run_engines,
    )
    counts = fallback_counts(result)
    if trt_dyn.IS_RTX:
        assert counts["mask_index"] > 0
        assert "NON_ZERO" not in result.layer_types


class FullMaskIndex(torch.nn.Module):
    def forward(self, x):
        return x[x > 0]


@pytest.mark.parametrize("run_engines", ENGINE_MODES)
def test_boolean_mask_index_full_rank_mask(run_engines):
    run_converter_test(
        FullMaskIndex(), (torch.randn(8, 3),), {"x": {0: ROWS}},
        input_generators={"x": density_scores()},
        extra_points=[{"x": (n, 3)} for n in EXTRA],
        run_engines=run_engines,
    )


class NonzeroGather(torch.nn.Module):
    def forward(self, x, s):
        inds = torch.nonzero(s > 0).squeeze(1)
        return x[inds] + 1.0, inds


@pytest.mark.parametrize("run_engines", ENGINE_MODES)
def test_nonzero_then_gather(run_engines):
    result = run_converter_test(
        NonzeroGather(), (torch.randn(8, 4), torch.randn(8)), {"x": {0: ROWS}, "s": {0: ROWS}},
        input_generators={"s": density_scores()},
        extra_points=[{"x": (n, 4), "s": (n,)} for n in EXTRA],
        run_engines=run_engines,
    )
    if trt_dyn.IS_RTX:
        assert fallback_counts(result)["nonzero"] > 0


class MaskedIndexPut(torch.nn.Module):
    def forward(self, x, s):
        out = x.clone()
        mask = s > 0
        out[mask] = torch.sigmoid(x[mask]) * 2.0 - 1.0
        out[s < -0.5] = 0.0
        return out


@pytest.mark.parametrize("run_engines", ENGINE_MODES)
def test_masked_index_put_is_dense(run_engines):
    with dd.data_dependent_mode("dense"):
        result = run_converter_test(
            MaskedIndexPut(), (torch.randn(8, 4), torch.randn(8)), {"x": {0: ROWS}, "s": {0: ROWS}},
            input_generators={"s": density_scores()},
            extra_points=[{"x": (n, 4), "s": (n,)} for n in EXTRA],
            run_engines=run_engines,
        )
    counts = fallback_counts(result)
    assert counts["dense"] > 0
    assert counts["nonzero"] == counts["mask_index"] == 0


class FpnPooler(torch.nn.Module):
    """detectron2 ROIPooler: level assignment, then per level nonzero + roi_align + index_put. Two levels, 2x2 bins
    from 2x2 samples here; tests/lowering/test_data_dependent.py pools three levels to 7x7 adaptively with it."""

    scales = (1.0 / 4, 1.0 / 8)
    output_size = (2, 2)
    sampling_ratio = 2

    def forward(self, p2, p3, boxes):
        return self.pool((p2, p3), boxes)

    def pool(self, pyramid, boxes):
        sizes = torch.sqrt((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]))
        levels = torch.floor(4 + torch.log2(sizes / 224 + 1e-8))
        levels = torch.clamp(levels, min=2, max=1 + len(self.scales)).to(torch.int64) - 2
        # two images: boxes alternate between them (roi_align reads features[batch index])
        batch = torch.remainder(torch.arange(boxes.shape[0]), 2).to(boxes.dtype)[:, None]
        rois = torch.cat([batch, boxes], dim=1)
        out = torch.zeros((boxes.shape[0], pyramid[0].shape[1], *self.output_size), dtype=pyramid[0].dtype)
        for level, (features, scale) in enumerate(zip(pyramid, self.scales)):
            inds = torch.nonzero(levels == level).squeeze(1)
            pooled = torchvision.ops.roi_align(features, rois[inds], self.output_size, scale, self.sampling_ratio, True)
            out.index_put_((inds,), pooled)
        return out


def pooler_boxes():
    """Boxes whose levels are all-2, all-3 or mixed, cycling, inside a 128x128 image."""
    modes = itertools.cycle(("small", "large", "mixed"))

    def generate(shape, dtype, generator):
        mode = next(modes)
        count = shape[0]
        # side 224 * 2**(level - 4): < 112 -> level 2 (clamped), >= 112 -> level 3
        small = torch.rand(count, 2, generator=generator) * 60 + 4
        large = torch.rand(count, 2, generator=generator) * 100 + 120
        if mode == "small":
            wh = small
        elif mode == "large":
            wh = large
        else:
            wh = torch.where(torch.rand(count, 1, generator=generator) < 0.5, small, large)
        xy = torch.rand(count, 2, generator=generator) * 40
        return torch.cat([xy, xy + wh], dim=1).to(dtype)

    return generate


@pytest.mark.parametrize("mode", ["dense", "native"])
@pytest.mark.parametrize("run_engines", ENGINE_MODES)
def test_fpn_roi_pooler_one_engine(run_engines, mode):
    with dd.data_dependent_mode(mode):
        result = run_converter_test(
            FpnPooler(), (torch.randn(2, 2, 16, 16), torch.randn(2, 2, 8, 8), torch.rand(6, 4) * 50),
            {"boxes": {0: ROWS}},
            input_generators={"boxes": pooler_boxes()},
            extra_points=[{"boxes": (n, 4)} for n in EXTRA],
            run_engines=run_engines,
        )
    counts = fallback_counts(result)
    if mode == "dense":
        assert counts["dense"] > 0
        assert counts["nonzero"] == counts["mask_index"] == 0
    elif trt_dyn.IS_RTX:
        # nonzero by compaction, then upstream's integer gather / index_put
        assert counts["dense"] == 0 and counts["nonzero"] > 0


class TopKMin(torch.nn.Module):
    def __init__(self, k, largest=True):
        super().__init__()
        self.k = k
        self.largest = largest

    def forward(self, x):
        values, indices = torch.topk(x, k=min(self.k, x.shape[0]), dim=0, largest=self.largest)
        return values * 1.0, indices


@pytest.mark.parametrize("largest", [True, False], ids=["largest", "smallest"])
@pytest.mark.parametrize("run_engines", ENGINE_MODES)
def test_topk_dynamic_k(largest, run_engines):
    # random floats: no ties, so indices are unique and must match exactly
    result = run_converter_test(
        TopKMin(5, largest), (torch.randn(9, 3),), {"x": {0: (2, 24)}},
        extra_points=[{"x": (n, 3)} for n in (3, 4, 6)],
        run_engines=run_engines,
    )
    assert fallback_counts(result)["topk_dyn"] > 0
    assert result.layer_types["TOPK"] == 1


class TopK1d(torch.nn.Module):
    def forward(self, x):
        values, indices = torch.topk(x, k=min(7, x.shape[0]))
        return values, indices


@pytest.mark.parametrize("run_engines", ENGINE_MODES)
def test_topk_dynamic_k_rank1(run_engines):
    run_converter_test(TopK1d(), (torch.randn(10),), {"x": {0: (2, 30)}}, run_engines=run_engines)


class BoundedNonzero(torch.nn.Module):
    def forward(self, s):
        indices, count = torch.ops.trt_dyn.nonzero_bounded(s > 0)
        return indices, count


@pytest.mark.parametrize("run_engines", ENGINE_MODES)
def test_nonzero_bounded_op(run_engines):
    result = run_converter_test(
        BoundedNonzero(), (torch.randn(6, 3),), {"s": {0: ROWS}},
        input_generators={"s": density_scores()},
        extra_points=[{"s": (n, 3)} for n in EXTRA],
        run_engines=run_engines,
    )
    assert fallback_counts(result)["nonzero_bounded"] > 0


def test_nonzero_bounded_eager_contract():
    mask = torch.tensor([[True, False], [False, True], [True, True]])
    indices, count = torch.ops.trt_dyn.nonzero_bounded(mask)
    assert count.item() == 4 and indices.shape == (6, 2)
    assert torch.equal(indices[:4], torch.nonzero(mask))
    assert torch.equal(indices[4:], torch.full((2, 2), -1))
    with pytest.raises(ValueError, match="nonzero_bounded"):
        torch.ops.trt_dyn.nonzero_bounded(torch.tensor(True))


def test_fallback_layer_counts_are_disjoint(caplog):
    import logging
    import re

    program = export_dynamic(MaskIndex(), (torch.randn(8, 5), torch.randn(8)),
                             {"x": {0: ROWS}, "s": {0: ROWS}})
    with caplog.at_level(logging.INFO, logger="trt_dyn.data_dependent"):
        engine = build_engine(program)
    counts = count_fallback_layers(engine.network)
    assert set(counts) == set(FALLBACK_PREFIXES)
    assert sum(counts.values()) <= engine.num_layers
    if trt_dyn.IS_RTX:
        assert counts["mask_index"] > 0
        assert all(value == 0 for key, value in counts.items() if key != "mask_index")
        # the converter's own report agrees with the count read back from the network
        reported = [int(m.group(1)) for m in (re.search(r"mask_index fallback .*: (\d+) TensorRT",
                                                        r.getMessage()) for r in caplog.records) if m]
        assert reported == [counts["mask_index"]]


class MaskedPutRowReduction(torch.nn.Module):
    """Values depend on all selected rows: the dense rewrite must not apply, the converter does."""

    def forward(self, x, s):
        out = x.clone()
        mask = s > 0
        out[mask] = x[mask] - x[mask].mean(0)
        out[s < -0.5] = 7.0
        return out


@pytest.mark.parametrize("run_engines", ENGINE_MODES)
def test_masked_index_put_not_row_wise_uses_converter(run_engines):
    result = run_converter_test(
        MaskedPutRowReduction(), (torch.randn(8, 4), torch.randn(8)),
        {"x": {0: ROWS}, "s": {0: ROWS}},
        input_generators={"s": density_scores()},
        extra_points=[{"x": (n, 4), "s": (n,)} for n in EXTRA],
        run_engines=run_engines,
    )
    if trt_dyn.IS_RTX:
        counts = fallback_counts(result)
        assert counts["masked_put"] > 0 and counts["mask_index"] > 0


class NonzeroPutRowReduction(torch.nn.Module):
    def forward(self, x, s):
        out = torch.zeros_like(x)
        inds = torch.nonzero(s > 0).squeeze(1)
        out.index_put_((inds,), x[inds] * x[inds].sum(0))
        return out


@pytest.mark.parametrize("run_engines", ENGINE_MODES)
def test_nonzero_index_put_not_row_wise(run_engines):
    run_converter_test(
        NonzeroPutRowReduction(), (torch.randn(8, 4), torch.randn(8)),
        {"x": {0: ROWS}, "s": {0: ROWS}},
        input_generators={"s": density_scores()},
        extra_points=[{"x": (n, 4), "s": (n,)} for n in EXTRA],
        run_engines=run_engines,
    )


class BroadcastRowValues(torch.nn.Module):
    def forward(self, x, s):
        out = x.clone()
        mask = s > 0
        out[mask] = x[mask][:, :1].cumsum(0)  # [count, 1] broadcast over 4 columns
        return out


def test_unsupported_masked_put_names_op_node_and_line():
    if not trt_dyn.IS_RTX:
        pytest.skip("full TensorRT converts this through upstream's NonZero path")
    from trt_dyn.converters.errors import ConverterError, find_converter_error

    program = export_dynamic(BroadcastRowValues(), (torch.randn(8, 4), torch.randn(8)),
                             {"x": {0: ROWS}, "s": {0: ROWS}})
    with pytest.raises(Exception) as caught:
        build_engine(program)
    error = find_converter_error(caught.value)
    assert isinstance(error, ConverterError), caught.value
    message = str(error)
    assert "index_put" in message and error.node_name.startswith("index_put")
    assert "broadcast rows unsupported" in message
    assert "test_selection.py" in message


# ---------------------------------------------------------------------------------------------
# What TensorRT-RTX itself can build (the facts docs/data_dependent.md relies on). If NonZero gains
# a runner, the first assertion fails and the compaction fallback can be reconsidered.


def _build_raw(define):
    import numpy as np  # noqa: F401

    from trt_dyn._trt import trt

    logger = trt.Logger(trt.Logger.INTERNAL_ERROR)
    builder = trt.Builder(logger)
    network = builder.create_network(0)
    profile = builder.create_optimization_profile()
    x = network.add_input("x", trt.float32, (1, -1))
    profile.set_shape("x", (1, 1), (1, 8), (1, 64))
    define(network, x)
    config = builder.create_builder_config()
    config.add_optimization_profile(profile)
    return builder.build_serialized_network(network, config) is not None


def _positive_count(network, x):
    import numpy as np

    from trt_dyn._trt import trt

    zero = network.add_constant((1, 1), np.zeros((1, 1), np.float32)).get_output(0)
    mask = network.add_elementwise(x, zero, trt.ElementWiseOperation.GREATER).get_output(0)
    as_int = network.add_cast(mask, trt.int64).get_output(0)
    return mask, network.add_reduce(as_int, trt.ReduceOperation.SUM, 3, False).get_output(0)


@pytest.mark.skipif(not trt_dyn.IS_RTX, reason="facts about TensorRT-RTX's builder")
def test_rtx_builder_capabilities():
    import numpy as np

    from trt_dyn._trt import trt

    def nonzero(network, x):
        mask, _ = _positive_count(network, x)
        network.mark_output(network.add_non_zero(mask).get_output(0))

    def slice_by_data(network, x):
        _, count = _positive_count(network, x)
        one = network.add_constant((1,), np.array([1], np.int64)).get_output(0)
        count_1d = network.add_shuffle(count)
        count_1d.reshape_dims = (1,)
        size = network.add_concatenation([one, count_1d.get_output(0)]).get_output(0)
        layer = network.add_slice(x, (0, 0), (1, 1), (1, 1))
        layer.set_input(2, size)
        network.mark_output(layer.get_output(0))

    def topk_by_data(network, x):
        _, count = _positive_count(network, x)
        layer = network.add_topk(x, trt.TopKOperation.MAX, 1, 2)
        layer.set_input(1, count)
        network.mark_output(layer.get_output(0))

    assert not _build_raw(nonzero), "TensorRT-RTX now builds NonZero: revisit the compaction fallback"
    assert _build_raw(slice_by_data)
    assert _build_raw(topk_by_data)


class NonzeroOfValues(torch.nn.Module):
    """nonzero of non-bool tensors: ints with zeros, floats with exact zeros among small values."""

    def forward(self, counts, x):
        return torch.nonzero(counts), torch.nonzero(x * (x.abs() > 0.7))


def sparse_ints(shape, dtype, generator):
    return torch.randint(-1, 2, shape, generator=generator).to(dtype) * 3


@pytest.mark.parametrize("run_engines", ENGINE_MODES)
def test_nonzero_of_int_and_float_tensors(run_engines):
    result = run_converter_test(
        NonzeroOfValues(), (torch.zeros(5, 2, dtype=torch.int32), torch.randn(5, 3)),
        {"counts": {0: ROWS}, "x": {0: ROWS}},
        input_generators={"counts": sparse_ints},
        extra_points=[{"counts": (n, 2), "x": (n, 3)} for n in EXTRA],
        run_engines=run_engines,
    )
    if trt_dyn.IS_RTX:
        assert fallback_counts(result)["nonzero"] > 0


def _topk_network(mark_topk):
    """x (a, b); top-k along dim 1 with k = a. Only x's identity is an output unless ``mark_topk``."""
    from torch_tensorrt.dynamo.conversion._ConversionContext import ConversionContext

    from trt_dyn._trt import trt
    from trt_dyn.converters import shape_tensor as st
    from trt_dyn.converters.compaction import topk_dynamic_k

    builder = trt.Builder(trt.Logger(trt.Logger.ERROR))
    network = builder.create_network(0)
    ctx = ConversionContext(network)
    x = network.add_input("x", trt.float32, (-1, -1))
    values, indices = topk_dynamic_k(ctx, x, st.dim_of(ctx, x, 0, "k"), 1, True, "dd_topk", "topk")
    if mark_topk:
        network.mark_output(values)
        network.mark_output(indices)
    else:
        network.mark_output(network.add_identity(x).get_output(0))
    return builder, network, ctx  # ctx owns the constants' host weights


def test_topk_k_out_of_range_trips_assertion():
    """k > size(dim) (torch raises) is refused by the network's assertion, never computed."""
    from trt_dyn.testing.executor import execute_network
    from trt_dyn.testing.executor.errors import AssertionLayerError

    builder, network, ctx = _topk_network(mark_topk=True)
    good = torch.randn(3, 5)
    values, indices = execute_network(network, {"x": good}, cache=False).values()
    expected = torch.topk(good, 3, dim=1)
    torch.testing.assert_close(values, expected.values)
    assert torch.equal(indices, expected.indices)
    # The executor evaluates outputs before assertions; TensorRT checks shape assertions first.
    builder, network, ctx = _topk_network(mark_topk=False)
    execute_network(network, {"x": torch.randn(5, 5)}, cache=False)
    with pytest.raises(AssertionLayerError, match="topk k must be in"):
        execute_network(network, {"x": torch.randn(6, 5)}, cache=False)


def test_mask_shape_mismatch_trips_assertion():
    """x[mask] with a mask longer than x's rows: torch raises, the network's assertion too."""
    from torch_tensorrt.dynamo.conversion._ConversionContext import ConversionContext

    from trt_dyn._trt import trt
    from trt_dyn.converters.compaction import truthy, _assert_mask_covers
    from trt_dyn.testing.executor import execute_network
    from trt_dyn.testing.executor.errors import AssertionLayerError

    builder = trt.Builder(trt.Logger(trt.Logger.ERROR))
    network = builder.create_network(0)
    ctx = ConversionContext(network)
    x = network.add_input("x", trt.float32, (-1, 3))
    s = network.add_input("s", trt.float32, (-1,))
    _assert_mask_covers(ctx, truthy(ctx, s, "dd_mask_index", "m"), x, 0, "dd_mask_index", "index")
    network.mark_output(network.add_identity(x).get_output(0))
    execute_network(network, {"x": torch.randn(4, 3), "s": torch.randn(4)}, cache=False)
    with pytest.raises(AssertionLayerError, match="mask shape must equal"):
        execute_network(network, {"x": torch.randn(4, 3), "s": torch.randn(5)}, cache=False)


class FlatTopk(torch.nn.Module):
    """detectron2's box post-processing: ``scores.flatten().topk(k)`` on a dynamic length (k static)."""

    def forward(self, x):
        values, indices = x.flatten().topk(5)
        smallest = x[:, 0].topk(2, largest=False)
        return values, indices, smallest.values, smallest.indices


def test_rank1_topk_of_dynamic_length():
    """Failed before: TensorRT 'at least 2 dimensions are required for input', then 'Could not get tensor shape'."""
    from trt_dyn.testing.harness import run_converter_test

    run_converter_test(FlatTopk(), (torch.randn(7, 9),), {"x": {0: (2, 20), 1: (3, 30)}})


# ---------------------------------------------------------------------------------------------
# Static-shape models (every input static) with data-dependent ops (issue 10 / issue 13 item 6).
# TensorRT folds a fully static network's shapes at build time, so a Slice sized by a count from
# the data fails ("Network input x is a shape tensor ..." for a rank-1 float x, an internal shape
# analyser assertion for a (6, 4) x); the compaction declares such inputs' dim 0 as -1 with a
# min = opt = max profile, which keeps the engine static for every caller.


class StaticMaskIndex(torch.nn.Module):
    def forward(self, x):
        return x[x > 0]


class StaticNonzero(torch.nn.Module):
    def forward(self, x):
        return torch.nonzero(x > 0)


class StaticNonzeroGather(torch.nn.Module):
    def forward(self, x):
        return x[torch.nonzero(x > 0)[:, 0]] * 2.0, torch.nonzero(x > 0)


class StaticRowMaskIndex(torch.nn.Module):
    """mask from an int input, rows of a float input selected (two static inputs)."""

    def forward(self, x, labels):
        keep = labels > 0
        return x[keep] + 1.0, torch.nonzero(keep).squeeze(1)


#: all-false, all-true, then some (exact zero counts and full counts both)
STATIC_DENSITIES = (0.0, 1.0, 0.5, 0.15, 0.85)


def _signed(shape, density, generator, dtype=torch.float32):
    magnitude = torch.rand(shape, generator=generator) + 0.1
    positive = torch.rand(shape, generator=generator) < density
    return torch.where(positive, magnitude, -magnitude).to(dtype)


@pytest.mark.parametrize("module", [StaticMaskIndex(), StaticNonzero(), StaticNonzeroGather()],
                         ids=["mask_index", "nonzero", "nonzero_gather"])
@pytest.mark.parametrize("shape", [(8,), (6, 4)], ids=["8", "6x4"])
def test_static_shape_data_dependent_ops(module, shape):
    from trt_dyn.testing.harness import compare_outputs

    result = run_converter_test(module, (torch.randn(*shape),), None,
                                input_generators={"x": density_scores()})
    for seed, density in enumerate(STATIC_DENSITIES):
        x = _signed(shape, density, torch.Generator().manual_seed(100 + seed))
        with torch.no_grad():
            compare_outputs(result.compiled(x.clone()), module(x.clone()), where=f"density {density}")
    # callers still see a static engine: the profile is exactly the static shape
    (engine,) = result.compiled.engines
    for profile in engine.profiles:
        assert profile["x"] == (shape, shape, shape)


def test_static_shape_mask_from_int_input():
    from trt_dyn.testing.harness import compare_outputs

    module = StaticRowMaskIndex()
    result = run_converter_test(module, (torch.randn(8, 3), torch.randint(-2, 3, (8,))), None)
    for seed, density in enumerate(STATIC_DENSITIES):
        generator = torch.Generator().manual_seed(200 + seed)
        x = torch.randn(8, 3, generator=generator)
        labels = (_signed((8,), density, generator) > 0).to(torch.int64) * torch.randint(
            1, 5, (8,), generator=generator)
        with torch.no_grad():
            compare_outputs(result.compiled(x.clone(), labels.clone()), module(x, labels),
                            where=f"density {density}")


class Gathers(torch.nn.Module):
    """``torch.gather`` on tensors with a dynamic row count: along the dynamic dim, across it, narrower index."""

    def forward(self, x, index):
        return (torch.gather(x, 1, x.argsort(dim=1)),
                torch.gather(x, 0, index),
                torch.gather(x, 1, x.argmax(1, keepdim=True)))


def test_gather_on_dynamic_tensor_converts():
    # upstream's aten.gather converter is registered without dynamic-shape support: the node stayed in PyTorch
    run_converter_test(Gathers(), (torch.randn(6, 5), torch.randint(0, 4, (3, 5))),
                       {"x": {0: (4, 12)}, "index": {0: (1, 8)}},
                       input_generators={"index": lambda shape, dtype, generator: torch.randint(
                           0, 4, shape, generator=generator)},
                       extra_points=[{"x": (4, 5), "index": (8, 5)}, {"x": (11, 5), "index": (1, 5)}])
