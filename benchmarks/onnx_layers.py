"""Network layers per dynamic-shape subject: the ONNX route vs trt_dyn, and torch_tensorrt alone where it builds.

Subjects: the dynamic-shape pattern suite of ``coverage.py`` (the test patterns, the roi_align box heads and,
unless ``--tiny``, the Cascade Mask R-CNN replica) plus the zoo's dynamic-resolution ViT. Each is exported once
with ``torch.export`` (dynamic shapes), then:

* **ONNX route**: ``torch.onnx.export`` of that program (the dynamo exporter; where it fails, the TorchScript
  exporter on the eager module with the same dynamic axes), parsed by the installed TensorRT flavour's
  ``OnnxParser`` into a strongly typed network, and built on the CPU with an optimization profile spanning the
  export's ranges. Export, parse or build errors are the measurement;
* **trt_dyn**: ``compile_cpu(require_full_compilation=True)`` with ``import trt_dyn``, one engine;
* **torch_tensorrt alone**: the same compile in a subprocess that never loads trt_dyn's registrations (as in
  ``coverage.py``); a layer count only when it builds one engine.

Counts are ``INetworkDefinition.num_layers`` of the network handed to the builder (the ONNX parser's network,
torch_tensorrt's network), not the engine's fused layers; both sides are counted the same way, so the ratio
trt_dyn / ONNX compares what each route asks TensorRT to build. Layer-type histograms are in the JSON.

    python benchmarks/onnx_layers.py [--tiny] [--only NAME ...] [--no-upstream] [--json PATH]
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import os
import sys
import tempfile
import time
from typing import Any, Dict, Iterator, List, Optional, Sequence

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
if HERE not in sys.path:
    sys.path.insert(0, HERE)
DEFAULT_JSON = os.path.join(HERE, "results", "onnx_layers.json")
VIT_NAME = "ViT, dynamic resolution (zoo, 224..448)"
#: --tiny: one subject both routes build, one the ONNX parser refuses
TINY_SUBJECTS = ("TopKMin (k = min(100, N))", "NonzeroGather x[nonzero(m)]")
#: the acceptance bound of issue 16: trt_dyn layers <= 1.5x the ONNX route's
GOAL_RATIO = 1.5


def _first_line(error: BaseException) -> str:
    import coverage

    return coverage._first_line(error)


def _vit_case() -> Any:
    import coverage

    def build(classes: Dict[str, Any]) -> Any:
        from trt_dyn.models.zoo import ZOO, build_zoo_model, export_zoo_model, zoo_input

        model = build_zoo_model("vit_dynamic_resolution")
        program = export_zoo_model("vit_dynamic_resolution", model)
        _EXPORTED.append((model, (zoo_input(ZOO["vit_dynamic_resolution"].odd_hw),)))
        return program

    return coverage.Case("trt_dyn.models.zoo", build)


def subjects(tiny: bool) -> Dict[str, Any]:
    """Name -> ``coverage.Case``: the coverage suite plus the zoo ViT (``--tiny``: :data:`TINY_SUBJECTS`)."""
    import coverage

    found = dict(coverage.cases(False))
    found[VIT_NAME] = _vit_case()
    if tiny:
        return {name: found[name] for name in TINY_SUBJECTS}
    return found


#: (eager module, example args) of the last exports, for the TorchScript exporter fallback
_EXPORTED: List[Any] = []


@contextlib.contextmanager
def _keeping_eager_modules() -> Iterator[None]:
    """Record the eager module and example inputs ``coverage`` exports (the TorchScript exporter needs them)."""
    import coverage

    original = coverage._export

    def export(module: Any, args: tuple, dynamic: Any) -> Any:
        _EXPORTED.append((module, args))
        return original(module, args, dynamic)

    coverage._export = export
    try:
        yield
    finally:
        coverage._export = original


def _build_program(case: Any, classes: Dict[str, Any]) -> Any:
    _EXPORTED.clear()
    with _keeping_eager_modules():
        return case.build(classes)


# ------------------------------------------------------------------------------------------------ ONNX route


def _user_inputs(program: Any) -> List[Any]:
    from trt_dyn.inputs import user_input_nodes

    return [node.meta["val"] for node in user_input_nodes(program)]


def export_onnx(program: Any, path: str) -> Dict[str, Any]:
    """``program`` to ONNX at ``path``: the dynamo exporter, else TorchScript on the recorded eager module."""
    import torch

    start = time.perf_counter()
    try:
        torch.onnx.export(program, (), path, dynamo=True, optimize=True, verbose=False)
        return {"ok": True, "exporter": "dynamo", "seconds": time.perf_counter() - start}
    except Exception as error:  # noqa: BLE001  (the error is the measurement; the fallback may still work)
        dynamo_error = _first_line(error.__cause__ or error)
    if not _EXPORTED:
        return {"ok": False, "error": f"dynamo exporter: {dynamo_error}", "seconds": time.perf_counter() - start}
    module, args = _EXPORTED[-1]
    names = [f"input_{index}" for index in range(len(args))]
    axes = {}
    for name, value in zip(names, _user_inputs(program)):
        dynamic = {axis: f"{name}_{axis}" for axis, size in enumerate(value.shape) if not isinstance(size, int)}
        if dynamic:
            axes[name] = dynamic
    try:
        torch.onnx.export(module.eval(), args, path, dynamo=False, input_names=names, dynamic_axes=axes)
    except Exception as error:  # noqa: BLE001
        return {"ok": False, "error": f"dynamo exporter: {dynamo_error}; TorchScript exporter: {_first_line(error)}",
                "seconds": time.perf_counter() - start}
    return {"ok": True, "exporter": "torchscript", "dynamo_error": dynamo_error,
            "seconds": time.perf_counter() - start}


def layer_types(network: Any) -> Dict[str, int]:
    counts: "collections.Counter[str]" = collections.Counter(
        network.get_layer(index).type.name for index in range(network.num_layers))
    return dict(counts.most_common())


def parse_and_build_onnx(path: str, program: Any) -> Dict[str, Any]:
    """Parse ``path`` with TensorRT's ONNX parser, count the layers, build with the export's ranges."""
    from trt_dyn._trt import trt
    from trt_dyn.inputs import resolve_inputs

    logger = trt.Logger(trt.Logger.ERROR)
    builder = trt.Builder(logger)
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(path):
        errors = [str(parser.get_error(index)) for index in range(parser.num_errors)]
        return {"parsed": False, "built": False, "error": "parse: " + (errors[0] if errors else "failed")[:300]}
    result: Dict[str, Any] = {"parsed": True, "layers": int(network.num_layers), "layer_types": layer_types(network)}
    specs = resolve_inputs(program)
    config = builder.create_builder_config()
    profile = builder.create_optimization_profile()
    inputs = [network.get_input(index) for index in range(network.num_inputs)]
    if len(inputs) != len(specs):
        result.update(built=False, error=f"build: the ONNX network has {len(inputs)} inputs, the export {len(specs)}")
        return result
    for tensor, spec in zip(inputs, specs):
        if -1 in tuple(tensor.shape):
            shapes = spec.shape
            profile.set_shape(tensor.name, shapes["min_shape"], shapes["opt_shape"], shapes["max_shape"])
    config.add_optimization_profile(profile)
    start = time.perf_counter()
    try:
        serialized = builder.build_serialized_network(network, config)
    except Exception as error:  # noqa: BLE001
        serialized, build_error = None, _first_line(error)
    else:
        build_error = "build_serialized_network returned None"
    result["build_s"] = time.perf_counter() - start
    result["built"] = serialized is not None
    if serialized is None:
        result["error"] = f"build: {build_error}"
    return result


def onnx_route(program: Any) -> Dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "subject.onnx")
        exported = export_onnx(program, path)
        if not exported["ok"]:
            return {"exported": False, "parsed": False, "built": False, "error": "export: " + exported["error"]}
        result = {"exported": True, "exporter": exported["exporter"], "export_s": exported["seconds"]}
        if "dynamo_error" in exported:
            result["dynamo_error"] = exported["dynamo_error"]
        result.update(parse_and_build_onnx(path, program))
        return result


# ---------------------------------------------------------------------------------------- torch_tensorrt stacks


def compile_layers(program: Any) -> Dict[str, Any]:
    """``compile_cpu(require_full_compilation=True)``: layers of the one engine, or the error."""
    from trt_dyn.testing.compile_cpu import compile_cpu

    start = time.perf_counter()
    try:
        compiled = compile_cpu(program, require_full_compilation=True, min_block_size=1)
    except Exception as error:  # noqa: BLE001  (the error is the measurement)
        return {"built": False, "error": _first_line(error), "seconds": time.perf_counter() - start}
    if compiled.num_trt_engines != 1:
        return {"built": False, "error": f"{compiled.num_trt_engines} engines", "seconds": time.perf_counter() - start}
    (engine,) = compiled.engines
    return {"built": True, "layers": engine.num_layers, "layer_types": layer_types(engine.network),
            "seconds": time.perf_counter() - start}


def worker(mode: str, tiny: bool, only: Optional[Sequence[str]] = None,
           measured: Sequence[str] = ()) -> List[Dict[str, Any]]:
    """``upstream`` (fresh process, no trt_dyn registrations): torch_tensorrt alone per subject;
    ``trt_dyn``: the ONNX route and trt_dyn per subject (trt_dyn not compiled for the ``measured`` ones)."""
    import coverage

    if mode == "upstream":
        import upstream_vs_trt_dyn

        upstream_vs_trt_dyn._load_without_trt_dyn_registrations()
    else:
        import trt_dyn  # noqa: F401
    import torchvision  # noqa: F401  (roi_align must exist before programs are exported)

    if mode == "upstream":
        coverage._assert_no_trt_dyn_registrations()

    classes = {source: coverage._test_classes(source) for source in coverage.TEST_SOURCES}
    rows = []
    for name, case in subjects(tiny).items():
        if only is not None and name not in only:
            continue
        row: Dict[str, Any] = {"subject": name, "source": case.source}
        try:
            program = _build_program(case, classes)
        except Exception as error:  # noqa: BLE001
            row["export_error"] = _first_line(error)
            rows.append(row)
            continue
        if mode == "upstream":
            row["upstream"] = compile_layers(program)
        else:
            # trt_dyn first: the ONNX exporter rewrites the program's graph in place
            if name not in measured:
                row["trt_dyn"] = compile_layers(program)
            row["onnx"] = onnx_route(program)
        rows.append(row)
    if mode == "upstream":
        coverage._assert_no_trt_dyn_registrations()
    return rows


def run_upstream_subprocess(tiny: bool, only: Optional[Sequence[str]] = None) -> List[Dict[str, Any]]:
    from _common import run_result_worker  # not at module level: the worker process must not import trt_dyn

    command = [sys.executable, os.path.abspath(__file__), "--worker", "upstream"] + (["--tiny"] if tiny else [])
    if only is not None:
        command += ["--subjects-json", json.dumps(list(only))]
    return run_result_worker(command, "onnx_layers upstream worker", [REPO, HERE], REPO)


def run(tiny: bool = False, upstream: bool = True, only: Optional[Sequence[str]] = None,
        trt_dyn_layers: Optional[Dict[str, Dict[str, Any]]] = None) -> Dict[str, Any]:
    """Every subject: ONNX route and trt_dyn here, torch_tensorrt alone in a subprocess.

    ``trt_dyn_layers``: subject -> a ``compile_layers``-shaped record measured elsewhere in this run (the
    Cascade replica's compile), used instead of compiling the same subject again."""
    rows = worker("trt_dyn", tiny, only, measured=list(trt_dyn_layers or ()))
    for row in rows:
        if trt_dyn_layers and row["subject"] in trt_dyn_layers:
            row["trt_dyn"] = trt_dyn_layers[row["subject"]]
    if upstream:
        alone = {row["subject"]: row for row in run_upstream_subprocess(tiny, only)}
        for row in rows:
            other = alone.get(row["subject"], {})
            row["upstream"] = other.get("upstream", {"built": False, "error": other.get("export_error", "not measured")})
    for row in rows:
        onnx, ours = row.get("onnx", {}), row.get("trt_dyn", {})
        if onnx.get("built") and ours.get("built"):
            row["ratio_trt_dyn_over_onnx"] = ours["layers"] / onnx["layers"]
    return {"rows": rows, "summary": summary(rows)}


def summary(rows: Sequence[Dict[str, Any]]) -> Dict[str, Any]:
    compared = [row for row in rows if "ratio_trt_dyn_over_onnx" in row]
    over = [row["subject"] for row in compared if row["ratio_trt_dyn_over_onnx"] > GOAL_RATIO]
    return {
        "subjects": len(rows),
        "both_build": len(compared),
        "onnx_fails": [row["subject"] for row in rows if not row.get("onnx", {}).get("built")],
        "max_ratio": max((row["ratio_trt_dyn_over_onnx"] for row in compared), default=None),
        "goal_ratio": GOAL_RATIO,
        "over_goal": over,
        "goal_met": not over,
    }


def _cell(record: Dict[str, Any]) -> Any:
    if record.get("built"):
        return record["layers"]
    if record.get("parsed"):
        return f"{record['layers']} (not built)"
    return "-"


def table(result: Dict[str, Any]) -> str:
    from trt_dyn.tables import markdown_table

    rows = []
    notes = []
    for row in result["rows"]:
        onnx, ours, alone = row.get("onnx", {}), row.get("trt_dyn", {}), row.get("upstream", {})
        ratio = row.get("ratio_trt_dyn_over_onnx")
        route = onnx.get("exporter", "-")
        rows.append([row["subject"], _cell(onnx), route, _cell(ours), _cell(alone) if alone else "not measured",
                     f"{ratio:.2f}" if ratio is not None else "-"])
        if "export_error" in row:
            notes.append(f"- {row['subject']}: torch.export failed: {row['export_error']}")
        elif not onnx.get("built"):
            notes.append(f"- {row['subject']}: ONNX route: {onnx.get('error', 'not measured')}")
        if not ours.get("built"):
            notes.append(f"- {row['subject']}: trt_dyn: {ours.get('error', 'not measured')}")
    text = markdown_table(
        ["subject", "ONNX route layers", "ONNX exporter", "trt_dyn layers", "torch_tensorrt alone layers",
         "trt_dyn / ONNX"],
        rows,
    )
    s = result["summary"]
    max_ratio = f"{s['max_ratio']:.2f}" if s["max_ratio"] is not None else "-"
    text += (f"\n\nBoth routes build {s['both_build']} of {s['subjects']} subjects; max trt_dyn / ONNX "
             f"{max_ratio} (goal <= {GOAL_RATIO}: {'met' if s['goal_met'] else 'NOT met on ' + ', '.join(s['over_goal'])}). "
             "Layers of the network handed to the builder (INetworkDefinition.num_layers). '-' in the torch_tensorrt "
             "alone column: it does not build one engine (see section 5).")
    if notes:
        text += "\n\nNot compared:\n\n" + "\n".join(notes)
    return text


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help=f"only {', '.join(TINY_SUBJECTS)}")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="subjects whose name starts with one of these")
    parser.add_argument("--no-upstream", action="store_true", help="skip torch_tensorrt alone")
    parser.add_argument("--json", default=DEFAULT_JSON)
    parser.add_argument("--worker", choices=["upstream"], help=argparse.SUPPRESS)
    parser.add_argument("--subjects-json", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        names = json.loads(args.subjects_json) if args.subjects_json else None
        print("RESULT " + json.dumps(worker(args.worker, args.tiny, names), default=str))
        return 0
    from _common import publish

    only = None
    if args.only:
        only = [name for name in subjects(args.tiny) if name.startswith(tuple(args.only))]
    result = run(args.tiny, upstream=not args.no_upstream, only=only)
    publish(table(result), args.json, {"tiny": args.tiny, "result": result})
    return 0


if __name__ == "__main__":
    sys.exit(main())
