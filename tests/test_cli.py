"""``trt-dyn report`` on saved programs: exit status, table, JSON with the user's source line."""

import inspect
import json
import subprocess
import sys

import pytest
import torch

import trt_dyn  # noqa: F401


class Rolled(torch.nn.Module):
    def forward(self, x):
        y = x * 2
        return torch.roll(y, shifts=x.shape[1] // 2, dims=1)  # a symbolic shift: no dyn variant


class Padded(torch.nn.Module):
    def forward(self, x):
        return torch.nn.functional.pad(x, (0, x.shape[1] % 4)) + 1


def _save(module, path):
    x = torch.randn(2, 10)
    program = torch.export.export(module, (x,), dynamic_shapes=({1: torch.export.Dim("w", min=4, max=64)},))
    torch.export.save(program, path)
    return path


def _run(*args):
    return subprocess.run([sys.executable, "-m", "trt_dyn", *args], capture_output=True, text=True, timeout=300)


def _roll_line():
    lines, first = inspect.getsourcelines(Rolled.forward)
    return first + next(i for i, text in enumerate(lines) if "torch.roll" in text)


def test_report_json_names_the_op_node_and_source_line(tmp_path):
    path = _save(Rolled(), tmp_path / "rolled.pt2")
    done = _run("report", str(path), "--json")
    assert done.returncode == 1, done.stderr
    result = json.loads(done.stdout)
    assert result["dynamic"] is True and result["ok"] is False
    [entry] = result["missing"]
    assert entry["op"] == "aten.roll.default"
    assert entry["file"] == __file__ and entry["line"] == _roll_line()
    assert "torch.roll" in entry["code"]


def test_report_table_and_status_zero_when_covered(tmp_path):
    path = _save(Padded(), tmp_path / "padded.pt2")
    done = _run("report", str(path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "OK, every symbolic value reaches a dyn op" in done.stdout
    assert "aten.constant_pad_nd.default" in done.stdout


def test_report_refuses_a_file_that_is_not_a_program(tmp_path):
    bogus = tmp_path / "bogus.pt2"
    bogus.write_bytes(b"not a program")
    done = _run("report", str(bogus))
    assert done.returncode == 2
    assert "cannot load" in done.stderr and "bogus.pt2" in done.stderr


@pytest.mark.parametrize("argv", [["report"], ["nonsense"]])
def test_bad_command_lines_exit_with_usage(argv):
    done = _run(*argv)
    assert done.returncode == 2 and "usage: trt-dyn" in done.stderr
