"""TensorRT layers per data-dependent fallback (a proxy for GPU cost), dense rewrite vs compaction.

Each pattern is exported with a dynamic row count N in [1, 64] and built into one engine
(``require_full_compilation=True``) twice: in ``dense`` mode (masked write-backs rewritten into
``where``) and in ``native`` mode (on TensorRT-RTX: the compaction converters of
``trt_dyn.converters.selection``; on full TensorRT: upstream's NonZero path). For every build it
records the engine's layer count, the layers per fallback (:func:`count_fallback_layers`) and the
build time. Prints a markdown table and writes JSON.

    python benchmarks/data_dependent_layers.py [--json PATH]
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any, Dict, List, Optional, Sequence

import torch
import torchvision

from _common import machine_record, markdown_table, write_json
import trt_dyn
from trt_dyn.build import build_engine
from trt_dyn.converters.selection import count_fallback_layers
from trt_dyn.lowering.data_dependent import data_dependent_mode
from trt_dyn.testing.harness import export_dynamic

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_JSON = os.path.join(HERE, "results", "data_dependent_layers.json")
ROWS = {0: (1, 64)}


class MaskIndex(torch.nn.Module):
    def forward(self, x, s):
        return x[s > 0]


class NonzeroGather(torch.nn.Module):
    def forward(self, x, s):
        return x[torch.nonzero(s > 0).squeeze(1)]


class MaskedWriteBack(torch.nn.Module):
    def forward(self, x, s):
        out = x.clone()
        mask = s > 0
        out[mask] = torch.sigmoid(x[mask]) * 2.0 - 1.0
        return out


class FpnPooler(torch.nn.Module):
    """detectron2 ROIPooler, 4 levels, 7x7 output, two images."""

    scales = (1 / 4, 1 / 8, 1 / 16, 1 / 32)

    def forward(self, p2, p3, p4, p5, boxes):
        sizes = torch.sqrt((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]))
        levels = torch.clamp(torch.floor(4 + torch.log2(sizes / 224 + 1e-8)), 2, 5).to(torch.int64) - 2
        batch = torch.remainder(torch.arange(boxes.shape[0]), 2).to(boxes.dtype)[:, None]
        rois = torch.cat([batch, boxes], dim=1)
        out = torch.zeros((boxes.shape[0], p2.shape[1], 7, 7), dtype=p2.dtype)
        for level, (features, scale) in enumerate(zip((p2, p3, p4, p5), self.scales)):
            inds = torch.nonzero(levels == level).squeeze(1)
            out.index_put_((inds,), torchvision.ops.roi_align(features, rois[inds], (7, 7), scale, 2, True))
        return out


class TopK(torch.nn.Module):
    def forward(self, x):
        return torch.topk(x, k=min(10, x.shape[0]), dim=0)


def patterns() -> Dict[str, Any]:
    features = tuple(torch.randn(2, 8, 64 // 2 ** i, 64 // 2 ** i) for i in range(4))
    return {
        "x[mask]": (MaskIndex(), (torch.randn(8, 16), torch.randn(8)), {"x": ROWS, "s": ROWS}),
        "x[nonzero(m)]": (NonzeroGather(), (torch.randn(8, 16), torch.randn(8)), {"x": ROWS, "s": ROWS}),
        "out[m] = f(x[m])": (MaskedWriteBack(), (torch.randn(8, 16), torch.randn(8)), {"x": ROWS, "s": ROWS}),
        "FPN ROI pooler (4 levels)": (FpnPooler(), features + (torch.rand(8, 4) * 100 + torch.tensor([0, 0, 120, 120]),),
                                      {"boxes": ROWS}),
        "topk(x, min(10, N))": (TopK(), (torch.randn(12, 4),), {"x": {0: (2, 64)}}),
    }


def measure(name: str, module: torch.nn.Module, args: tuple, dynamic: Dict[str, Any], mode: str) -> Dict[str, Any]:
    row: Dict[str, Any] = {"pattern": name, "mode": mode}
    with data_dependent_mode(mode):
        try:
            program = export_dynamic(module, args, dynamic)
            start = time.perf_counter()
            engine = build_engine(program)
            row["build_seconds"] = round(time.perf_counter() - start, 2)
        except Exception as error:  # one failing pattern must not hide the others
            row["error"] = f"{type(error).__name__}: {str(error).splitlines()[0][:200]}"
            return row
    row["layers"] = engine.num_layers
    row["fallback_layers"] = {key: value for key, value in count_fallback_layers(engine.network).items() if value}
    return row


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", default=DEFAULT_JSON)
    args = parser.parse_args(argv)
    rows: List[Dict[str, Any]] = []
    for name, (module, example, dynamic) in patterns().items():
        for mode in ("dense", "native"):
            rows.append(measure(name, module, example, dynamic, mode))
    print(f"TensorRT flavour: {trt_dyn.FLAVOR}; one engine per build (require_full_compilation=True)\n")
    print(markdown_table(
        ["pattern", "mode", "engine layers", "fallback layers", "build s"],
        [[r["pattern"], r["mode"], r.get("layers", "-"),
          ", ".join(f"{k} {v}" for k, v in r.get("fallback_layers", {}).items()) or r.get("error", "-"),
          r.get("build_seconds", "-")] for r in rows],
    ))
    write_json(args.json, {"machine": machine_record(), "rows": rows})
    print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
