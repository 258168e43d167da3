"""torchvision::roi_align converter: exact torchvision numerics on the CPU executor, one engine, clear errors.

Every numerics test compiles once with dynamic box count N and dynamic feature H/W and compares with
torchvision's CPU kernel on fresh random features and boxes at min / opt / max / odd sizes of N and
of H/W. Boxes are drawn to cross the feature map's border, to lie fully outside it,
to be tiny (sub-pixel) and large (grids of several samples per bin), in a multi-image batch.
"""

from __future__ import annotations

import pytest
import torch
import torchvision  # noqa: F401  (registers torchvision::roi_align)
from torchvision.ops import roi_align

import trt_dyn  # noqa: F401
from trt_dyn.build import build_engine
from trt_dyn.converters.errors import ConverterError, find_converter_error
from trt_dyn.converters.roi_align import LAYER_PREFIX, count_roi_align_layers
from trt_dyn._trt import trt
from trt_dyn.testing.executor import execute_network
from trt_dyn.testing.harness import ENGINE_MODES, run_converter_test

SCALE = 0.5
BATCH = 2
CHANNELS = 3


class RoIAlign(torch.nn.Module):
    def __init__(self, output_size=(3, 4), spatial_scale=SCALE, sampling_ratio=2, aligned=False):
        super().__init__()
        self.output_size = output_size
        self.spatial_scale = spatial_scale
        self.sampling_ratio = sampling_ratio
        self.aligned = aligned

    def forward(self, features: torch.Tensor, rois: torch.Tensor) -> torch.Tensor:
        return roi_align(
            features, rois, self.output_size, spatial_scale=self.spatial_scale,
            sampling_ratio=self.sampling_ratio, aligned=self.aligned,
        )


def random_rois(shape, dtype, generator, shapes, scale=SCALE):
    """(N, 5) rois over the feature map of ``shapes['features']``, in image coordinates.

    A mix of: boxes inside the map, boxes crossing each border, boxes fully outside (beyond -1 and
    beyond H/W), sub-pixel boxes, boxes several times the output size (adaptive grids of 2-6), and
    inverted boxes (x2 < x1, y2 < y1).
    """
    count = shape[0]
    _, _, height, width = shapes["features"]
    image_h, image_w = height / scale, width / scale
    u = lambda *size: torch.rand(size, generator=generator)  # noqa: E731
    kind = torch.randint(0, 6, (count,), generator=generator)
    x1 = u(count) * image_w * 1.4 - 0.2 * image_w
    y1 = u(count) * image_h * 1.4 - 0.2 * image_h
    w = u(count) * image_w * 0.8
    h = u(count) * image_h * 0.8
    # fully outside: entirely left/above the map or entirely right/below it
    outside = kind == 1
    x1 = torch.where(outside & (u(count) < 0.5), -image_w - u(count) * image_w, x1)
    y1 = torch.where(outside & (u(count) >= 0.5), image_h * 1.5 + u(count) * image_h, y1)
    tiny = kind == 2
    w = torch.where(tiny, u(count) * 0.8, w)
    h = torch.where(tiny, u(count) * 0.8, h)
    inverted = kind == 3
    w = torch.where(inverted, -u(count) * 4, w)
    h = torch.where(inverted, -u(count) * 4, h)
    batch = torch.randint(0, BATCH, (count,), generator=generator).to(torch.float32)
    rois = torch.stack([batch, x1, y1, x1 + w, y1 + h], dim=1)
    return rois.to(dtype)


DYNAMIC = {"features": {2: (3, 17), 3: (2, 15)}, "rois": {0: (1, 23)}}


def _example(n=6, height=9, width=11, dtype=torch.float32):
    generator = torch.Generator().manual_seed(0)
    features = torch.randn(BATCH, CHANNELS, height, width, generator=generator).to(dtype)
    rois = random_rois((n, 5), dtype, generator, {"features": features.shape})
    return features, rois


