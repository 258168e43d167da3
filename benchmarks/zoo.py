"""The model zoo table: torch_tensorrt alone vs with trt_dyn on models users bring, H and W dynamic.

For every model of :data:`trt_dyn.models.zoo.ZOO` (random weights, BatchNorm calibrated): export with H, W
dynamic (checked: no specialization), measure torch_tensorrt **alone** in a subprocess that never loads trt_dyn's
registrations (engines / nodes left to PyTorch when partitioning, the error with ``require_full_compilation``),
then compile with trt_dyn and ``require_full_compilation=True`` (engines, nodes left to PyTorch, TensorRT layers,
build seconds) and compare the CPU executor with eager at the min, max and an odd image size with the zoo's own
check (``compare_zoo_outputs``: integers exactly, floats within the entry's tolerance, detections up to the order
of tied scores). The error columns give the max relative error of float outputs, ``max |a - e| / max(|e|, 1)``,
after matching tie reorderings.

Each model runs in its own process with a time limit: a model that fails (export, compile, a crash, the limit)
is a row with its stage and error, and the others still run. The JSON is rewritten after every model and records
the load average: on a shared machine the build seconds are inflated by the other jobs.

    python benchmarks/zoo.py [--tiny] [--models NAME ...] [--no-upstream] [--json PATH] [--timeout S] [--jobs N]
                             [--update] [--render] [--merge JSON ...]

``--tiny`` runs the fastest model only; ``--jobs`` runs that many models at once (each build then gets a share
of the cores: the seconds grow); ``--update`` replaces the rows of the models run in an existing JSON and keeps
the others; ``--render`` rewrites the table of an existing JSON without running anything; ``--merge`` writes one
table from runs made side by side, one row per model.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import re
import subprocess
import sys
import time
import traceback
import warnings
from typing import Any, Dict, List, Optional, Sequence

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import torch  # noqa: E402
import torchvision  # noqa: E402,F401  (roi_align registered before programs are exported or loaded)

import trt_dyn  # noqa: E402,F401  (no-GPU shim before torch_tensorrt)
from _common import machine_record, markdown_table, write_json  # noqa: E402
from trt_dyn.models.zoo import ZOO  # noqa: E402

DEFAULT_JSON = os.path.join(HERE, "results", "zoo.json")
TINY_MODELS = ("vit_dynamic_resolution",)
#: seconds one model may take (export, torch_tensorrt alone, compile, 3 executor runs) before it is recorded as failed
DEFAULT_TIMEOUT_S = 2400.0
_RESULT_PREFIX = "ZOO_RESULT "


def _specs(entry: Any) -> List[Dict[str, Any]]:
    return [{"min": (1, 3, *entry.min_hw), "opt": (1, 3, *entry.odd_hw), "max": (1, 3, *entry.max_hw)}]


def _aligned(name: str, actual: Any, expected: Any) -> Dict[str, Any]:
    """The zoo check's verdict, and eager outputs reordered to the compiled order where tied scores were swapped."""
    from trt_dyn.models.zoo import ZooMismatchError, compare_zoo_outputs, match_detections

    entry = ZOO[name]
    try:
        verdict = compare_zoo_outputs(name, actual, expected)
    except ZooMismatchError as error:
        return {"ok": False, "detail": str(error).splitlines()[0][:200], "expected": expected}
    if entry.output_keys and verdict["reordered_ties"]:
        order = torch.tensor(match_detections(actual, expected, entry.output_keys, *entry.tolerance),
                             dtype=torch.long)
        expected = tuple(output[order] for output in expected)
    return {"ok": True, "reordered_ties": verdict["reordered_ties"], "expected": expected}


