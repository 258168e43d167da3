"""benchmarks/run.py --tiny runs every section and writes well-formed JSON (no timing is asserted)."""

import importlib.util
import json
import math
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BENCHMARKS = os.path.join(ROOT, "benchmarks")


def load_run():
    if BENCHMARKS not in sys.path:
        sys.path.insert(0, BENCHMARKS)
    spec = importlib.util.spec_from_file_location("trt_dyn_benchmarks_run", os.path.join(BENCHMARKS, "run.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def positive(value):
    return isinstance(value, (int, float)) and math.isfinite(value) and value > 0


def test_tiny_run_writes_every_section(tmp_path, capsys):
    run = load_run()
    out = tmp_path / "latest.json"
    markdown = tmp_path / "results.md"
    assert run.main(["--tiny", "--out", str(out), "--markdown", str(markdown)]) == 0
    printed = capsys.readouterr().out
    payload = json.loads(out.read_text())

    machine = payload["machine"]
    for key in ("date", "cpu", "cores", "torch", "torch_tensorrt", "tensorrt"):
        assert machine[key], key
    assert payload["config"]["tiny"] is True and payload["config"]["repeats"] == 1
    sections = payload["sections"]
    assert list(sections) == list(run.SECTIONS)
    for name, section in sections.items():
        assert "error" not in section, (name, section.get("error"))
        assert section["table"].startswith("|") and section["table"] in printed
        assert run.TITLES[name] in printed and run.TITLES[name] in markdown.read_text()

    (small,) = sections["build_once"]["results"]
    assert len(small["sizes"]) == 2 and positive(small["static_total_s"]) and positive(small["dynamic_s"])
    assert math.isclose(small["ratio_static_over_dynamic"], small["static_total_s"] / small["dynamic_s"])

    scaling = sections["lowering"]["scaling"]
    assert len(scaling["rows"]) == 2
    assert all(row["nodes"] >= size for row, size in zip(scaling["rows"], (200, 400)))
    assert all(row["sym_size_nodes_left"] == 0 and positive(row["us_per_node"]) for row in scaling["rows"])
    assert scaling["per_node_spread"] >= 1.0

    resnet = sections["executor"]["resnet"]
    assert resnet["eager_output_abs_max"] > 0
    assert resnet["max_abs_error_vs_eager"] < 1e-3 * max(1.0, resnet["eager_output_abs_max"])

    fallback = sections["fallback"]["rows"]
    assert {row["converter"] for row in fallback} == set(load_fallback_cases())
    for row in fallback:
        assert "error" not in row, row
        assert sum(row["converter_layers"].values()) > 0 and row["engine_layers"] >= sum(row["converter_layers"].values())

    coverage = sections["coverage"]
    stacks = [row["stack"] for row in coverage["rows"]]
    assert stacks.count("upstream") == stacks.count("trt_dyn") >= 4
    ours = [row for row in coverage["rows"] if row["stack"] == "trt_dyn"]
    # every pattern of the tiny suite compiles to one engine with trt_dyn; upstream leaves some to PyTorch or fails
    assert all(row["full"]["ok"] and row["partitioned"]["pytorch_nodes"] == 0 for row in ours)
    upstream = coverage["summary"]["upstream"]
    assert upstream["one_engine_full_compilation"] < len(ours)

    (vit,) = sections["zoo"]["rows"]
    assert "error" not in vit, vit.get("traceback")
    assert vit["engines"] == 1 and vit["pytorch_nodes"] == 0 and vit["layers"] > 0
    assert len(vit["sizes"]) == 3 and all(size["ok"] and size["max_rel"] < 1e-4 for size in vit["sizes"].values())
    assert not vit["upstream"]["full_compilation"]["ok"]

    layers = {row["subject"]: row for row in sections["onnx_layers"]["rows"]}
    topk, nonzero = layers["TopKMin (k = min(100, N))"], layers["NonzeroGather x[nonzero(m)]"]
    assert topk["onnx"]["built"] and topk["trt_dyn"]["built"] and topk["onnx"]["layers"] > 0
    assert topk["ratio_trt_dyn_over_onnx"] == topk["trt_dyn"]["layers"] / topk["onnx"]["layers"]
    assert sum(topk["trt_dyn"]["layer_types"].values()) == topk["trt_dyn"]["layers"]
    # TensorRT-RTX's ONNX parser has no NonZero; trt_dyn builds it from native layers
    assert not nonzero["onnx"]["built"] and "NonZero" in nonzero["onnx"]["error"] and nonzero["trt_dyn"]["built"]
    assert "ratio_trt_dyn_over_onnx" not in nonzero and "NonzeroGather" in sections["onnx_layers"]["table"]
    assert not topk["upstream"]["built"]  # torch_tensorrt alone leaves topk to PyTorch


def load_fallback_cases():
    import fallback_cost

    return fallback_cost.CASES
