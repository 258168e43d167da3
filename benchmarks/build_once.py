"""Build once for all shapes vs rebuild per shape.

For K image sizes, the total time of K static-shape builds (export + convert + build at each size) is compared with
one dynamic build covering all of them. The ratio is taken in one run so it survives a noisy machine.
"""

from __future__ import annotations

import argparse
import time
from typing import Any, Callable, Dict, List, Sequence, Tuple

import torch
from torch.export import Dim

from _common import markdown_table, timed
from trt_dyn.build import build_engine


class ConvPyramid(torch.nn.Module):
    """A small dynamic-image model (backbone + FPN-style upsample-add) for the tiny configuration."""

    def __init__(self) -> None:
        super().__init__()
        self.c1 = torch.nn.Conv2d(3, 16, 3, stride=2, padding=1)
        self.c2 = torch.nn.Conv2d(16, 32, 3, stride=2, padding=1)
        self.lateral = torch.nn.Conv2d(16, 32, 1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        f1 = torch.relu(self.c1(images))
        f2 = torch.relu(self.c2(f1))
        return self.lateral(f1) + torch.nn.functional.interpolate(f2, scale_factor=2.0, mode="nearest")


def _model_and_sizes(name: str, count: int) -> Tuple[torch.nn.Module, List[int], int, int, int]:
    if name == "cascade":
        from trt_dyn.models import cascade_benchmark_model

        return cascade_benchmark_model(count)
    lo, hi, step = 64, 256, 32
    sizes = [lo + step * ((i * ((hi - lo) // step)) // max(1, count - 1)) for i in range(count)]
    return ConvPyramid().eval(), sizes, lo, hi, step


def _static_build(model: torch.nn.Module, size: int) -> None:
    example = torch.randn(1, 3, size, size)
    build_engine(torch.export.export(model, (example,)))


def _dynamic_build(model: torch.nn.Module, lo: int, hi: int, example_size: int) -> None:
    example = torch.randn(1, 3, example_size, example_size)
    # The pyramid needs sizes divisible by its total stride (4).
    dims = {2: 4 * Dim("h4", min=lo // 4, max=hi // 4), 3: 4 * Dim("w4", min=lo // 4, max=hi // 4)}
    build_engine(torch.export.export(model, (example,), dynamic_shapes=(dims,)))


def run(model_name: str = "small", count: int = 5, repeats: int = 3) -> Dict[str, Any]:
    torch.manual_seed(0)
    model, sizes, lo, hi, _ = _model_and_sizes(model_name, count)
    static_seconds, static_samples, _ = timed(
        lambda: [_static_build(model, size) for size in sizes], repeats
    )
    dynamic_seconds, dynamic_samples, _ = timed(
        lambda: _dynamic_build(model, lo, hi, sizes[len(sizes) // 2]), repeats
    )
    return {
        "model": model_name,
        "sizes": sizes,
        "repeats": repeats,
        "static_total_s": static_seconds,
        "static_samples_s": static_samples,
        "dynamic_s": dynamic_seconds,
        "dynamic_samples_s": dynamic_samples,
        "ratio_static_over_dynamic": static_seconds / dynamic_seconds,
    }


def table(result: Dict[str, Any]) -> str:
    return markdown_table(
        ["model", "K sizes", f"{len(result['sizes'])} static builds (s)", "1 dynamic build (s)", "ratio"],
        [[
            result["model"], ", ".join(map(str, result["sizes"])), result["static_total_s"],
            result["dynamic_s"], result["ratio_static_over_dynamic"],
        ]],
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="small", choices=["small", "cascade"])
    parser.add_argument("--count", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(table(run(args.model, args.count, args.repeats)))
