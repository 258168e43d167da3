"""torchvision::roi_align converter: exact torchvision numerics on the CPU executor, one engine, clear errors.

Every numerics test compiles once with dynamic box count N and dynamic feature H/W and compares with
torchvision's CPU kernel on fresh random features and boxes at min / opt / max / odd sizes (the
harness's size points). Boxes are drawn to cross the feature map's border, to lie fully outside it,
to be tiny (sub-pixel) and large (grids of several samples per bin), in a multi-image batch.
"""

from __future__ import annotations

import pytest
import torch
import torchvision  # noqa: F401  (registers torchvision::roi_align)
from torchvision.ops import roi_align

import trt_dyn  # noqa: F401
from trt_dyn.build import build_engine
from trt_dyn.converters.errors import ConverterError
from trt_dyn.converters.roi_align import LAYER_PREFIX, count_roi_align_layers
from trt_dyn.testing.harness import run_converter_test

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


def _features(shape, dtype, generator, shapes=None):
    return torch.randn(shape, generator=generator).to(dtype)


DYNAMIC = {"features": {2: (3, 17), 3: (2, 15)}, "rois": {0: (1, 23)}}


def _example(n=6, height=9, width=11, dtype=torch.float32):
    generator = torch.Generator().manual_seed(0)
    features = torch.randn(BATCH, CHANNELS, height, width, generator=generator).to(dtype)
    rois = random_rois((n, 5), dtype, generator, {"features": features.shape})
    return features, rois


@pytest.mark.parametrize("aligned", [False, True], ids=["unaligned", "aligned"])
@pytest.mark.parametrize("sampling_ratio", [2, 0], ids=["sr2", "adaptive"])
def test_numerics_match_torchvision(sampling_ratio, aligned):
    result = run_converter_test(
        RoIAlign(sampling_ratio=sampling_ratio, aligned=aligned),
        _example(),
        DYNAMIC,
        input_generators={"rois": random_rois},
        extra_points=[{"features": (BATCH, CHANNELS, 16, 5), "rois": (13, 5)}],
    )
    assert len(result.points) >= 4
    network = result.networks[0]
    assert count_roi_align_layers(network) > 0


def test_zero_boxes_and_min_zero_profile():
    """N = 0 inside the profile: an empty (0, C, PH, PW) result, like torchvision."""
    result = run_converter_test(
        RoIAlign(sampling_ratio=0, aligned=True),
        _example(),
        {"features": {2: (3, 17), 3: (2, 15)}, "rois": {0: (0, 23)}},
        input_generators={"rois": random_rois},
        extra_points=[{"rois": (0, 5)}],
    )
    assert ("extra0", {"features": (BATCH, CHANNELS, 9, 11), "rois": (0, 5)}) in result.points


def test_float16_features():
    result = run_converter_test(
        RoIAlign(output_size=(2, 2), sampling_ratio=0, aligned=True),
        _example(dtype=torch.float16),
        DYNAMIC,
        input_generators={"rois": random_rois},
        tolerances={torch.float16: (2e-2, 2e-2)},
    )
    assert result.networks[0].get_output(0).dtype == trt_dyn.trt.float16


class ListRoIAlign(torch.nn.Module):
    """The list-of-boxes form: torchvision turns it into (N, 5) rois with cat in Python."""

    def forward(self, features, boxes0, boxes1):
        return roi_align(features, [boxes0, boxes1], (2, 3), spatial_scale=SCALE, sampling_ratio=0, aligned=False)


def _boxes(shape, dtype, generator, shapes):
    return random_rois(shape[:1] + (5,), dtype, generator, shapes)[:, 1:].contiguous()


def test_list_of_boxes_multi_image():
    features, rois = _example()
    result = run_converter_test(
        ListRoIAlign(),
        (features, rois[:4, 1:].contiguous(), rois[:3, 1:].contiguous()),
        {"features": {2: (3, 17), 3: (2, 15)}},
        input_generators={"boxes0": _boxes, "boxes1": _boxes},
    )
    assert "torchvision.roi_align.default" in result.converted_ops


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


def test_unsupported_dtype_names_op_and_node():
    features, rois = _example()
    program = torch.export.export(
        RoIAlign(), (features.to(torch.bfloat16), rois.to(torch.bfloat16)),
    )
    with pytest.raises(Exception) as caught:
        build_engine(program)
    error = caught.value
    while error is not None and not isinstance(error, ConverterError):
        error = error.__cause__ or error.__context__
    assert isinstance(error, ConverterError), caught.value
    message = str(error)
    assert "torchvision.roi_align.default" in message
    assert error.node_name == "roi_align"
    assert "BF16" in message or "bfloat16" in message
    assert "test_roi_align.py" in message
