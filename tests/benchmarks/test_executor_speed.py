"""benchmarks/executor_speed.py runs end to end (tiny configuration) and writes its JSON."""

import importlib.util
import json
import os

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def load_benchmark():
    path = os.path.join(ROOT, "benchmarks", "executor_speed.py")
    spec = importlib.util.spec_from_file_location("executor_speed", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_tiny_configuration_runs_and_matches_eager(tmp_path, capsys):
    out = tmp_path / "executor_speed.json"
    assert load_benchmark().main(["--tiny", "--repeats", "1", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| model |" in printed and "resnet-tiny" in printed
    payload = json.loads(out.read_text())
    result = payload["result"]
    assert payload["tiny"] is True and payload["machine"]["torch"]
    assert result["layers"] > 20 and result["median_run_s"] > 0
    # the executor's output is compared with eager inside the benchmark; it must be a real match
    assert result["eager_output_abs_max"] > 0
    assert result["max_abs_error_vs_eager"] < 1e-3 * max(1.0, result["eager_output_abs_max"])
