"""trt_dyn benchmarks: one entry point, a markdown table per section, one JSON (``./dev bench``).

Sections (``--only`` picks some; default all):

* ``build_once``: K static builds vs one dynamic build: the small conv pyramid (median of ``--repeats``)
  and K=5 sizes of the Cascade Mask R-CNN replica (median of ``--cascade-repeats`` rounds, default 3,
  fewer if a round would end past the time budget: a round is ~6 compiles of a ~7.6k-layer network);
* ``lowering``: ``trt_dyn.lower`` on chained real-pattern graphs of 1k..50k nodes (time per node and its
  spread), and the share of trt_dyn's post-lowering passes in the Cascade replica's real compile;
* ``executor``: the CPU reference executor on ResNet-50 (batch 1, 224x224) and on the Cascade replica's
  engine at its opt size, both checked against eager PyTorch;
* ``fallback``: TensorRT layers emitted per fallback converter at several profiles;
* ``coverage``: engines and nodes left to PyTorch with and without ``import trt_dyn`` on the test pattern
  suite (upstream measured in a subprocess that never loads trt_dyn's registrations);
* ``nms``: exact NMS in the engine (``nms_cost.py``): layers, build time, loop steps and executor time vs N;
* ``onnx_layers``: network layers per dynamic-shape subject, the ONNX route (``torch.onnx`` + TensorRT's
  ``OnnxParser``) vs trt_dyn vs torch_tensorrt alone (``onnx_layers.py``).

The Cascade replica is exported and compiled once with H, W dynamic; that compile is the "1 dynamic
build" of ``build_once``, the compile the lowering share is taken from, the engine the executor runs and
the trt_dyn row of ``coverage``. ``--tiny`` is the configuration the test runs: small sizes, repeats 1,
no Cascade replica. GPU latency is not measured: no engine can run here.

    python benchmarks/run.py [--tiny] [--only SECTION ...] [--out PATH]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from typing import Any, Callable, Dict, Optional, Sequence

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import torch  # noqa: E402
import torchvision  # noqa: E402,F401  (roi_align must be registered before programs are exported or loaded)

import trt_dyn  # noqa: E402,F401  (no-GPU shim before torch_tensorrt)
from _common import machine_record, markdown_table, timed, write_json  # noqa: E402

DEFAULT_OUT = os.path.join(HERE, "results", "latest.json")
SECTIONS = ("build_once", "lowering", "executor", "fallback", "coverage", "nms", "zoo", "onnx_layers")
CASCADE_COVERAGE_NAME = "Cascade Mask R-CNN replica (256..768)"


class CascadeCompile:
    """The Cascade replica exported with dynamic H, W and compiled once (lazily), with its pass timings."""

    def __init__(self, count: int = 5) -> None:
        from trt_dyn.models import cascade_benchmark_model

        self.model, self.sizes, self.lo, self.hi, self.step = cascade_benchmark_model(count)
        self._done: Optional[Dict[str, Any]] = None
        #: per compile done: (trt_dyn passes seconds, compile seconds)
        self.shares: list = []

    def compile(self) -> Dict[str, Any]:
        """Export + compile now (again if called again); returns and keeps the measurements."""
        import build_once
        import lowering_cost

        with lowering_cost.timed_post_lowering_passes() as pass_seconds:
            start = time.perf_counter()
            program, compiled, export_seconds = build_once.compile_cascade_dynamic(self.model, self.lo, self.hi, self.step)
            total = time.perf_counter() - start
        self._done = {
            "program": program,
            "compiled": compiled,
            "export_s": export_seconds,
            "compile_s": total - export_seconds,
            "export_and_compile_s": total,
            "pass_s": dict(pass_seconds),
        }
        ours = sum(seconds for name, seconds in pass_seconds.items() if name != "upstream post-lowering passes")
        self.shares.append((ours, total - export_seconds))
        return self._done

    def get(self) -> Dict[str, Any]:
        return self._done or self.compile()


# ----------------------------------------------------------------------------------------------- sections


def section_build_once(config: Dict[str, Any], cascade: Optional[CascadeCompile]) -> Dict[str, Any]:
    import build_once

    results = [build_once.run_small(config["count"], config["repeats"])]
    if cascade is not None:
        def dynamic() -> Any:
            done = cascade.compile()
            return done["export_and_compile_s"], done

        results.append(build_once.run_cascade(config["count"], config["cascade_repeats"], dynamic,
                                              config["cascade_budget_s"]))
    note = ("Each build = export + convert + TensorRT build (CPU, TensorRT-RTX) of one engine. Static builds cover "
            "one size each; the dynamic build covers the whole range.")
    if cascade is not None and results[-1]["repeats"] < results[-1]["repeats_requested"]:
        note += (f" The Cascade comparison stopped after {results[-1]['repeats']} of "
                 f"{results[-1]['repeats_requested']} rounds (time budget {config['cascade_budget_s']:.0f} s).")
    return {"results": results, "table": build_once.table(results) + "\n\n" + note}


def section_lowering(config: Dict[str, Any], cascade: Optional[CascadeCompile]) -> Dict[str, Any]:
    import lowering_cost

    scaling = lowering_cost.run(config["lowering_sizes"], config["repeats"])
    text = lowering_cost.table(scaling)
    result: Dict[str, Any] = {"scaling": scaling}
    if cascade is not None:
        done = cascade.get()
        ours = {name: seconds for name, seconds in done["pass_s"].items() if name != "upstream post-lowering passes"}
        share = {
            "passes_s": done["pass_s"],
            "trt_dyn_passes_s": sum(ours.values()),
            "compile_s": done["compile_s"],
            "export_s": done["export_s"],
            "share_of_compile": sum(ours.values()) / done["compile_s"],
            "share_of_export_and_compile": sum(ours.values()) / done["export_and_compile_s"],
            "goal_share": 0.02,
            "compiles": len(cascade.shares),
            "median_share_over_compiles": statistics.median(ours_s / compile_s for ours_s, compile_s in cascade.shares),
        }
        # issue 16: the report of the same program, on its own, against the compile (goal <= 10%)
        report_start, report_cpu_start = time.perf_counter(), time.process_time()
        trt_dyn.report(done["program"])
        share["report_s"] = time.perf_counter() - report_start
        share["report_cpu_s"] = time.process_time() - report_cpu_start
        share["report_share_of_compile"] = share["report_s"] / done["compile_s"]
        result["cascade_share"] = share
        rows = [[name, seconds, 100.0 * seconds / done["compile_s"]] for name, seconds in sorted(done["pass_s"].items())]
        rows.append(["trt_dyn passes, total", share["trt_dyn_passes_s"], 100.0 * share["share_of_compile"]])
        rows.append(["trt_dyn.report(program), run after the compile", share["report_s"],
                     100.0 * share["report_share_of_compile"]])
        rows.append(["whole compile (compile_cpu, 1 engine)", done["compile_s"], 100.0])
        rows.append(["export (export_cascade), for scale", done["export_s"], 100.0 * done["export_s"] / done["compile_s"]])
        text += "\n\nCascade replica, its last compile in this run (H, W in 256..768), passes timed inside it:\n\n" + markdown_table(
            ["step", "seconds", "% of compile"], rows
        ) + (f"\n\ntrt_dyn passes share: {100 * share['share_of_compile']:.2f}% of compile "
             f"(goal <= 2%: {'met' if share['share_of_compile'] <= 0.02 else 'NOT met'}), "
             f"{100 * share['share_of_export_and_compile']:.2f}% of export + compile; median over the "
             f"{share['compiles']} compiles of this run: {100 * share['median_share_over_compiles']:.2f}% of compile")
    result["table"] = text
    return result


def _max_abs_error(actual: Any, expected: Any) -> Dict[str, Any]:
    got = [leaf for leaf in torch.utils._pytree.tree_leaves(actual) if isinstance(leaf, torch.Tensor)]
    want = [leaf for leaf in torch.utils._pytree.tree_leaves(expected) if isinstance(leaf, torch.Tensor)]
    if len(got) != len(want) or any(g.shape != w.shape for g, w in zip(got, want)):
        return {"outputs": len(want), "comparable": False,
                "shapes": [list(g.shape) for g in got], "expected_shapes": [list(w.shape) for w in want]}
    errors = [float((g.double() - w.double()).abs().max()) if g.numel() else 0.0 for g, w in zip(got, want)]
    scale = max((float(w.double().abs().max()) for w in want if w.numel()), default=0.0)
    return {"outputs": len(want), "comparable": True, "max_abs_error": max(errors, default=0.0),
            "expected_abs_max": scale}


def section_executor(config: Dict[str, Any], cascade: Optional[CascadeCompile]) -> Dict[str, Any]:
    import executor_speed

    resnet = executor_speed.run(config["tiny"], config["repeats"])
    rows = [[resnet["model"], "x".join(map(str, resnet["input"])), resnet["layers"], resnet["first_run_s"],
             resnet["median_run_s"], resnet["repeats"], resnet["eager_median_s"],
             f"{resnet['max_abs_error_vs_eager']:.3g} (|eager| max {resnet['eager_output_abs_max']:.3g})"]]
    result: Dict[str, Any] = {"resnet": resnet}
    if cascade is not None:
        done = cascade.get()
        compiled, program = done["compiled"], done["program"]
        (engine,) = compiled.engines
        opt = next(shapes[1] for shapes in engine.profiles[0].values() if len(shapes[1]) == 4)
        image = torch.rand(*opt, generator=torch.Generator().manual_seed(7)) * 255
        first_s, _, _ = timed(lambda: compiled(image), 1)
        median_s, samples, outputs = timed(lambda: compiled(image), config["cascade_executor_repeats"])
        eager_module = program.module()
        with torch.no_grad():
            eager_s, _, expected = timed(lambda: eager_module(image), config["cascade_executor_repeats"])
        check = _max_abs_error(outputs, expected)
        result["cascade"] = {"input": list(opt), "layers": engine.num_layers, "first_run_s": first_s,
                             "median_run_s": median_s, "samples_s": samples, "eager_median_s": eager_s,
                             "repeats": config["cascade_executor_repeats"], "check": check}
        if check["comparable"]:
            error = f"{check['max_abs_error']:.3g} (|eager| max {check['expected_abs_max']:.3g})"
        else:
            error = f"not comparable: output shapes {check['shapes']} vs eager {check['expected_shapes']}"
        rows.append(["Cascade replica (opt size)", "x".join(map(str, opt)), engine.num_layers, first_s, median_s,
                     config["cascade_executor_repeats"], eager_s, error])
    result["table"] = markdown_table(
        ["network", "input", "TRT layers", "first run (s)", "median run (s)", "repeats", "eager (s)",
         "max abs err vs eager"],
        rows,
    ) + "\n\nThe executor is the CPU reference for TensorRT networks (no engine can run here); first run includes " \
        "reading the weights back from the network."
    return result


def section_fallback(config: Dict[str, Any], cascade: Optional[CascadeCompile]) -> Dict[str, Any]:
    import fallback_cost

    result = fallback_cost.run(config["tiny"])
    independent = [name for name, same in result["shape_independent"].items() if same]
    note = ("Layer counts are shape-independent (the same at every profile) for: " + "; ".join(independent) + ". "
            "The network is fixed; the work each layer does at run time still grows with N (and, for the adaptive "
            "roi_align grid, the ILoop trip count with the largest box), which only a GPU run can time."
            if independent else "")
    if config["tiny"]:
        note = "Tiny configuration: one profile only."
    result["table"] = fallback_cost.table(result) + ("\n\n" + note if note else "")
    return result


def _cascade_coverage_row(cascade: CascadeCompile) -> Dict[str, Any]:
    compiled = cascade.get()["compiled"]
    stats = {
        "ok": True,
        "engines": compiled.num_trt_engines,
        "pytorch_nodes": len(compiled.pytorch_nodes),
        "pytorch_ops": sorted({node.target for node in compiled.pytorch_nodes}),
        "trt_layers": [engine.num_layers for engine in compiled.engines],
        "from_full_compilation": True,
    }
    return {"pattern": CASCADE_COVERAGE_NAME, "source": "trt_dyn.models", "partitioned": stats,
            "full": dict(stats)}


def section_coverage(config: Dict[str, Any], cascade: Optional[CascadeCompile]) -> Dict[str, Any]:
    import coverage

    # The replica's compile of this run (require_full_compilation=True) stands for the trt_dyn row.
    reuse = {CASCADE_COVERAGE_NAME: _cascade_coverage_row(cascade)} if cascade is not None else None
    result = coverage.run(config["tiny"], reuse)
    note = ("Both stacks in this run; upstream in a subprocess without trt_dyn's ops/converters/lowering. "
            "Engines are built on the CPU (TensorRT-RTX), never run.")
    if cascade is not None:
        note += (" The trt_dyn Cascade row is the require_full_compilation=True compile of this run "
                 "(1 engine, its PyTorch-node count measured on that compiled graph).")
    result["table"] = coverage.table(result) + "\n\n" + note
    return result


def section_nms(config: Dict[str, Any], cascade: Optional[CascadeCompile]) -> Dict[str, Any]:
    import nms_cost

    result = nms_cost.run(config["tiny"], config["repeats"])
    result["table"] = nms_cost.table(result)
    return result


def section_zoo(config: Dict[str, Any], cascade: Optional[CascadeCompile]) -> Dict[str, Any]:
    import zoo

    result = zoo.run(config["tiny"])
    result["table"] = zoo.table(result)
    return result


def section_onnx_layers(config: Dict[str, Any], cascade: Optional[CascadeCompile]) -> Dict[str, Any]:
    import onnx_layers

    reuse = None
    if cascade is not None:
        # the replica's compile of this run stands for its trt_dyn count
        (engine,) = cascade.get()["compiled"].engines
        reuse = {CASCADE_COVERAGE_NAME: {"built": True, "layers": engine.num_layers,
                                         "layer_types": onnx_layers.layer_types(engine.network)}}
    result = onnx_layers.run(config["tiny"], trt_dyn_layers=reuse)
    result["table"] = onnx_layers.table(result)
    return result


RUNNERS: Dict[str, Callable[[Dict[str, Any], Optional[CascadeCompile]], Dict[str, Any]]] = {
    "build_once": section_build_once,
    "lowering": section_lowering,
    "executor": section_executor,
    "fallback": section_fallback,
    "coverage": section_coverage,
    "nms": section_nms,
    "zoo": section_zoo,
    "onnx_layers": section_onnx_layers,
}
TITLES = {
    "build_once": "1. Build once vs rebuild per shape",
    "lowering": "2. Lowering pass cost",
    "executor": "3. Executor speed (CPU reference executor)",
    "fallback": "4. Fallback cost: TensorRT layers per converter",
    "coverage": "5. Coverage vs upstream torch_tensorrt",
    "nms": "6. Exact NMS in the engine: cost vs box count",
    "zoo": "7. Model zoo: torchvision detectors, DeepLabV3, Swin, ViT with dynamic H and W",
    "onnx_layers": "8. Network layers: the ONNX route vs trt_dyn vs torch_tensorrt alone",
}


def configuration(tiny: bool) -> Dict[str, Any]:
    if tiny:
        return {"tiny": True, "count": 2, "repeats": 1, "cascade": False, "cascade_repeats": 1, "cascade_budget_s": 0,
                "cascade_executor_repeats": 1, "lowering_sizes": [200, 400]}
    # ~6 compiles of a ~7.6k-layer network per Cascade round: 2 min on 2 idle cores, 3x that on a busy
    # machine; the budget keeps the whole run under 20 minutes either way
    return {"tiny": False, "count": 5, "repeats": 3, "cascade": True, "cascade_repeats": 3, "cascade_budget_s": 540.0,
            "cascade_executor_repeats": 3, "lowering_sizes": [1_000, 5_000, 10_000, 50_000]}


def run(sections: Sequence[str], config: Dict[str, Any], out: str) -> Dict[str, Any]:
    cascade = CascadeCompile(config["count"]) if config["cascade"] else None
    payload: Dict[str, Any] = {"machine": machine_record(), "config": config, "sections": {}}
    for name in SECTIONS:
        if name not in sections:
            continue
        start = time.perf_counter()
        try:
            result = RUNNERS[name](config, cascade)
        except Exception as error:  # noqa: BLE001  (a failing section is reported, the others still run)
            lines = str(error).strip().splitlines()
            result = {"error": f"{type(error).__name__}: {lines[0] if lines else ''}"[:500],
                      "table": f"FAILED: {type(error).__name__}: {lines[0] if lines else ''}"}
        result["seconds"] = time.perf_counter() - start
        payload["sections"][name] = result
        print(f"\n## {TITLES[name]}\n\n{result['table']}\n\n({result['seconds']:.0f} s)", flush=True)
        write_json(out, payload)  # partial results survive a later failure
    payload["total_s"] = sum(section["seconds"] for section in payload["sections"].values())
    write_json(out, payload)
    return payload


def markdown_report(payload: Dict[str, Any]) -> str:
    machine = payload["machine"]
    header = (f"Date: {machine['date']}. Machine: {machine['cpu']}, {machine['cores']} cores, no GPU. "
              f"Python {machine['python']}, torch {machine['torch']}, torchvision {machine['torchvision']}, "
              f"torch_tensorrt {machine['torch_tensorrt']}, TensorRT {machine['tensorrt']} ({machine['flavor']}). "
              f"Total {payload.get('total_s', 0):.0f} s.")
    config = payload.get("config", {})
    command = "python benchmarks/run.py" + (" --tiny" if config.get("tiny") else "")
    parts = ["# trt_dyn benchmark results",
             f"Produced by `{command}` (`./dev bench`); raw numbers in `benchmarks/results/latest.json`. "
             "Times are wall-clock seconds on the CPU; no GPU latency is measured (no engine can run here).",
             header]
    for name, section in payload["sections"].items():
        parts.append(f"## {TITLES[name]}\n\n{section['table']}")
    return "\n\n".join(parts) + "\n"


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", help="small sizes, repeats 1, no Cascade replica (for the test)")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, metavar="SECTION",
                        help=f"run only these sections ({', '.join(SECTIONS)})")
    parser.add_argument("--out", default=DEFAULT_OUT, help="JSON output (default benchmarks/results/latest.json)")
    parser.add_argument("--repeats", type=int, help="repeats of the timed measurements (default 3; 1 with --tiny)")
    parser.add_argument("--cascade-repeats", type=int, help="rounds of the Cascade build comparison (default 3)")
    parser.add_argument("--cascade-budget", type=float, help="seconds the Cascade build comparison may take (default 540)")
    parser.add_argument("--markdown", help="also write the tables as a markdown file")
    args = parser.parse_args(argv)
    config = configuration(args.tiny)
    if args.repeats is not None:
        if args.repeats < 1:
            parser.error("--repeats must be >= 1")
        config["repeats"] = config["cascade_executor_repeats"] = args.repeats
    if args.cascade_repeats is not None:
        if args.cascade_repeats < 1:
            parser.error("--cascade-repeats must be >= 1")
        config["cascade_repeats"] = args.cascade_repeats
    if args.cascade_budget is not None:
        config["cascade_budget_s"] = args.cascade_budget
    payload = run(args.only or SECTIONS, config, args.out)
    if args.markdown:
        with open(args.markdown, "w") as handle:
            handle.write(markdown_report(payload))
    print(f"\nwrote {args.out} ({payload['total_s']:.0f} s)")
    failed = [name for name, section in payload["sections"].items() if "error" in section]
    if failed:
        print(f"FAILED sections: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
