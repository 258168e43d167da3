"""The main demo: export a dynamic-shape model, compile it through torch_tensorrt with trt_dyn, build on CPU.

Run with ``./dev demo`` (or ``python -m trt_dyn.demo``). Writes the serialized engine and a JSON summary to ``out/``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import List, Sequence, Tuple

import torch
from torch.export import Dim

import trt_dyn
from trt_dyn.build import build_engine
from trt_dyn.tables import markdown_table


class SmallDetectorStem(torch.nn.Module):
    """A conv stem with a dynamic batch and dynamic image size (the foundation demo's model)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = torch.nn.Conv2d(3, 16, 3, stride=2, padding=1)
        self.conv2 = torch.nn.Conv2d(16, 32, 3, stride=2, padding=1)
        self.head = torch.nn.Linear(32, 10)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        features = torch.relu(self.conv2(torch.relu(self.conv1(images))))
        return self.head(features.mean(dim=(2, 3)))


def run_small_demo(out_dir: str) -> dict:
    torch.manual_seed(0)
    model = SmallDetectorStem().eval()
    example = torch.randn(2, 3, 64, 96)
    dims = {0: Dim("batch", min=1, max=8), 2: Dim("height", min=32, max=256), 3: Dim("width", min=32, max=256)}
    program = torch.export.export(model, (example,), dynamic_shapes=(dims,))
    start = time.perf_counter()
    built = build_engine(program)
    seconds = time.perf_counter() - start
    engine_path = os.path.join(out_dir, "demo.engine")
    built.save(engine_path)
    (lo, opt, hi), = built.profiles[0].values()
    return {
        "model": type(model).__name__,
        "graph_nodes": len(program.graph.nodes),
        "trt_engines": 1,
        "engine_bytes": len(built.serialized_engine),
        "trt_layers": built.num_layers,
        "build_seconds": round(seconds, 2),
        "profile": {"min": lo, "opt": opt, "max": hi},
        "engine_path": engine_path,
        "flavor": trt_dyn.FLAVOR,
    }


def main(argv: Sequence[str] = ()) -> dict:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="out", help="directory for the engine and the JSON summary")
    args = parser.parse_args(list(argv))
    os.makedirs(args.out, exist_ok=True)
    summary = run_small_demo(args.out)
    header = ["model", "graph nodes", "TRT engines", "engine bytes", "TRT layers", "build s", "profile min / opt / max"]
    profile = summary["profile"]
    row = [
        summary["model"], summary["graph_nodes"], summary["trt_engines"], summary["engine_bytes"],
        summary["trt_layers"], summary["build_seconds"], f"{profile['min']} / {profile['opt']} / {profile['max']}",
    ]
    print(markdown_table(header, [row]))
    with open(os.path.join(args.out, "demo_summary.json"), "w") as handle:
        json.dump(summary, handle, indent=2)
    return summary


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
