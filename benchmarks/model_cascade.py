"""Cost of the ViTDet Cascade Mask R-CNN replica on the CPU: eager forward per image size, dynamic export,
and the ``torch.export.save``/``load`` round trip of the exported program.

Goals (task brief): export < 30 s, eager forward at 768x768 < 3 s, on 2 CPU cores.

    python benchmarks/model_cascade.py                  # default replica, 256..768
    python benchmarks/model_cascade.py --repeats 1 --no-save-load
    python benchmarks/model_cascade.py --threads 1      # on a shared machine: 2 OpenMP threads competing
                                                        # with other processes can be 10x slower
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time
from typing import Any, Dict

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from _common import machine_record, markdown_table, timed, write_json  # noqa: E402

DEFAULT_JSON = os.path.join(HERE, "results", "model_cascade.json")
GOALS = {"export_s": 30.0, "eager_768_s": 3.0}


def run(repeats: int = 3, save_load: bool = True, threads: int = 0) -> Dict[str, Any]:
    import torchvision  # noqa: F401  (roi_align must be registered before a program is loaded)

    import trt_dyn  # noqa: F401  (shim before torch_tensorrt)
    from trt_dyn.models import build_cascade_mask_rcnn, export_cascade

    if threads > 0:
        torch.set_num_threads(threads)
    model = build_cascade_mask_rcnn(seed=0)
    eager = {}
    for size in (256, 512, 768):
        images = torch.rand(1, 3, size, size) * 255
        with torch.no_grad():
            model(images)  # warm-up
            eager[size], _, _ = timed(lambda: model(images), repeats)

    start = time.perf_counter()
    exported = export_cascade(model, min_hw=256, max_hw=768, step=16)
    export_s = time.perf_counter() - start

    result: Dict[str, Any] = {
        "machine": machine_record(),
        "parameters": sum(p.numel() for p in model.parameters()),
        "eager_s": {str(k): v for k, v in eager.items()},
        "export_s": export_s,
        "graph_nodes": len(exported.graph.nodes),
        "torch_threads": torch.get_num_threads(),
        "goals": GOALS,
    }
    if save_load:
        buffer = io.BytesIO()
        start = time.perf_counter()
        torch.export.save(exported, buffer)
        result["save_s"] = time.perf_counter() - start
        buffer.seek(0)
        start = time.perf_counter()
        torch.export.load(buffer)
        result["load_s"] = time.perf_counter() - start
    result["meets_goals"] = export_s < GOALS["export_s"] and eager[768] < GOALS["eager_768_s"]
    return result


def table(result: Dict[str, Any]) -> str:
    rows = [[f"eager forward {size}x{size}", seconds, ""] for size, seconds in result["eager_s"].items()]
    rows[-1][2] = f"< {GOALS['eager_768_s']}"
    rows.append(["export 256..768 (step 16)", result["export_s"], f"< {GOALS['export_s']}"])
    for key, label in (("save_s", "torch.export.save"), ("load_s", "torch.export.load")):
        if key in result:
            rows.append([label, result[key], ""])
    return markdown_table(["step", "seconds", "goal"], rows)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-save-load", action="store_true")
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch's default)")
    parser.add_argument("--json", default=DEFAULT_JSON)
    args = parser.parse_args()
    outcome = run(args.repeats, not args.no_save_load, args.threads)
    print(table(outcome))
    print(f"parameters: {outcome['parameters']}, exported graph nodes: {outcome['graph_nodes']}, "
          f"meets goals: {outcome['meets_goals']}")
    write_json(args.json, outcome)