PROFILE_MIN, PROFILE_OPT, PROFILE_MAX = (2, 2, 0), (9, 11, 6), (40, 40, 64)
#: (H, W, N) run on one engine: min / opt / max of every range, odd sizes, N = 0, a wide thin map
POINTS = [(2, 2, 1), PROFILE_OPT, PROFILE_MAX, (17, 5, 13), (3, 31, 21), (9, 11, 0), (40, 3, 1)]


def build_roi_align(module: torch.nn.Module, dtype=torch.float32):
    """One engine for ``module`` with dynamic N in [0, 64] and feature H, W in [2, 40]."""
    features, rois = _example(dtype=dtype)
    program = torch.export.export(
        module,
        (features, rois),
        dynamic_shapes=(
            {2: torch.export.Dim.AUTO, 3: torch.export.Dim.AUTO},
            {0: torch.export.Dim("num_rois", min=0, max=PROFILE_MAX[2])},
        ),
    )
    (h0, w0, n0), (h1, w1, n1), (h2, w2, n2) = PROFILE_MIN, PROFILE_OPT, PROFILE_MAX
    specs = [
        {"min": (BATCH, CHANNELS, h0, w0), "opt": (BATCH, CHANNELS, h1, w1), "max": (BATCH, CHANNELS, h2, w2),
         "dtype": dtype},
        {"min": (n0, 5), "opt": (n1, 5), "max": (n2, 5), "dtype": dtype},
    ]
    return build_engine(program, specs, require_full_compilation=True)


def execute(network, feeds):
    """The network's one output, computed by the CPU reference executor."""
    (value,) = execute_network(network, feeds).values()
    return value


def check_points(engine, module, dtype=torch.float32, points=POINTS, tolerance=None):
    """Fresh random features and boxes at every (H, W, N) point vs torchvision (in float32)."""
    rtol, atol = tolerance or ((1e-5, 1e-5) if dtype == torch.float32 else (1e-2, 1e-2))
    nonzero_points = 0
    for h, w, n in points:
        generator = torch.Generator().manual_seed(1000 * h + 10 * w + n)
        features = torch.randn(BATCH, CHANNELS, h, w, generator=generator).to(dtype)
        rois = random_rois((n, 5), dtype, generator, {"features": features.shape})
        got = execute(engine.network, {engine.input_names[0]: features, engine.input_names[1]: rois})
        want = module(features.float(), rois.float())
        assert got.dtype == dtype and got.shape == want.shape, (h, w, n, got.shape, want.shape)
        nonzero_points += bool(want.abs().sum() > 0)
        torch.testing.assert_close(got.float(), want, rtol=rtol, atol=atol, msg=lambda m: f"H,W,N={h, w, n}: {m}")
    assert nonzero_points >= len(points) // 2, "the references are mostly zeros: the boxes test little"


@pytest.mark.parametrize("aligned", [False, True], ids=["unaligned", "aligned"])
@pytest.mark.parametrize("sampling_ratio", [2, 0], ids=["sr2", "adaptive"])
def test_numerics_match_torchvision(sampling_ratio, aligned):
    module = RoIAlign(sampling_ratio=sampling_ratio, aligned=aligned)
    engine = build_roi_align(module)
    assert count_roi_align_layers(engine.network) > 0
    check_points(engine, module)


@pytest.mark.parametrize("sampling_ratio", [1, 3, -1])
def test_other_sampling_ratios_and_scale(sampling_ratio):
    module = RoIAlign(output_size=(2, 5), spatial_scale=0.125 * 3, sampling_ratio=sampling_ratio, aligned=False)
    check_points(build_roi_align(module), module, points=POINTS[:4])


def test_float16_features():
    module = RoIAlign(output_size=(2, 2), sampling_ratio=0, aligned=True)
    engine = build_roi_align(module, torch.float16)
    assert engine.network.get_output(0).dtype == trt.float16
    check_points(engine, module, torch.float16)


