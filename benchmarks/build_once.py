"""Build once for all shapes vs rebuild per shape.

For K image sizes, the total time of K static-shape builds (export + convert + build at each size) is compared with
one dynamic build covering all of them. The ratio is taken in one run so it survives a noisy machine. The small
model builds through :func:`trt_dyn.build.build_engine`; the Cascade Mask R-CNN replica compiles through
:func:`trt_dyn.testing.compile_cpu` (``require_full_compilation=True``, one engine), exported statically per size
and once with :func:`trt_dyn.models.export_cascade` for the dynamic engine.

    python benchmarks/build_once.py [--model small|cascade] [--count K] [--repeats R]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch
from torch.export import Dim

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from _common import markdown_table, timed  # noqa: E402
from trt_dyn.build import build_engine  # noqa: E402


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


def _small_sizes(count: int, lo: int = 64, hi: int = 256, step: int = 32) -> List[int]:
    return [lo + step * ((i * ((hi - lo) // step)) // max(1, count - 1)) for i in range(count)]


def _static_build(model: torch.nn.Module, size: int) -> None:
    example = torch.randn(1, 3, size, size)
    build_engine(torch.export.export(model, (example,)))


def _dynamic_build(model: torch.nn.Module, lo: int, hi: int, example_size: int) -> None:
    example = torch.randn(1, 3, example_size, example_size)
    # The pyramid needs sizes divisible by its total stride (4).
    dims = {2: 4 * Dim("h4", min=lo // 4, max=hi // 4), 3: 4 * Dim("w4", min=lo // 4, max=hi // 4)}
    build_engine(torch.export.export(model, (example,), dynamic_shapes=(dims,)))


def _result(model_name: str, sizes: Sequence[int], repeats: int, static: Tuple[float, List[float]],
            dynamic: Tuple[float, List[float]], **extra: Any) -> Dict[str, Any]:
    return {
        "model": model_name,
        "sizes": list(sizes),
        "repeats": repeats,
        "static_total_s": static[0],
        "static_samples_s": static[1],
        "dynamic_s": dynamic[0],
        "dynamic_samples_s": dynamic[1],
        "ratio_static_over_dynamic": static[0] / dynamic[0],
        # issue 16's goal (<= 1.25): one dynamic build against one static build (the mean over the K sizes)
        "ratio_dynamic_over_one_static": dynamic[0] / (static[0] / len(sizes)),
        "loadavg": list(os.getloadavg()),
        **extra,
    }


def run_small(count: int = 5, repeats: int = 3, lo: int = 64, hi: int = 256) -> Dict[str, Any]:
    """K static builds vs one dynamic build of :class:`ConvPyramid` (export + convert + build each)."""
    torch.manual_seed(0)
    model = ConvPyramid().eval()
    sizes = _small_sizes(count, lo, hi)
    static_seconds, static_samples, _ = timed(lambda: [_static_build(model, size) for size in sizes], repeats)
    dynamic_seconds, dynamic_samples, _ = timed(
        lambda: _dynamic_build(model, lo, hi, sizes[len(sizes) // 2]), repeats
    )
    return _result("small (conv pyramid)", sizes, repeats, (static_seconds, static_samples),
                   (dynamic_seconds, dynamic_samples))


def compile_cascade_static(model: torch.nn.Module, size: int) -> Any:
    """Export the replica at one image size and compile it to one engine (TensorRT builds on the CPU)."""
    from trt_dyn.testing import compile_cpu

    example = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(size)) * 255
    with torch.no_grad():
        program = torch.export.export(model, (example,))
    return compile_cpu(program, require_full_compilation=True, min_block_size=1)


def compile_cascade_dynamic(model: torch.nn.Module, lo: int, hi: int, step: int) -> Tuple[Any, Any, float]:
    """(exported program, compiled module, export seconds) for the replica with H, W dynamic in [lo, hi]."""
    from trt_dyn.models import export_cascade
    from trt_dyn.testing import compile_cpu

    start = time.perf_counter()
    program = export_cascade(model, lo, hi, step)
    export_seconds = time.perf_counter() - start
    return program, compile_cpu(program, require_full_compilation=True, min_block_size=1), export_seconds


def run_cascade(count: int = 5, repeats: int = 3, dynamic: Optional[Callable[[], Tuple[float, Any]]] = None,
                budget_s: Optional[float] = None) -> Dict[str, Any]:
    """K static compiles of the Cascade replica vs one dynamic compile (export + compile each, 1 engine).

    ``dynamic``: a function doing the dynamic export + compile once and returning (seconds, anything);
    the default exports and compiles here. Each round does the K static compiles and the dynamic one
    (alternating which side goes first), so a load change on a shared machine hits both sides.
    ``budget_s``: start no further round once another would end past this many seconds; the rounds
    actually done are recorded as ``repeats`` (``repeats_requested`` is what was asked).
    """
    from trt_dyn.models import cascade_benchmark_model

    model, sizes, lo, hi, step = cascade_benchmark_model(count)
    if dynamic is None:
        def dynamic() -> Tuple[float, Any]:
            start = time.perf_counter()
            compile_cascade_dynamic(model, lo, hi, step)
            return time.perf_counter() - start, None

    static_samples: List[float] = []
    dynamic_samples: List[float] = []
    per_size: Dict[int, List[float]] = {size: [] for size in sizes}
    began = time.perf_counter()
    for round_index in range(max(1, repeats)):
        if round_index and budget_s is not None:
            elapsed = time.perf_counter() - began
            if elapsed + elapsed / round_index > budget_s:
                break
        if round_index % 2:
            dynamic_samples.append(dynamic()[0])
        total = 0.0
        for size in sizes:
            start = time.perf_counter()
            compile_cascade_static(model, size)
            per_size[size].append(time.perf_counter() - start)
            total += per_size[size][-1]
        static_samples.append(total)
        if not round_index % 2:
            dynamic_samples.append(dynamic()[0])
    return _result(
        "Cascade Mask R-CNN replica", sizes, len(static_samples),
        (statistics.median(static_samples), static_samples), (statistics.median(dynamic_samples), dynamic_samples),
        static_per_size_s={str(size): statistics.median(samples) for size, samples in per_size.items()},
        dynamic_range=[lo, hi, step],
        repeats_requested=repeats,
        budget_s=budget_s,
    )


def run(model_name: str = "small", count: int = 5, repeats: int = 3) -> Dict[str, Any]:
    if model_name == "cascade":
        return run_cascade(count, repeats)
    return run_small(count, repeats)


def table(results: Any) -> str:
    results = [results] if isinstance(results, dict) else list(results)
    return markdown_table(
        ["model", "K image sizes", "K static builds, total (s)", "1 dynamic build (s)", "static / dynamic",
         "1 dynamic / 1 static", "repeats"],
        [[
            r["model"], ", ".join(map(str, r["sizes"])), r["static_total_s"], r["dynamic_s"],
            r["ratio_static_over_dynamic"], r.get("ratio_dynamic_over_one_static", float("nan")), r["repeats"],
        ] for r in results],
    ) + "\n\n1 dynamic / 1 static: one dynamic build over the mean of one static build (goal <= 1.25 on the Cascade replica)."


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="small", choices=["small", "cascade"])
    parser.add_argument("--count", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(table(run(args.model, args.count, args.repeats)))
