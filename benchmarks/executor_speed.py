"""How fast the CPU reference executor runs a ResNet-50-sized TensorRT network.

torchvision's resnet50 (random init, eval), batch 1, 3x224x224, is converted and built once with
:func:`trt_dyn.build.build_engine`; :func:`trt_dyn.testing.executor.execute_network` then runs the
network. Reported: build time, the first execution (includes reading the weights back from the
network), the median of the following runs, and PyTorch eager on the same input for scale; the
executor's output is checked against eager (max abs error). Goal: steady run < 10 s.

    python benchmarks/executor_speed.py                 # resnet50, 3 timed runs
    python benchmarks/executor_speed.py --tiny          # 1-block-per-stage ResNet at 32x32 (used by the test)
    python benchmarks/executor_speed.py --cascade-memory  # only: peak memory of the Cascade replica at 768x768

Peak memory: the process's resident-set high-water mark (``VmHWM``) is reset through
``/proc/self/clear_refs`` before each measured call, and the peak is ``VmHWM`` after the call minus
``VmRSS`` before it, i.e. the most memory the call held at any one time on top of what already
existed (model weights, the executor's weight cache after a warm-up run). It sees every allocation,
torch's CPU tensors included (tracemalloc sees only Python's allocator, not tensor storage).
Goal for the Cascade replica at 768x768: executor peak <= 2x eager peak.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any, Callable, Dict, Optional, Sequence, Tuple

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from _common import markdown_table, publish, timed  # noqa: E402
from trt_dyn.testing.random_init import randomize_batch_norm  # noqa: E402

DEFAULT_JSON = os.path.join(HERE, "results", "executor_speed.json")
CASCADE_MEMORY_JSON = os.path.join(HERE, "results", "executor_memory_cascade.json")
GOAL_SECONDS = 10.0
GOAL_PEAK_RATIO = 2.0
MIB = 1024 * 1024


def _proc_status_kib(field: str) -> int:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def peak_memory_mib(function: Callable[[], Any]) -> Tuple[float, Any]:
    """(peak resident memory added while ``function`` ran, in MiB; its result)."""
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")  # resets VmHWM to the current VmRSS
    before = _proc_status_kib("VmRSS")
    result = function()
    return (_proc_status_kib("VmHWM") - before) * 1024 / MIB, result


def _model(tiny: bool) -> torch.nn.Module:
    import torchvision

    torch.manual_seed(0)
    if tiny:
        # one basic block per stage: the same layer kinds as resnet50, a fraction of the count
        from torchvision.models.resnet import BasicBlock, ResNet

        model = ResNet(BasicBlock, [1, 1, 1, 1], num_classes=10)
    else:
        model = torchvision.models.resnet50(weights=None)
    return randomize_batch_norm(model).eval()


def run(tiny: bool = False, repeats: int = 3) -> Dict[str, Any]:
    import trt_dyn  # noqa: F401  (shim before torch_tensorrt)
    from trt_dyn.build import build_engine
    from trt_dyn.testing.executor import execute_network

    model = _model(tiny)
    size = 32 if tiny else 224
    image = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(1))
    program = torch.export.export(model, (image,))
    build_seconds, _, engine = timed(lambda: build_engine(program), 1)
    (input_name,) = engine.input_names
    (output_name,) = engine.output_names

    def execute() -> torch.Tensor:
        return execute_network(engine.network, {input_name: image})[output_name]

    first_seconds, _, _ = timed(execute, 1)
    median_seconds, samples, output = timed(execute, repeats)
    with torch.no_grad():
        eager_seconds, _, expected = timed(lambda: model(image), repeats)
        eager_peak, _ = peak_memory_mib(lambda: model(image))
    executor_peak, _ = peak_memory_mib(execute)
    return {
        "model": "resnet-tiny" if tiny else "resnet50",
        "input": [1, 3, size, size],
        "layers": engine.num_layers,
        "repeats": repeats,
        "build_s": build_seconds,
        "first_run_s": first_seconds,
        "median_run_s": median_seconds,
        "samples_s": samples,
        "eager_median_s": eager_seconds,
        "max_abs_error_vs_eager": float((output - expected).abs().max()),
        "eager_output_abs_max": float(expected.abs().max()),
        "executor_peak_mib": executor_peak,
        "eager_peak_mib": eager_peak,
        "goal_s": GOAL_SECONDS,
        "meets_goal": median_seconds < GOAL_SECONDS,
    }


def table(result: Dict[str, Any]) -> str:
    return markdown_table(
        ["model", "input", "layers", "build (s)", "first run (s)", f"median of {result['repeats']} (s)",
         "eager (s)", "max abs err", f"< {GOAL_SECONDS:g} s", "peak MiB (executor / eager)"],
        [[
            result["model"], "x".join(map(str, result["input"])), result["layers"], result["build_s"],
            result["first_run_s"], result["median_run_s"], result["eager_median_s"],
            result["max_abs_error_vs_eager"], "yes" if result["meets_goal"] else "NO",
            f"{result['executor_peak_mib']:.0f} / {result['eager_peak_mib']:.0f}",
        ]],
    )


def run_cascade_memory(size: int = 768) -> Dict[str, Any]:
    """Peak memory of one Cascade replica forward at ``size`` x ``size``: executor vs eager."""
    import trt_dyn  # noqa: F401  (shim before torch_tensorrt)
    from trt_dyn.models import build_cascade_mask_rcnn, export_cascade
    from trt_dyn.testing import compile_cpu

    model = build_cascade_mask_rcnn(seed=0)
    program = export_cascade(model, 256, 768, 16)
    spec = {"min": (1, 3, 256, 256), "opt": (1, 3, 512, 512), "max": (1, 3, 768, 768)}
    compiled = compile_cpu(program, [spec], require_full_compilation=True, min_block_size=1)
    image = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(3)) * 255
    with torch.no_grad():
        model(image)  # warm-up: lazy initialisations are not the forward's memory
        eager_peak, expected = peak_memory_mib(lambda: model(image))
    compiled(image)  # warm-up: reads the weights into the executor's cache
    executor_peak, actual = peak_memory_mib(lambda: compiled(image))
    errors = [float((a.double() - e.double()).abs().max()) if e.numel() else 0.0
              for a, e in zip(actual, expected) if e.dtype.is_floating_point]
    ratio = executor_peak / eager_peak
    return {
        "model": "cascade-mask-rcnn replica", "input": [1, 3, size, size],
        "layers": compiled.engines[0].num_layers,
        "executor_peak_mib": executor_peak, "eager_peak_mib": eager_peak, "ratio": ratio,
        "max_abs_error_vs_eager": max(errors, default=0.0),
        "goal_ratio": GOAL_PEAK_RATIO, "meets_goal": ratio <= GOAL_PEAK_RATIO,
    }


def cascade_memory_table(result: Dict[str, Any]) -> str:
    return markdown_table(
        ["model", "input", "layers", "executor peak (MiB)", "eager peak (MiB)", "ratio",
         f"<= {GOAL_PEAK_RATIO:g}x", "max abs err"],
        [[result["model"], "x".join(map(str, result["input"])), result["layers"], result["executor_peak_mib"],
          result["eager_peak_mib"], result["ratio"], "yes" if result["meets_goal"] else "NO",
          result["max_abs_error_vs_eager"]]],
    )


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", help="a 1-block-per-stage ResNet at 32x32 instead of resnet50 at 224x224")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs after the first (median reported)")
    parser.add_argument("--cascade-memory", action="store_true",
                        help="only measure the peak memory of the Cascade replica at 768x768 (executor vs eager)")
    parser.add_argument("--json", default=None, help="where to write the results")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be >= 1")
    if args.cascade_memory:
        result = run_cascade_memory()
        publish(cascade_memory_table(result), args.json or CASCADE_MEMORY_JSON, {"result": result})
        return 0
    args.json = args.json or DEFAULT_JSON
    result = run(args.tiny, args.repeats)
    publish(table(result), args.json, {"tiny": args.tiny, "result": result})
    return 0


if __name__ == "__main__":
    sys.exit(main())
