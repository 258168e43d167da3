"""torch_tensorrt's fuse_pad_into_convolution pass meets a pad with symbolic amounts (timm dynamic_img_pad)."""

import torch
import torch.nn.functional as F

from trt_dyn.testing.harness import run_converter_test


class PadToPatchMultipleThenConv(torch.nn.Module):
    """Pad H, W up to a multiple of the patch (amounts depend on the size), then a patch conv; plus a static pad
    into a conv, which upstream still fuses."""

    def __init__(self):
        super().__init__()
        self.patch = torch.nn.Conv2d(3, 4, 4, stride=4)
        self.smooth = torch.nn.Conv2d(4, 4, 3)

    def forward(self, x):
        h, w = x.shape[-2:]
        x = F.pad(x, (0, (4 - w % 4) % 4, 0, (4 - h % 4) % 4))
        return self.smooth(F.pad(self.patch(x), (1, 1, 1, 1)))


def test_symbolic_pad_before_conv_compiles_and_matches():
    """Failed before with TypeError "'<' not supported between instances of 'Node' and 'int'" raised by the
    upstream pass, before any trt_dyn pass ran."""
    result = run_converter_test(PadToPatchMultipleThenConv(), (torch.randn(1, 3, 18, 23),),
                                {"x": {2: (8, 40), 3: (8, 40)}})
    assert result.layer_types["CONVOLUTION"] == 2
