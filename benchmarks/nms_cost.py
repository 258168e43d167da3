"""Cost of exact NMS inside the engine: layers, build time, executor time and loop steps vs box count N.

``torchvision.ops.nms`` (IoU 0.5) is exported with a dynamic N and built once per formulation of
:mod:`trt_dyn.converters.nms` (``fixed_point``: iterate ``keep <- not (keep @ S > 0)`` until nothing
changes; ``sequential``: one loop iteration per box in visiting order). The network is the same for
every N, so layers and build time are per formulation; per N the table gives the loop iterations
each formulation runs (fixed point: counted by replaying the same iteration in NumPy; sequential: N),
the CPU executor's time (checked equal to torchvision) and torchvision's CPU kernel time.

Boxes are detector-like: jittered copies around ``N / 20`` objects plus uniform clutter.

    python benchmarks/nms_cost.py [--tiny] [--json PATH]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any, Dict, List, Optional, Sequence

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torchvision  # noqa: E402

import trt_dyn  # noqa: E402,F401  (no-GPU shim before torch_tensorrt)
from _common import machine_record, markdown_table, timed, write_json  # noqa: E402
from trt_dyn.converters.nms import FORMULATIONS, count_nms_layers, set_formulation  # noqa: E402
from trt_dyn.testing import compile_cpu  # noqa: E402
from trt_dyn.testing.harness import export_dynamic  # noqa: E402

DEFAULT_JSON = os.path.join(HERE, "results", "nms_cost.json")
IOU = 0.5
SIZES = (100, 500, 1000, 2000, 5000)
TINY_SIZES = (16, 64, 256)


class Nms(torch.nn.Module):
    def forward(self, boxes, scores):
        return torchvision.ops.nms(boxes, scores, IOU)


def detector_like(n: int, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    objects = max(1, n // 20)
    centre = torch.rand(objects, 2, generator=generator) * 800
    size = 20 + torch.rand(objects, 2, generator=generator) * 200
    pick = torch.randint(0, objects, (n,), generator=generator)
    jitter = 1 + 0.3 * (torch.rand(n, 2, generator=generator) - 0.5)
    middle = centre[pick] + size[pick] * 0.2 * torch.randn(n, 2, generator=generator)
    extent = size[pick] * jitter
    clutter = torch.rand(n, generator=generator) < 0.2
    middle = torch.where(clutter[:, None], torch.rand(n, 2, generator=generator) * 800, middle)
    boxes = torch.cat([middle - extent / 2, middle + extent / 2], dim=1)
    return boxes, torch.rand(n, generator=generator)


def fixed_point_steps(boxes: torch.Tensor, scores: torch.Tensor) -> int:
    """Loop iterations of the fixed-point formulation (the last one confirms nothing changed)."""
    iou = torchvision.ops.box_iou(boxes, boxes).numpy()
    s = scores.numpy()
    index = np.arange(len(s))
    first = (s[:, None] > s[None, :]) | ((s[:, None] == s[None, :]) & (index[:, None] < index[None, :]))
    suppresses = ((iou > IOU) & first).astype(np.float32)
    keep = np.ones(len(s), dtype=np.float32)
    steps = 0
    while True:
        steps += 1
        following = (keep @ suppresses < 0.5).astype(np.float32)
        if np.array_equal(following, keep):
            return steps
        keep = following


def run(tiny: bool = False, repeats: int = 1) -> Dict[str, Any]:
    sizes = TINY_SIZES if tiny else SIZES
    example = detector_like(12)
    program = export_dynamic(Nms(), example, {"boxes": {0: (1, max(sizes))}, "scores": {0: (1, max(sizes))}})
    builds: Dict[str, Any] = {}
    per_size: List[Dict[str, Any]] = []
    compiled_by: Dict[str, Any] = {}
    for formulation in sorted(FORMULATIONS):
        previous = set_formulation(formulation)
        try:
            start = time.perf_counter()
            compiled = compile_cpu(program, require_full_compilation=True, min_block_size=1)
            seconds = time.perf_counter() - start
        finally:
            set_formulation(previous)
        (engine,) = compiled.engines
        builds[formulation] = {"compile_s": seconds, "engine_layers": engine.num_layers,
                               "nms_layers": count_nms_layers(engine.network)}
        compiled_by[formulation] = compiled
    for n in sizes:
        boxes, scores = detector_like(n, seed=n)
        eager_s, _, expected = timed(lambda: torchvision.ops.nms(boxes, scores, IOU), max(3, repeats))
        row: Dict[str, Any] = {"n": n, "kept": int(expected.numel()), "torchvision_s": eager_s,
                               "fixed_point_steps": fixed_point_steps(boxes, scores), "sequential_steps": n}
        for formulation, compiled in compiled_by.items():
            median, _, got = timed(lambda: compiled(boxes, scores), repeats)
            row[f"{formulation}_executor_s"] = median
            row[f"{formulation}_exact"] = bool(torch.equal(got, expected))
            if not row[f"{formulation}_exact"]:
                raise AssertionError(f"nms_cost: {formulation} kept indices differ from torchvision at N={n}")
        per_size.append(row)
    return {"iou_threshold": IOU, "sizes": list(sizes), "builds": builds, "per_size": per_size}


def table(result: Dict[str, Any]) -> str:
    builds = markdown_table(
        ["formulation", "layers (engine)", "layers (nms)", "compile s (export excluded)"],
        [[name, b["engine_layers"], b["nms_layers"], b["compile_s"]] for name, b in result["builds"].items()],
    )
    rows = [[r["n"], r["kept"], r["fixed_point_steps"], r["fixed_point_executor_s"], r["sequential_steps"],
             r["sequential_executor_s"], r["torchvision_s"],
             "yes" if r["fixed_point_exact"] and r["sequential_exact"] else "NO"] for r in result["per_size"]]
    per_size = markdown_table(
        ["N", "kept", "fixed-point steps", "fixed-point executor s", "sequential steps", "sequential executor s",
         "torchvision CPU s", "both equal torchvision"], rows)
    return (builds + "\n\n" + per_size + "\n\nOne engine per formulation covers every N (dynamic N up to "
            f"{max(result['sizes'])}). Each step is one [1, N] x [N, N] product (fixed point) or two gathers and "
            "two [1, N] elementwise ops (sequential); the IoU / order matrices are N x N either way. Executor times "
            "are the CPU reference, not GPU latency.")


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", help=f"N in {TINY_SIZES} instead of {SIZES}")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--json", default=DEFAULT_JSON)
    args = parser.parse_args(argv)
    result = run(args.tiny, args.repeats)
    print(table(result))
    write_json(args.json, {"machine": machine_record(), "tiny": args.tiny, **result})
    return 0


if __name__ == "__main__":
    sys.exit(main())
