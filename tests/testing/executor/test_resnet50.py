"""End to end: torchvision ResNet-50 (random weights, random BatchNorm statistics) converted by
torch_tensorrt and run by the executor at batch 1 equals eager PyTorch. Its speed is measured by
benchmarks/executor_speed.py, not asserted here."""

from __future__ import annotations

import pytest
import torch

from trt_dyn.testing.executor import NetworkExecutor
from trt_dyn.testing.random_init import randomize_batch_norm

torchvision = pytest.importorskip("torchvision")


@pytest.mark.slow
def test_resnet50_matches_eager():
    from trt_dyn.build import build_engine

    torch.manual_seed(0)
    model = randomize_batch_norm(torchvision.models.resnet50()).eval()
    x = torch.randn(1, 3, 224, 224)
    built = build_engine(torch.export.export(model, (x,)), min_block_size=1)
    executor = NetworkExecutor(built.network)
    feeds = {built.input_names[0]: x}
    executor.run(feeds)  # first run reads and caches the weights
    out = executor.run(feeds)[built.output_names[0]]
    with torch.no_grad():
        ref = model(x)
    assert ref.abs().max() > 0
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-3)
