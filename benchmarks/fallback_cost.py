"""TensorRT layers each trt_dyn fallback converter emits, and how the count grows with the dynamic range.

A proxy for GPU cost where no engine can run: each pattern is exported with its dynamic axes and built
into one engine (``require_full_compilation=True``) at several profiles (max number of boxes / rows N,
max feature side). Counted per build: the layers the converter under test emitted (by its layer-name
prefix: :func:`trt_dyn.converters.roi_align.count_roi_align_layers`,
:func:`trt_dyn.converters.selection.count_fallback_layers`) and the whole engine's layers.

Converters: ``torchvision::roi_align`` with a fixed sampling grid (sampling_ratio=2) and the adaptive
grid (sampling_ratio=0, an ILoop), the nonzero compaction fallback, the masked ``index_put``
(``out[m] = f(x[m])``, dense rewrite and native compaction), and ``topk`` with k = min(K, N).

    python benchmarks/fallback_cost.py [--tiny] [--json PATH]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any, Callable, Dict, Optional, Sequence, Tuple

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from _common import markdown_table, publish  # noqa: E402

DEFAULT_JSON = os.path.join(HERE, "results", "fallback_cost.json")
#: (max rows / boxes N, max feature side) per profile; the minimum of each range is fixed
FULL_PROFILES: Tuple[Tuple[int, int], ...] = ((16, 32), (256, 128), (4096, 512))
TINY_PROFILES: Tuple[Tuple[int, int], ...] = ((8, 16),)


class RoiAlignHead(torch.nn.Module):
    """roi_align of N boxes over a feature map of dynamic H x W (one image), 7x7 output."""

    def __init__(self, sampling_ratio: int, aligned: bool) -> None:
        super().__init__()
        self.sampling_ratio = sampling_ratio
        self.aligned = aligned

    def forward(self, features: torch.Tensor, rois: torch.Tensor) -> torch.Tensor:
        import torchvision

        return torchvision.ops.roi_align(features, rois, (7, 7), 0.25, self.sampling_ratio, self.aligned)


class NonzeroGather(torch.nn.Module):
    def forward(self, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        return x[torch.nonzero(s > 0).squeeze(1)]


class MaskedWriteBack(torch.nn.Module):
    def forward(self, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        out = x.clone()
        mask = s > 0
        out[mask] = torch.sigmoid(x[mask]) * 2.0 - 1.0
        return out


class TopKMin(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        values, indices = torch.topk(x, k=min(100, x.shape[0]), dim=0)
        return values, indices


def _roi_case(sampling_ratio: int, aligned: bool) -> Callable[[int, int], Tuple[Any, tuple, Dict[str, Any]]]:
    def make(max_rows: int, max_side: int):
        torch.manual_seed(0)
        side = max(8, max_side // 2)
        features = torch.randn(1, 4, side, side)
        boxes = (torch.rand(6, 4) * side * 4).sort(dim=1).values
        rois = torch.cat([torch.zeros(6, 1), boxes], dim=1)
        dynamic = {"features": {2: (8, max_side), 3: (8, max_side)}, "rois": {0: (1, max_rows)}}
        return RoiAlignHead(sampling_ratio, aligned), (features, rois), dynamic

    return make


def _rows_case(module: torch.nn.Module) -> Callable[[int, int], Tuple[Any, tuple, Dict[str, Any]]]:
    def make(max_rows: int, max_side: int):
        torch.manual_seed(0)
        rows = (1, max_rows)
        return module, (torch.randn(6, 16), torch.randn(6)), {"x": {0: rows}, "s": {0: rows}}

    return make


def _topk_case(max_rows: int, max_side: int):
    torch.manual_seed(0)
    return TopKMin(), (torch.randn(min(12, max_rows), 4),), {"x": {0: (2, max_rows)}}


def _roi_layers(network: Any) -> Dict[str, int]:
    from trt_dyn.converters.roi_align import count_roi_align_layers

    return {"roi_align": count_roi_align_layers(network)}


def _fallback_layers(network: Any) -> Dict[str, int]:
    from trt_dyn.converters.selection import count_fallback_layers

    return {key: value for key, value in count_fallback_layers(network).items() if value}


#: name -> (data-dependent mode, case factory (max_rows, max_side) -> (module, args, dynamic), layer counter,
#:          which profile axes the case depends on)
CASES: Dict[str, Tuple[str, Callable, Callable[[Any], Dict[str, int]], str]] = {
    "roi_align fixed grid (sampling_ratio=2)": ("auto", _roi_case(2, False), _roi_layers, "N, side"),
    "roi_align adaptive grid (sampling_ratio=0)": ("auto", _roi_case(0, True), _roi_layers, "N, side"),
    "nonzero fallback: x[nonzero(s > 0)]": ("native", _rows_case(NonzeroGather()), _fallback_layers, "N"),
    "masked index_put, native: out[m] = f(x[m])": ("native", _rows_case(MaskedWriteBack()), _fallback_layers, "N"),
    "masked index_put, dense rewrite": ("dense", _rows_case(MaskedWriteBack()), _fallback_layers, "N"),
    "topk, k = min(100, N)": ("auto", _topk_case, _fallback_layers, "N"),
}


def measure(name: str, max_rows: int, max_side: int) -> Dict[str, Any]:
    import trt_dyn  # noqa: F401  (shim before torch_tensorrt)
    from trt_dyn.build import build_engine
    from trt_dyn.lowering.data_dependent import data_dependent_mode
    from trt_dyn.testing.harness import export_dynamic

    mode, factory, counter, axes = CASES[name]
    row: Dict[str, Any] = {"converter": name, "mode": mode, "max_rows": max_rows, "max_side": max_side, "axes": axes}
    module, args, dynamic = factory(max_rows, max_side)
    with data_dependent_mode(mode):
        try:
            program = export_dynamic(module, args, dynamic)
            start = time.perf_counter()
            engine = build_engine(program, require_full_compilation=True, min_block_size=1)
            row["build_s"] = time.perf_counter() - start
        except Exception as error:  # noqa: BLE001  (one failing case must not hide the others)
            lines = str(error).strip().splitlines()
            row["error"] = f"{type(error).__name__}: {lines[0] if lines else ''}"[:300]
            return row
    row["engine_layers"] = engine.num_layers
    row["converter_layers"] = counter(engine.network)
    row["profile"] = {name: [list(shape) for shape in shapes] for name, shapes in engine.profiles[0].items()}
    return row


def run(tiny: bool = False) -> Dict[str, Any]:
    profiles = TINY_PROFILES if tiny else FULL_PROFILES
    rows = [measure(name, max_rows, max_side) for name in CASES for max_rows, max_side in profiles]
    shape_independent = {}
    for name in CASES:
        counts = {str(sorted(r["converter_layers"].items())) for r in rows if r["converter"] == name and "error" not in r}
        shape_independent[name] = len(counts) == 1 if counts else None
    return {"profiles": [list(p) for p in profiles], "rows": rows, "shape_independent": shape_independent}


def table(result: Dict[str, Any]) -> str:
    rows = []
    for r in result["rows"]:
        layers = ", ".join(f"{k} {v}" for k, v in r.get("converter_layers", {}).items()) or r.get("error", "-")
        independent = result["shape_independent"].get(r["converter"])
        rows.append([
            r["converter"], r["mode"], r["max_rows"], r["max_side"] if "side" in r["axes"] else "-", layers,
            r.get("engine_layers", "-"), r.get("build_s", "-"),
            {True: "yes", False: "NO", None: "-"}[independent],
        ])
    return markdown_table(
        ["converter", "data-dependent mode", "max N", "max feature side", "converter layers", "engine layers",
         "build (s)", "same count at every profile"],
        rows,
    )


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="one small profile (seconds)")
    parser.add_argument("--json", default=DEFAULT_JSON)
    args = parser.parse_args(argv)
    result = run(args.tiny)
    publish(table(result), args.json, {"tiny": args.tiny, "result": result})
    return 0


if __name__ == "__main__":
    sys.exit(main())