def _errors(name: str, actual: Any, expected: Any) -> Dict[str, Any]:
    check = _aligned(name, actual, expected)
    got = torch.utils._pytree.tree_leaves(actual)
    want = torch.utils._pytree.tree_leaves(check.pop("expected"))
    if len(got) != len(want) or any(a.shape != e.shape for a, e in zip(got, want)):
        return {**check, "ok": False, "detail": check.get("detail", "output count or shapes differ from eager")}
    relative, absolute, int_mismatches = 0.0, 0.0, 0
    for a, e in zip(got, want):
        if e.dtype.is_floating_point:
            if e.numel():
                difference = (a.double() - e.double()).abs()
                absolute = max(absolute, float(difference.max()))
                relative = max(relative, float((difference / e.double().abs().clamp_min(1.0)).max()))
        else:
            int_mismatches += int((a != e).sum())
    return {**check, "max_rel": relative, "max_abs": absolute, "int_mismatches": int_mismatches,
            "outputs_shapes": [list(e.shape) for e in want]}


def measure(name: str, upstream: bool) -> Dict[str, Any]:
    """One model's row; a failing stage is recorded (``stage``, ``error``) and ends the row."""
    from trt_dyn.models.zoo import build_zoo_model, export_zoo_model, zoo_input
    from trt_dyn.testing import compile_cpu
    from trt_dyn.testing.harness import network_layer_types
    from trt_dyn.testing.upstream import measure_upstream

    entry = ZOO[name]
    row: Dict[str, Any] = {"model": name, "nms": entry.nms if entry.output_keys else "-",
                           "sizes_hw": [list(hw) for hw in entry.test_sizes],
                           "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                           "load_avg_start": os.getloadavg()}
    stage = "build"
    try:
        model = build_zoo_model(name)
        stage = "export"
        start = time.perf_counter()
        program = export_zoo_model(name, model)
        row["export_s"] = round(time.perf_counter() - start, 1)
        if upstream:
            stage = "torch_tensorrt alone"
            try:
                row["upstream"] = measure_upstream(_upstream_program(name, model, program), _specs(entry))
            except Exception as error:  # noqa: BLE001  (the worker's failure is that column's content)
                row["upstream"] = {"worker_error": f"{type(error).__name__}: {_last_line(error)}",
                                   "detail": str(error)[-2000:]}
            row["upstream_program"] = "nms='topk' export" if _holds_trt_dyn_ops(program) else "the same program"
        stage = "trt_dyn compile"
        start = time.perf_counter()
        compiled = compile_cpu(program, require_full_compilation=True, min_block_size=1)
        row["build_s"] = round(time.perf_counter() - start, 1)
        row["engines"] = compiled.num_trt_engines
        row["pytorch_nodes"] = len(compiled.pytorch_nodes)
        row["layers"] = sum(sum(network_layer_types(engine.network).values()) for engine in compiled.engines)
        row["sizes"] = {}
        for index, hw in enumerate(entry.test_sizes):
            stage = f"executor at {hw[0]}x{hw[1]}"
            images = zoo_input(hw, seed=100 + index)
            with torch.no_grad():
                expected = model(images)
                start = time.perf_counter()
                actual = compiled(images)
                seconds = time.perf_counter() - start
            row["sizes"][f"{hw[0]}x{hw[1]}"] = {**_errors(name, actual, expected), "executor_s": round(seconds, 2)}
    except Exception as error:  # noqa: BLE001  (a failing model is a row of the table)
        row["stage"] = stage
        row["error"] = f"{type(error).__name__}: {_first_line(error)}"
        row["traceback"] = traceback.format_exc()[-3000:]
    row["load_avg_end"] = os.getloadavg()
    return row


def _holds_trt_dyn_ops(program: Any) -> bool:
    return any(str(node.target).startswith("trt_dyn.") for node in program.graph.nodes if node.op == "call_function")


def _upstream_program(name: str, model: Any, program: Any) -> Any:
    """The program torch_tensorrt alone is measured on: ``program``, or, when it holds trt_dyn's ops (exact NMS:
    ``torch.export.load`` without trt_dyn cannot deserialize it, and without trt_dyn's adapters torchvision's
    ``batched_nms`` does not export with H, W dynamic), the same detector exported with NMS replaced by top-k."""
    if not _holds_trt_dyn_ops(program):
        return program
    from trt_dyn.adapters import DetectorOutputs
    from trt_dyn.models.zoo import export_zoo_model

    return export_zoo_model(name, DetectorOutputs(model.detector, model.keys, nms="topk").eval())


def _last_line(error: BaseException) -> str:
    """The last line of a worker's failure (its stderr tail ends with the exception that stopped it)."""
    lines = [line for line in str(error).strip().splitlines() if line.strip()]
    return lines[-1].strip()[:400] if lines else ""


def _first_line(error: BaseException) -> str:
    lines = [line for line in str(error).strip().splitlines() if line.strip()]
    return lines[0][:400] if lines else ""


def measure_in_subprocess(name: str, upstream: bool, timeout: float) -> Dict[str, Any]:
    """:func:`measure` in a fresh process: a crash or the time limit becomes the row's error."""
    command = [sys.executable, os.path.abspath(__file__), "--worker", name] + ([] if upstream else ["--no-upstream"])
    load_avg_start = os.getloadavg()
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"model": name, "stage": "time limit", "error": f"not finished within {timeout:.0f} s",
                "load_avg_start": load_avg_start, "load_avg_end": os.getloadavg()}
    lines = [line for line in done.stdout.splitlines() if line.startswith(_RESULT_PREFIX)]
    if done.returncode != 0 or not lines:
        tail = done.stderr.strip().splitlines()[-15:]
        return {"model": name, "stage": "worker process", "error": f"exit {done.returncode}: {(tail or [''])[-1]}",
                "traceback": "\n".join(tail), "load_avg_start": load_avg_start, "load_avg_end": os.getloadavg()}
    return json.loads(lines[-1][len(_RESULT_PREFIX):])