def test_large_boxes_run_long_adaptive_grids():
    """A box twice the map's size: grids of 13 x 13 samples per bin, many outside the map."""
    module = RoIAlign(output_size=(2, 2), sampling_ratio=0, aligned=True)
    engine = build_roi_align(module)
    features = torch.randn(BATCH, CHANNELS, 12, 10)
    rois = torch.tensor([[0, -20.0, -15.0, 30.0, 35.0], [1, 3.0, 2.0, 9.0, 11.0], [1, 100.0, 100.0, 101.0, 101.0]])
    got = execute(engine.network, {engine.input_names[0]: features, engine.input_names[1]: rois})
    torch.testing.assert_close(got, module(features, rois), rtol=1e-5, atol=1e-5)


class TwoLevels(torch.nn.Module):
    """Two roi_align nodes (FPN-style levels at strides 4 and 8) in one graph."""

    def forward(self, fine, coarse, rois):
        a = roi_align(fine, rois, (2, 2), spatial_scale=0.25, sampling_ratio=0, aligned=True)
        b = roi_align(coarse, rois, (2, 2), spatial_scale=0.125, sampling_ratio=0, aligned=True)
        return a + b


def test_two_roi_align_nodes_one_engine():
    module = TwoLevels()
    generator = torch.Generator().manual_seed(3)
    fine = torch.randn(BATCH, CHANNELS, 16, 12, generator=generator)
    coarse = torch.randn(BATCH, CHANNELS, 8, 6, generator=generator)
    rois = random_rois((5, 5), torch.float32, generator, {"features": fine.shape}, scale=0.25)
    auto = torch.export.Dim.AUTO
    program = torch.export.export(
        module, (fine, coarse, rois),
        dynamic_shapes=({2: auto, 3: auto}, {2: auto, 3: auto}, {0: torch.export.Dim("num_rois", min=0, max=16)}),
    )
    specs = [
        {"min": (BATCH, CHANNELS, 4, 4), "opt": (BATCH, CHANNELS, 16, 12), "max": (BATCH, CHANNELS, 32, 32)},
        {"min": (BATCH, CHANNELS, 2, 2), "opt": (BATCH, CHANNELS, 8, 6), "max": (BATCH, CHANNELS, 16, 16)},
        {"min": (0, 5), "opt": (5, 5), "max": (16, 5)},
    ]
    engine = build_engine(program, specs, require_full_compilation=True)
    names = [engine.network.get_layer(i).name for i in range(engine.network.num_layers)]
    assert {name.split("]")[0] for name in names if name.startswith(LAYER_PREFIX)} == {
        "roi_align[roi_align", "roi_align[roi_align_1"
    }
    for h, w, n in [(4, 4, 1), (16, 12, 5), (32, 32, 16), (22, 10, 9)]:
        fine = torch.randn(BATCH, CHANNELS, h, w, generator=generator)
        coarse = torch.randn(BATCH, CHANNELS, h // 2, w // 2, generator=generator)
        rois = random_rois((n, 5), torch.float32, generator, {"features": fine.shape}, scale=0.25)
        inputs = dict(zip(engine.input_names, (fine, coarse, rois)))
        torch.testing.assert_close(execute(engine.network, inputs), module(fine, coarse, rois), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("run_engines", ENGINE_MODES)
@pytest.mark.parametrize("sampling_ratio", [2, 0], ids=["sr2", "adaptive"])
def test_harness_compile_one_engine(sampling_ratio, run_engines):
    """Through torch_tensorrt's compile (compile_cpu) and the shared harness; with ``gpu`` the real engine."""
    result = run_converter_test(
        RoIAlign(sampling_ratio=sampling_ratio, aligned=True),
        _example(),
        DYNAMIC,
        input_generators={"rois": random_rois},
        run_engines=run_engines,
    )
    assert result.compiled.num_trt_engines == 1
    assert len(result.points) >= 4


@pytest.mark.slow
def test_benchmark_upstream_partitions_trt_dyn_does_not(tmp_path):
    """benchmarks/upstream_vs_trt_dyn.py: upstream leaves roi_align to PyTorch, trt_dyn builds 1 engine."""
    import importlib.util
    import json
    import pathlib
    import sys

    path = pathlib.Path(__file__).resolve().parents[2] / "benchmarks" / "upstream_vs_trt_dyn.py"
    spec = importlib.util.spec_from_file_location("upstream_vs_trt_dyn", path)
    benchmark = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, benchmark)  # dataclasses look their module up there
    spec.loader.exec_module(benchmark)
    output = tmp_path / "result.json"
    assert benchmark.main(["--tiny", "--pattern", "roi_align_sr2", "--json", str(output)]) == 0
    results = {r["mode"]: r for r in json.loads(output.read_text())["results"]}
    upstream, ours = results["upstream"], results["trt_dyn"]
    assert not upstream["roi_align_converter"] and ours["roi_align_converter"]
    assert upstream["partitioned"]["pytorch_ops"] == ["torchvision.roi_align.default"]
    assert upstream["partitioned"]["engines"] >= 1
    assert not upstream["full_compilation"]["ok"]
    assert ours["partitioned"]["engines"] == 1 and ours["partitioned"]["pytorch_ops"] == []
    assert ours["full_compilation"]["ok"] and ours["full_compilation"]["engines"] == 1
    assert ours["partitioned"]["roi_align_layers"] > 0


class ListRoIAlign(torch.nn.Module):
    """The list-of-boxes form: torchvision turns it into (N, 5) rois with cat in Python."""

    def forward(self, features, boxes0, boxes1):
        return roi_align(features, [boxes0, boxes1], (2, 3), spatial_scale=SCALE, sampling_ratio=0, aligned=False)


def test_list_of_boxes_multi_image():
    """Per-image (Ni, 4) boxes with dynamic Ni (including 0) and dynamic feature H/W, one engine."""
    module = ListRoIAlign()
    features, rois = _example()
    count = torch.export.Dim
    program = torch.export.export(
        module,
        (features, rois[:4, 1:].contiguous(), rois[:3, 1:].contiguous()),
        dynamic_shapes=(
            {2: torch.export.Dim.AUTO, 3: torch.export.Dim.AUTO},
            {0: count("boxes_image0", min=0, max=32)},
            {0: count("boxes_image1", min=0, max=32)},
        ),
    )
    specs = [
        {"min": (BATCH, CHANNELS, 2, 2), "opt": (BATCH, CHANNELS, 9, 11), "max": (BATCH, CHANNELS, 40, 40)},
        {"min": (0, 4), "opt": (4, 4), "max": (32, 4)},
        {"min": (0, 4), "opt": (3, 4), "max": (32, 4)},
    ]
    engine = build_engine(program, specs, require_full_compilation=True)
    for h, w, n0, n1 in [(2, 2, 1, 0), (9, 11, 4, 3), (40, 40, 32, 32), (17, 5, 0, 7), (3, 31, 9, 1)]:
        generator = torch.Generator().manual_seed(h + 100 * w + 10 * n0 + n1)
        features = torch.randn(BATCH, CHANNELS, h, w, generator=generator)
        shapes = {"features": features.shape}
        boxes0 = random_rois((n0, 5), torch.float32, generator, shapes)[:, 1:].contiguous()
        boxes1 = random_rois((n1, 5), torch.float32, generator, shapes)[:, 1:].contiguous()
        names = engine.input_names
        got = execute(engine.network, {names[0]: features, names[1]: boxes0, names[2]: boxes1})
        torch.testing.assert_close(got, module(features, boxes0, boxes1), rtol=1e-5, atol=1e-5)


def test_one_engine_with_full_compilation_and_layer_count():
    features, rois = _example()
    program = torch.export.export(
        RoIAlign(sampling_ratio=0, aligned=True),
        (features, rois),
        dynamic_shapes=(
            {2: torch.export.Dim.AUTO, 3: torch.export.Dim.AUTO},
            {0: torch.export.Dim("num_rois", min=0, max=64)},
        ),
    )
    specs = [
        {"min": (BATCH, CHANNELS, 2, 2), "opt": (BATCH, CHANNELS, 9, 11), "max": (BATCH, CHANNELS, 40, 40)},
        {"min": (0, 5), "opt": (6, 5), "max": (64, 5)},
    ]
    engine = build_engine(program, specs, require_full_compilation=True)
    assert engine.serialized_engine
    (profile,) = engine.profiles
    assert profile[engine.input_names[1]] == ((0, 5), (6, 5), (64, 5))
    ours = count_roi_align_layers(engine.network)
    names = [engine.network.get_layer(i).name for i in range(engine.network.num_layers)]
    # Everything in this one-op network is the converter's, except torch_tensorrt's own glue.
    assert ours == sum(name.startswith(LAYER_PREFIX) for name in names)
    assert ours >= engine.network.num_layers - 2


class FixedRois(torch.nn.Module):
    """Boxes stored in the model (a frozen constant in the graph), dynamic feature H/W."""

    def __init__(self):
        super().__init__()
        self.register_buffer("rois", torch.tensor([[0, 1.0, 2.0, 9.0, 7.0], [1, -3.0, 4.0, 5.0, 30.0]]))

    def forward(self, features):
        return roi_align(features, self.rois, (3, 3), spatial_scale=SCALE, sampling_ratio=2, aligned=True)


def test_constant_rois():
    module = FixedRois()
    program = torch.export.export(
        module, (torch.randn(BATCH, CHANNELS, 12, 14),),
        dynamic_shapes=({2: torch.export.Dim.AUTO, 3: torch.export.Dim.AUTO},),
    )
    spec = {"min": (BATCH, CHANNELS, 4, 4), "opt": (BATCH, CHANNELS, 12, 14), "max": (BATCH, CHANNELS, 30, 30)}
    engine = build_engine(program, [spec])
    generator = torch.Generator().manual_seed(5)
    for h, w in [(4, 4), (12, 14), (30, 30), (7, 23)]:
        features = torch.randn(BATCH, CHANNELS, h, w, generator=generator)
        got = execute(engine.network, {engine.input_names[0]: features})
        torch.testing.assert_close(got, module(features), rtol=1e-5, atol=1e-5)


def test_unsupported_dtype_names_op_and_node():
    features, rois = _example()
    program = torch.export.export(
        RoIAlign(), (features.to(torch.bfloat16), rois.to(torch.bfloat16)),
    )
    with pytest.raises(Exception) as caught:
        build_engine(program)
    error = find_converter_error(caught.value)
    assert isinstance(error, ConverterError), caught.value
    message = str(error)
    assert "torchvision.roi_align.default" in message
    assert error.node_name == "roi_align"
    assert "BF16" in message or "bfloat16" in message
    assert "test_roi_align.py" in message


@pytest.mark.parametrize("sampling_ratio", [0, 2], ids=["adaptive", "sr2"])
def test_non_finite_boxes_pool_to_zero(sampling_ratio):
    """Non-finite boxes are undefined in torchvision; here they pool to 0 (and the loop stays short)."""
    module = RoIAlign(output_size=(2, 2), sampling_ratio=sampling_ratio, aligned=True)
    engine = build_roi_align(module)
    features = torch.randn(BATCH, CHANNELS, 6, 7)
    finite = torch.tensor([[1, 2.0, 3.0, 9.0, 8.0]])
    rois = torch.cat([finite, torch.tensor([[0, 0.0, float("nan"), 5.0, 5.0], [1, 1.0, 1.0, float("inf"), 4.0]])])
    got = execute(engine.network, {engine.input_names[0]: features, engine.input_names[1]: rois})
    torch.testing.assert_close(got[:1], module(features, finite), rtol=1e-5, atol=1e-5)
    assert torch.equal(got[1:], torch.zeros_like(got[1:]))
