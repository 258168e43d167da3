"""Issue 6 acceptance: the Cascade Mask R-CNN replica compiles to ONE TensorRT engine with dynamic image size.

Everything the model does runs inside the engine (no node left to PyTorch, no op excluded through
``torch_executed_ops``), and the CPU reference executor of the built network matches eager PyTorch at the minimum,
maximum and an odd image size.
"""

import pytest
import torch

import trt_dyn
from trt_dyn.models import build_cascade_mask_rcnn, export_cascade
from trt_dyn.testing import compile_cpu

pytestmark = pytest.mark.slow

MIN_HW, MAX_HW, STEP = 256, 768, 16
SPEC = {"min": (1, 3, MIN_HW, MIN_HW), "opt": (1, 3, 512, 528), "max": (1, 3, MAX_HW, MAX_HW)}
OUTPUTS = ("boxes", "scores", "classes", "masks")


@pytest.fixture(scope="module")
def model():
    return build_cascade_mask_rcnn(seed=0)


@pytest.fixture(scope="module")
def program(model):
    return export_cascade(model, MIN_HW, MAX_HW, STEP)


@pytest.fixture(scope="module")
def compiled(program):
    return compile_cpu(program, [SPEC], require_full_compilation=True, min_block_size=1)


def test_nothing_is_missing_a_dyn_variant(program):
    report = trt_dyn.report(program)
    assert report.ok, str(report)
    assert sum(report.rewritten.values()) > 0, "a dynamic model must need dyn rewrites"


def test_one_engine_and_no_pytorch_node(compiled):
    assert compiled.num_trt_engines == 1
    assert compiled.pytorch_nodes == []
    (engine,) = compiled.engines
    assert len(engine.serialized_engine) > 0
    (profile,) = engine.profiles
    assert list(profile.values()) == [(SPEC["min"], SPEC["opt"], SPEC["max"])]


@pytest.mark.parametrize("height, width", [(256, 256), (768, 768), (336, 592)], ids=["min", "max", "odd"])
def test_executor_matches_eager(model, compiled, height, width):
    images = torch.rand(1, 3, height, width, generator=torch.Generator().manual_seed(height * 1000 + width)) * 255
    with torch.no_grad():
        expected = model(images)
    actual = compiled(images)
    assert len(actual) == len(expected) == len(OUTPUTS)
    for name, want, got in zip(OUTPUTS, expected, actual):
        assert got.shape == want.shape, f"{name} at {height}x{width}: {tuple(got.shape)} vs {tuple(want.shape)}"
        assert got.dtype == want.dtype, f"{name} at {height}x{width}: {got.dtype} vs {want.dtype}"
        if want.dtype.is_floating_point:
            torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-3, msg=lambda m: f"{name} at {height}x{width}: {m}")
        else:
            assert torch.equal(got, want), f"{name} at {height}x{width} differs"
    # The detections must be real (non-degenerate) so that the comparison means something.
    boxes = expected[0]
    assert torch.isfinite(boxes).all() and (boxes[..., 2:] >= boxes[..., :2]).all()
    assert expected[1].std() > 0


@pytest.mark.gpu
def test_real_engine_matches_eager(model, program):
    # On a machine with a supported GPU: the same compile with the real TensorRT engine.
    engine_module = compile_cpu(program, [SPEC], run_engines=True, require_full_compilation=True, min_block_size=1)
    assert engine_module.num_trt_engines == 1 and engine_module.pytorch_nodes == []
    for height, width in [(256, 256), (768, 768), (336, 592)]:
        images = torch.rand(1, 3, height, width) * 255
        with torch.no_grad():
            expected = model(images)
        actual = engine_module(images.cuda())
        for name, want, got in zip(OUTPUTS, expected, actual):
            got = got.cpu()
            if want.dtype.is_floating_point:
                # GPU kernels (TF32, fused reductions) are looser than the CPU executor
                torch.testing.assert_close(got, want, rtol=1e-2, atol=1e-2, msg=lambda m: f"{name}: {m}")
            else:
                assert got.shape == want.shape, name