_COMPARISON_TYPE_ERROR = re.compile(r"'(?P<op>[<>=!]+)' not supported between instances of '(?P<a>\w+)' and '(?P<b>\w+)'")


def _failure(compile_result: Dict[str, Any]) -> str:
    """What made one torch_tensorrt-alone compile fail, in a few words: the pass or converter that raised (from the
    traceback the worker recorded) and what it did, rather than a bare exception line."""
    error = compile_result["error"]
    if "require_full_compilation=True was specified" in error:
        return "refused: not fully supported"
    kind, _, message = error.partition(": ")
    where = compile_result.get("raised_in") or {}
    place = ""
    if where.get("file", "").startswith("torch_tensorrt"):
        role = ("lowering pass" if "/lowering/passes/" in where["file"] else
                "converter" if "/conversion/" in where["file"] else "function")
        place = f"torch_tensorrt's {role} `{where['function']}`"
    comparison = _COMPARISON_TYPE_ERROR.search(message)
    if comparison and "Node" in (comparison["a"], comparison["b"]):
        # an fx Node where the code expects a number: a symbolic size reached Python arithmetic
        other = comparison["b"] if comparison["a"] == "Node" else comparison["a"]
        what = f"compares a symbolic size (fx Node) with an {other}"
        source = where.get("code", "")
        compared = re.search(rf"[\w.\[\]]+\s*{re.escape(comparison['op'])}\s*[\w.\[\]]+", source)
        code = f" (`{compared.group(0) if compared else source[:60]}`)" if source else ""
        return f"{place or 'torch_tensorrt'} {what}{code}: {kind}"
    message = message.replace("tensorrt_rtx_bindings.tensorrt_rtx.", "")
    if not place:
        return f"{kind}: {message[:110]}"
    code = f" (`{where['code']}`)" if where.get("code") and len(where["code"]) <= 60 else ""
    return f"{kind} in {place}{code}: {message[:90]}"


