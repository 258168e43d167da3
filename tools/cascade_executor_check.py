"""Build the Cascade Mask R-CNN replica into ONE TensorRT engine and compare the CPU executor with eager.

Not a test (about 100 s to build and 35 s per image on 2 cores); run it by hand after touching
converters or the lowering::

    python tools/cascade_executor_check.py [--sizes 128x128 176x240]

Prints the engine's layer count and, per image size and output, the max absolute difference.
Exits non-zero if any output differs in shape or dtype, or by more than --atol.
"""

from __future__ import annotations

import argparse
import sys
import time

import torch

import trt_dyn  # noqa: F401  (shim, ops, converters, lowering)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["128x128", "176x240"])
    parser.add_argument("--atol", type=float, default=1e-3)
    args = parser.parse_args()

    import torchvision  # noqa: F401  (its ops appear in the program)

    from trt_dyn.build import build_engine
    from trt_dyn.models.cascade_mask_rcnn import build_cascade_mask_rcnn
    from trt_dyn.models.export import export_cascade
    from trt_dyn.testing.executor import execute_network

    torch.manual_seed(0)
    model = build_cascade_mask_rcnn(embed_dim=32, depth=2).eval()
    program = export_cascade(model, min_hw=128, max_hw=256, step=16)
    start = time.perf_counter()
    engine = build_engine(program)
    print(f"engine: {engine.num_layers} layers, built in {time.perf_counter() - start:.1f} s")
    ok = True
    for text in args.sizes:
        height, width = (int(v) for v in text.split("x"))
        image = torch.rand(1, 3, height, width) * 255
        got = list(execute_network(engine.network, {engine.input_names[0]: image}).values())
        with torch.no_grad():
            expected = model(image)
        if isinstance(expected, dict):
            expected = list(expected.values())
        elif isinstance(expected, (list, tuple)):
            expected = list(expected)
        else:
            expected = [expected]
        for index, (actual, want) in enumerate(zip(got, expected)):
            same_kind = actual.shape == want.shape and actual.dtype == want.dtype
            diff = (actual.double() - want.double()).abs().max().item() if same_kind and want.numel() else 0.0
            good = same_kind and diff <= args.atol
            ok &= good
            print(f"{text} output {index}: shape {tuple(actual.shape)} dtype {actual.dtype} max|diff| {diff:.3g}"
                  f"{'' if good else '  <-- MISMATCH'}")
        if len(got) != len(expected):
            ok = False
            print(f"{text}: {len(got)} outputs, eager has {len(expected)}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
