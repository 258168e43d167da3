"""Shared pieces of the benchmarks: machine/version record, repeated timing, markdown tables, JSON output."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import time
from datetime import datetime, timezone
from typing import Any, Callable, Dict, List, Tuple

from trt_dyn.tables import markdown_table  # noqa: F401  (re-exported for the benchmark modules)


def machine_record() -> Dict[str, Any]:
    import torch

    import trt_dyn

    try:
        import torchvision

        torchvision_version = torchvision.__version__
    except ImportError:  # pragma: no cover - torchvision is part of the tested stack
        torchvision_version = None
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        # 1, 5, 15-minute load averages: on a shared machine timings are inflated by the other jobs
        "load_avg": list(os.getloadavg()),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision_version,
        "torch_tensorrt": trt_dyn.torch_tensorrt.__version__,
        "tensorrt": trt_dyn.trt.__version__,
        "flavor": trt_dyn.FLAVOR,
        "cuda_device": torch.cuda.is_available() and not trt_dyn.no_gpu.is_active(),
    }


def timed(function: Callable[[], Any], repeats: int) -> Tuple[float, List[float], Any]:
    """Median seconds over ``repeats`` calls, all samples, and the last result."""
    samples = []
    result = None
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        result = function()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples), samples, result


def write_json(path: str, payload: Dict[str, Any]) -> None:
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w") as handle:
        json.dump(payload, handle, indent=2, default=str)


def run_result_worker(command: List[str], label: str, pythonpath: List[str], cwd: str) -> Any:
    """Run a benchmark worker process and return the JSON it prints on its last ``RESULT `` line."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([*pythonpath, os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=cwd)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        tail = "\n".join(done.stderr.strip().splitlines()[-15:])
        raise RuntimeError(f"{label} failed (exit {done.returncode}):\n{tail}")
    return json.loads(lines[-1][len("RESULT "):])


def publish(table: str, json_path: str, payload: Dict[str, Any]) -> None:
    """Print a section's table and write its JSON, stamped with the machine and versions."""
    print(table)
    write_json(json_path, {"machine": machine_record(), **payload})
    print(f"\nwrote {json_path}")