def _upstream_cell(result: Optional[Dict[str, Any]], program: str = "") -> str:
    if result is None:
        return "not measured"
    if "worker_error" in result:
        return f"measurement failed: {result['worker_error'][:160]}"
    topk = " (measured on the NMS -> top-k export)" if program == "nms='topk' export" else ""
    partitioned, full = result["partitioned"], result["full_compilation"]
    missing = {op: count for op, count in full.get("unsupported_ops", {}).items() if op != "_operator.getitem"}
    no_converter = ("; no converter: " + ", ".join(f"{op} x{count}" for op, count in missing.items())
                    if missing else "")
    if not partitioned["ok"] and not full["ok"] and _failure(partitioned) == _failure(full):
        return f"both compiles fail: {_failure(full)}{no_converter}{topk}"
    if partitioned["ok"]:
        cell = f"{partitioned['engines']} / {partitioned['pytorch_nodes']}"
    else:
        cell = f"partitioned compile fails: {_failure(partitioned)}"
    return f"{cell} / {'ok' if full['ok'] else _failure(full)}{no_converter}{topk}"


def _size_cell(hw: str, size: Dict[str, Any]) -> str:
    if not size["ok"]:
        return f"{hw}: MISMATCH {size.get('detail', '')[:100]}"
    ties = f", {size['reordered_ties']} tie reorders" if size.get("reordered_ties") else ""
    return f"{hw}: {size['max_rel']:.1e}{ties}"


def table(result: Dict[str, Any]) -> str:
    header = ["model", "torch_tensorrt alone (engines / nodes / full-compilation error)", "trt_dyn (engines / nodes)",
              "layers", "build s", "max rel error vs eager at min; max; odd"]
    rows = []
    for row in result["rows"]:
        name = row["model"] + (" (NMS -> top-k)" if row.get("nms") == "topk" else "")
        upstream_cell = _upstream_cell(row.get("upstream"), row.get("upstream_program", ""))
        if "error" in row and "engines" not in row:
            rows.append([name, upstream_cell, f"failed at {row['stage']}", "-", "-", row["error"][:160]])
            continue
        sizes = "; ".join(_size_cell(hw, size) for hw, size in row["sizes"].items())
        if "error" in row:
            sizes += f"; failed at {row['stage']}: {row['error'][:100]}"
        rows.append([name, upstream_cell, f"{row['engines']} / {row['pytorch_nodes']}", row["layers"], row["build_s"],
                     sizes])
    loads = [row[key][0] for row in result["rows"] for key in ("load_avg_start", "load_avg_end") if key in row]
    dates = sorted(row["date"] for row in result["rows"] if "date" in row)
    note = ("Max rel error: max |compiled - eager| / max(|eager|, 1) over the float outputs, integers (labels) "
            "compared exactly; detections matched up to the order of tied scores (`compare_zoo_outputs`). "
            "Build s: trt_dyn's compile_cpu (lowering, conversion, TensorRT-RTX engine build on the CPU)")
    if loads:
        note += (f", measured with a 1-minute load average of {min(loads):.1f}-{max(loads):.1f} on "
                 f"{os.cpu_count()} cores: build seconds are inflated by the other jobs on the machine")
    if dates:
        note += f". Rows measured {dates[0]}" + (f" to {dates[-1]}" if dates[-1] != dates[0] else "")
    if result.get("concurrency_note"):  # rows merged from several runs at once: their builds shared the cores
        note += f"; {result['concurrency_note']}"
    return markdown_table(header, rows) + "\n\n" + note + "."


