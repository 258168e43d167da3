"""How fast the CPU reference executor runs a ResNet-50-sized TensorRT network.

torchvision's resnet50 (random init, eval), batch 1, 3x224x224, is converted and built once with
:func:`trt_dyn.build.build_engine`; :func:`trt_dyn.testing.executor.execute_network` then runs the
network. Reported: build time, the first execution (includes reading the weights back from the
network), the median of the following runs, and PyTorch eager on the same input for scale; the
executor's output is checked against eager (max abs error). Goal: steady run < 10 s.

    python benchmarks/executor_speed.py                 # resnet50, 3 timed runs
    python benchmarks/executor_speed.py --tiny          # 1-block-per-stage ResNet at 32x32 (used by the test)
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any, Dict, Optional, Sequence

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from _common import markdown_table, publish, timed  # noqa: E402
from trt_dyn.testing.random_init import randomize_batch_norm  # noqa: E402

DEFAULT_JSON = os.path.join(HERE, "results", "executor_speed.json")
GOAL_SECONDS = 10.0


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
        "goal_s": GOAL_SECONDS,
        "meets_goal": median_seconds < GOAL_SECONDS,
    }


def table(result: Dict[str, Any]) -> str:
    return markdown_table(
        ["model", "input", "layers", "build (s)", "first run (s)", f"median of {result['repeats']} (s)",
         "eager (s)", "max abs err", f"< {GOAL_SECONDS:g} s"],
        [[
            result["model"], "x".join(map(str, result["input"])), result["layers"], result["build_s"],
            result["first_run_s"], result["median_run_s"], result["eager_median_s"],
            result["max_abs_error_vs_eager"], "yes" if result["meets_goal"] else "NO",
        ]],
    )


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", help="a 1-block-per-stage ResNet at 32x32 instead of resnet50 at 224x224")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs after the first (median reported)")
    parser.add_argument("--json", default=DEFAULT_JSON, help="where to write the results")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be >= 1")
    result = run(args.tiny, args.repeats)
    publish(table(result), args.json, {"tiny": args.tiny, "result": result})
    return 0


if __name__ == "__main__":
    sys.exit(main())
