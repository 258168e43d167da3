"""torch_tensorrt's torch.compile backend keeps ``.contiguous()`` before a view, and still folds ``param.item()``."""

import torch

import trt_dyn  # noqa: F401  (installs the fix)
from trt_dyn.testing.cpu_backend import CpuBackend


class WindowsWithItem(torch.nn.Module):
    """permute -> contiguous -> view (not viewable without the copy) and a scale read with .clone().item()."""

    def __init__(self):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.tensor(1.5))

    def forward(self, x):  # (B, H, W, C), H and W multiples of 4, at least 8
        B, H, W, C = x.shape
        windows = x.view(B, H // 4, 4, W // 4, 4, C).permute(0, 1, 3, 2, 4, 5).contiguous().view(-1, 4, 4, C)
        return windows * self.scale.detach().clone().item()


def test_contiguous_kept_and_item_folded():
    model = WindowsWithItem().eval()
    backend = CpuBackend()
    compiled = torch.compile(model, backend=backend, dynamic=True, options={"min_block_size": 1})
    torch._dynamo.reset()
    with torch._dynamo.config.patch(error_on_recompile=True, capture_scalar_outputs=True):
        for h, w in ((8, 12), (12, 8), (16, 36), (20, 8)):
            x = torch.randn(2, h, w, 3)
            with torch.no_grad():
                torch.testing.assert_close(compiled(x), model(x))
    assert backend.fallbacks == [] and backend.num_calls == 1 and backend.num_engines == 1
    assert backend.pytorch_nodes == []
    torch._dynamo.reset()