def run(tiny: bool, models: Optional[Sequence[str]] = None, upstream: bool = True,
        timeout: float = DEFAULT_TIMEOUT_S, json_path: Optional[str] = None, jobs: int = 1,
        previous_rows: Sequence[Dict[str, Any]] = ()) -> Dict[str, Any]:
    names = list(models or (TINY_MODELS if tiny else ZOO))
    rows: Dict[str, Dict[str, Any]] = {row["model"]: row for row in previous_rows if row["model"] not in names}
    result: Dict[str, Any] = {"rows": [], "models_requested": names, "jobs": jobs, "load_avg_start": os.getloadavg()}

    def one(name: str) -> None:
        print(f"zoo: {name} ...", flush=True)
        start = time.perf_counter()
        row = measure_in_subprocess(name, upstream, timeout)
        row["wall_s"] = round(time.perf_counter() - start, 1)
        print(f"zoo: {name}: {row.get('error', 'ok')} ({row['wall_s']} s)", flush=True)
        rows[name] = row
        result["rows"] = [rows[n] for n in ZOO if n in rows]
        if json_path:  # partial results survive an interrupted run
            write_json(json_path, {"machine": machine_record(), **result})

    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        for done in concurrent.futures.as_completed([pool.submit(one, name) for name in names]):
            done.result()
    result["rows"] = [rows[n] for n in ZOO if n in rows]
    result["load_avg_end"] = os.getloadavg()
    return result


def merge_runs(paths: Sequence[str]) -> Dict[str, Any]:
    """One table from zoo runs made side by side (each ``--jobs 1`` on its own models, to finish sooner on a shared
    machine): every row keeps its date and load averages, and the note says how many runs shared the cores."""
    rows: Dict[str, Dict[str, Any]] = {}
    runs = []
    machine = None
    for path in paths:
        with open(path) as handle:
            recorded = json.load(handle)
        machine = machine or recorded.get("machine")
        runs.append({"json": os.path.basename(path), "models_requested": recorded["models_requested"],
                     "load_avg_start": recorded.get("load_avg_start"), "load_avg_end": recorded.get("load_avg_end")})
        for row in recorded["rows"]:
            if row["model"] in rows:
                raise ValueError(f"zoo --merge: {row['model']} is in two runs; merge one row per model")
            rows[row["model"]] = row
    return {"machine": machine, "rows": [rows[name] for name in ZOO if name in rows], "runs": runs,
            "models_requested": [name for name in ZOO if name in rows], "jobs": len(runs),
            "concurrency_note": f"rows from {len(runs)} zoo.py runs (--jobs 1 each) that overlapped in time"}


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true")
    parser.add_argument("--models", nargs="*", choices=sorted(ZOO))
    parser.add_argument("--no-upstream", action="store_true")
    parser.add_argument("--json", default=DEFAULT_JSON)
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S, help="seconds per model")
    parser.add_argument("--jobs", type=int, default=1, help="models measured at the same time")
    parser.add_argument("--update", action="store_true", help="keep the other models' rows of an existing --json")
    parser.add_argument("--render", action="store_true", help="rewrite the table of an existing --json, run nothing")
    parser.add_argument("--merge", nargs="+", metavar="JSON",
                        help="write --json from the rows of runs made at the same time (one per model), run nothing")
    parser.add_argument("--worker", choices=sorted(ZOO), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.merge:
        merged = merge_runs(args.merge)
        merged["table"] = table(merged)
        _write(args.json, merged)
        return 0
    if args.render:
        with open(args.json) as handle:
            recorded = json.load(handle)
        recorded["table"] = table(recorded)
        _write(args.json, recorded)
        return 0
    if args.worker:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            row = measure(args.worker, upstream=not args.no_upstream)
        print(_RESULT_PREFIX + json.dumps(row, default=str), flush=True)
        return 0
    previous = []
    if args.update and os.path.exists(args.json):
        with open(args.json) as handle:
            previous = json.load(handle).get("rows", [])
    result = run(args.tiny, args.models, upstream=not args.no_upstream, timeout=args.timeout, json_path=args.json,
                 jobs=args.jobs, previous_rows=previous)
    _write(args.json, {"machine": machine_record(), **result, "table": table(result)})
    return 0


def _write(json_path: str, result: Dict[str, Any]) -> None:
    print(result["table"])
    write_json(json_path, result)
    markdown = os.path.splitext(json_path)[0] + ".md"
    with open(markdown, "w") as handle:
        handle.write(result["table"] + "\n")
    print(f"\nwrote {json_path} and {markdown}")


if __name__ == "__main__":
    sys.exit(main())
