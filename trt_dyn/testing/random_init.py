"""Random initialisation that makes eager comparisons meaningful."""

from __future__ import annotations

import torch


def randomize_batch_norm(model: torch.nn.Module) -> torch.nn.Module:
    """Give every BatchNorm random statistics and affine parameters (in place; returns ``model``).

    Fresh BatchNorm layers are the identity in eval mode, so a comparison with eager would not exercise how a
    converter folds them.
    """
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                module.running_mean.uniform_(-0.1, 0.1)
                module.running_var.uniform_(0.8, 1.2)
                module.weight.uniform_(0.8, 1.2)
                module.bias.uniform_(-0.1, 0.1)
    return model
