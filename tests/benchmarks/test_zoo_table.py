"""benchmarks/zoo.py's torch_tensorrt-alone cell says which pass failed and how, from the recorded traceback."""

import os
import sys

import torch

from trt_dyn.testing.upstream import _first_line, _raised_in

BENCHMARKS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "benchmarks")
if BENCHMARKS not in sys.path:
    sys.path.insert(0, BENCHMARKS)

import zoo  # noqa: E402


def fuse_pads(pad):
    return any(amount < 0 for amount in pad)


def failed_compile():
    """What the upstream worker records when a pass compares a symbolic pad (an fx Node) with 0."""
    symbolic_pad = torch.fx.Graph().placeholder("pad_w")
    try:
        fuse_pads([0, symbolic_pad])
    except TypeError as error:
        return {"ok": False, "error": _first_line(error), "raised_in": _raised_in(error), "unsupported_ops": {}}
    raise AssertionError("comparing an fx Node with 0 did not raise")


def test_raised_in_names_the_function_holding_the_comprehension():
    result = failed_compile()
    assert result["error"] == "TypeError: '<' not supported between instances of 'Node' and 'int'"
    # the innermost frame is the generator expression; the function around it is what failed
    assert result["raised_in"]["function"] == "fuse_pads"
    assert "amount < 0" in result["raised_in"]["code"]


def test_cell_names_the_torch_tensorrt_pass_and_the_comparison_once():
    failed = failed_compile()
    failed["raised_in"]["file"] = "torch_tensorrt/dynamo/lowering/passes/fuse_pads.py"  # as under site-packages
    cell = zoo._upstream_cell({"partitioned": failed, "full_compilation": dict(failed)})
    assert cell == ("both compiles fail: torch_tensorrt's lowering pass `fuse_pads` compares a symbolic size (fx Node) "
                    "with an int (`amount < 0`): TypeError")


def test_cell_names_the_converter_and_its_line_for_other_errors():
    failed = {"ok": False, "error": "RuntimeError: Could not infer dtype of tensorrt_rtx_bindings.tensorrt_rtx.ITensor",
              "raised_in": {"file": "torch_tensorrt/dynamo/conversion/impl/full.py", "function": "full", "line": 27,
                            "code": "fill_value_tensor = torch.tensor(fill_value)"}, "unsupported_ops": {}}
    cell = zoo._upstream_cell({"partitioned": failed, "full_compilation": {"ok": True, "engines": 1,
                                                                           "pytorch_nodes": 0}})
    assert cell == ("partitioned compile fails: RuntimeError in torch_tensorrt's converter `full` "
                    "(`fill_value_tensor = torch.tensor(fill_value)`): Could not infer dtype of ITensor / ok")


def test_cell_for_partitioned_engines_and_refused_full_compilation_on_the_topk_export():
    result = {
        "partitioned": {"ok": True, "engines": 4, "pytorch_nodes": 10, "unsupported_ops": {}},
        "full_compilation": {
            "ok": False,
            "error": "AssertionError: require_full_compilation=True was specified, but model is not fully supported",
            "unsupported_ops": {"_operator.getitem": 3, "aten.topk.default": 2},
        },
    }
    assert zoo._upstream_cell(result, "nms='topk' export") == (
        "4 / 10 / refused: not fully supported; no converter: aten.topk.default x2 "
        "(measured on the NMS -> top-k export)")


def test_worker_failure_cell_shows_the_exception_that_ended_the_worker():
    error = RuntimeError("upstream worker failed (exit 1):\nTraceback (most recent call last):\n  File \"x.py\"\n"
                         "RuntimeError: Unable to load program")
    assert zoo._last_line(error) == "RuntimeError: Unable to load program"


def test_merge_keeps_each_runs_rows_with_their_dates_and_refuses_a_model_twice(tmp_path):
    import json

    import pytest

    def run(path, names):
        rows = [{"model": name, "date": f"2026-12-01 20:0{i} UTC", "load_avg_start": [5.0, 5.0, 5.0]}
                for i, name in enumerate(names)]
        path.write_text(json.dumps({"machine": {"cores": 2}, "rows": rows, "models_requested": names}))
        return str(path)

    first = run(tmp_path / "a.json", ["vit_dynamic_resolution", "swin_t"])
    second = run(tmp_path / "b.json", ["fasterrcnn_mobilenet_v3_large_fpn"])
    merged = zoo.merge_runs([first, second])
    assert [row["model"] for row in merged["rows"]] == ["fasterrcnn_mobilenet_v3_large_fpn", "swin_t",
                                                        "vit_dynamic_resolution"]  # the zoo's order
    assert merged["rows"][1]["date"] == "2026-12-01 20:01 UTC" and merged["jobs"] == 2
    assert "2 zoo.py runs" in merged["concurrency_note"]
    with pytest.raises(ValueError, match="swin_t is in two runs"):
        zoo.merge_runs([first, run(tmp_path / "c.json", ["swin_t"])])
