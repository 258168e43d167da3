"""End to end: torchvision ResNet-50 (random weights) converted by torch_tensorrt, run by the
executor at batch 1, equals eager PyTorch, fast enough for converter tests."""

from __future__ import annotations

import time

import pytest
import torch

from trt_dyn.testing.executor import NetworkExecutor

torchvision = pytest.importorskip("torchvision")


@pytest.mark.slow
def test_resnet50_matches_eager_and_is_fast():
    from trt_dyn.build import build_engine

    torch.manual_seed(0)
    model = torchvision.models.resnet50().eval()
    x = torch.randn(1, 3, 224, 224)
    built = build_engine(torch.export.export(model, (x,)), min_block_size=1)
    executor = NetworkExecutor(built.network)
    feeds = {built.input_names[0]: x}
    executor.run(feeds)  # first run reads and caches the weights
    start = time.perf_counter()
    out = executor.run(feeds)[built.output_names[0]]
    seconds = time.perf_counter() - start
    with torch.no_grad():
        ref = model(x)
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-3)
    assert seconds < 10.0, f"ResNet-50 batch 1 took {seconds:.1f} s"
