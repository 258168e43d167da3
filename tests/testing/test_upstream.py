"""trt_dyn.testing.upstream measures torch_tensorrt alone, without any trt_dyn registration."""

import torch
import torchvision  # noqa: F401  (roi_align must be registered before export)
from torch.export import Dim

import trt_dyn  # noqa: F401
from trt_dyn.testing.upstream import measure_upstream


class ConvRoiAlignLinear(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(4, 4, 3, padding=1)
        self.fc = torch.nn.Linear(4 * 3 * 3, 2)

    def forward(self, features, rois):
        pooled = torchvision.ops.roi_align(torch.relu(self.conv(features)), rois, (3, 3), 0.5, 2, True)
        return self.fc(pooled.flatten(1))


def test_upstream_alone_leaves_roi_align_to_pytorch_and_refuses_full_compilation():
    rois = torch.tensor([[0.0, 1.0, 1.0, 9.0, 7.0], [0.0, 3.0, 2.0, 5.0, 12.0], [0.0, 0.0, 0.0, 4.0, 4.0]])
    program = torch.export.export(
        ConvRoiAlignLinear().eval(), (torch.randn(1, 4, 16, 16), rois),
        dynamic_shapes=(None, {0: Dim("boxes", min=1, max=32)}),
    )
    specs = [
        {"min": (1, 4, 16, 16), "opt": (1, 4, 16, 16), "max": (1, 4, 16, 16)},
        {"min": (1, 5), "opt": (3, 5), "max": (32, 5)},
    ]
    result = measure_upstream(program, specs)
    partitioned, full = result["partitioned"], result["full_compilation"]
    assert partitioned["ok"], partitioned
    assert partitioned["engines"] == 2
    assert partitioned["pytorch_ops"] == ["torchvision.roi_align.default"]
    assert partitioned["unsupported_ops"] == {"torchvision.roi_align.default": 1}
    assert not full["ok"] and "require_full_compilation" in full["error"]
