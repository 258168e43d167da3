"""README.md is executed: its Python blocks run, its calls bind, its names resolve, its paths exist.

* Every fenced ``python`` block runs in a fresh interpreter, after :data:`PRELUDE` (``torch``, a small
  ``model``, example ``images`` and the exported ``program`` the README's placeholders stand for). A block
  that needs a GPU is skipped with the reason; a block preceded by ``<!-- readme-test: illustrative ... -->``
  is a sketch with placeholders and is skipped with the marker's text.
* Every inline call on ``program`` (``trt_dyn.build.build_engine(program)``, ...) runs on the prelude's program,
  in a fresh interpreter that imported nothing but ``trt_dyn``; its result is checked against eager.
* Every other ``trt_dyn.`` name in backticks resolves after ``import trt_dyn`` alone, and every inline call
  binds to the function's signature (argument names as written).
* Every repository path in backticks exists.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from trt_dyn.testing.gpu import gpu_skip_reason

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
ILLUSTRATIVE = re.compile(r"<!--\s*readme-test:\s*illustrative\b(.*?)-->")
NEEDS_GPU = ("torch_tensorrt.dynamo.compile(", ".cuda()", "torch_tensorrt.load(")

#: what the README's placeholders stand for: a conv model whose output size is computed from H and W
PRELUDE = '''
import torch
from torch.export import Dim


class Model(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, images):
        features = torch.relu(self.conv(images))
        return torch.nn.functional.interpolate(features, size=(images.shape[2] // 2, images.shape[3] // 2))


torch.manual_seed(0)
model = Model().eval()
images = torch.randn(1, 3, 48, 80)
dynamic = ({2: Dim("h", min=32, max=96), 3: Dim("w", min=32, max=96)},)
program = torch.export.export(model, (images,), dynamic_shapes=dynamic)
'''


def python_blocks():
    """(first line number, code, illustrative marker text or None) of each ```python block."""
    lines = README.read_text().splitlines()
    blocks = []
    index = 0
    while index < len(lines):
        if lines[index].strip() == "```python":
            previous = next((line for line in reversed(lines[:index]) if line.strip()), "")
            marker = ILLUSTRATIVE.search(previous)
            end = next(j for j in range(index + 1, len(lines)) if lines[j].strip() == "```")
            blocks.append((index + 2, textwrap.dedent("\n".join(lines[index + 1:end])),
                           marker.group(1).strip() if marker else None))
            index = end
        index += 1
    return blocks


def inline_code():
    """Contents of single-backtick spans outside fenced blocks."""
    text = re.sub(r"```.*?```", "", README.read_text(), flags=re.S)
    return re.findall(r"`([^`\n]+)`", text)


def inline_calls():
    """Inline spans that parse as one call of a ``trt_dyn.`` function."""
    calls = []
    for span in inline_code():
        if not span.startswith("trt_dyn."):
            continue
        try:
            tree = ast.parse(span, mode="eval").body
        except SyntaxError:
            continue
        if isinstance(tree, ast.Call):
            calls.append(span)
    return calls


def run_python(code, cwd, *args, timeout=600):
    result = subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, capture_output=True, text=True,
                            timeout=timeout)
    assert result.returncode == 0, f"failed:\n{code}\n---\n{result.stderr[-5000:]}"
    return result.stdout


@pytest.mark.parametrize("line, code, illustrative",
                         [pytest.param(*block, id=f"line{block[0]}") for block in python_blocks()])
def test_python_block_runs(line, code, illustrative, tmp_path):
    if illustrative is not None:
        pytest.skip(f"README line {line} is marked illustrative: {illustrative}")
    if any(marker in code for marker in NEEDS_GPU):
        reason = gpu_skip_reason()
        if reason:
            pytest.skip(f"README line {line} needs a GPU: {reason}")
    run_python(PRELUDE + "\n" + code, tmp_path)


def test_readme_has_blocks_and_calls():
    assert len(python_blocks()) >= 2
    assert {"trt_dyn.build.build_engine(program)", "trt_dyn.testing.compile_cpu(program)",
            "trt_dyn.report(program)"} <= set(inline_calls())


# what each inline call on ``program`` must give (checked in the subprocess, against eager)
CHECKS = {
    "trt_dyn.build.build_engine": "assert len(result.serialized_engine) > 1000 and result.network.num_layers > 0",
    "trt_dyn.testing.compile_cpu": (
        "assert result.num_trt_engines == 1 and not result.pytorch_nodes\n"
        "for shape in ((1, 3, 32, 32), (1, 3, 96, 96), (1, 3, 41, 77)):\n"
        "    x = torch.randn(shape)\n"
        "    torch.testing.assert_close(result(x), model(x), rtol=1e-4, atol=1e-4)"
    ),
    "trt_dyn.report": "assert result.ok and result.dynamic and not result.missing, str(result)",
    "trt_dyn.aot.compile_to_file": (
        "import os\nassert os.path.getsize(result.path) > 1000 and len(result.engines) == 1"
    ),
}


RESOLVE = '''
import ast, inspect, json, sys
import trt_dyn

problems = []
for span in json.loads(sys.argv[1]):
    expression = ast.parse(span, mode="eval").body
    call = expression if isinstance(expression, ast.Call) else None
    dotted = ast.unparse(call.func if call else expression)
    obj = trt_dyn
    try:
        for part in dotted.split(".")[1:]:
            obj = getattr(obj, part)
    except AttributeError as error:
        problems.append(f"{span}: {error}")
        continue
    if call is None or any(isinstance(a, ast.Starred) for a in call.args):
        continue
    keywords = {k.arg: None for k in call.keywords if k.arg is not None}
    try:
        inspect.signature(obj).bind(*[None] * len(call.args), **keywords)
    except TypeError as error:
        problems.append(f"{span}: {error}")
assert not problems, "\\n".join(problems)
print("resolved", len(json.loads(sys.argv[1])))
'''


def named_spans():
    """Inline spans naming a ``trt_dyn.`` object or calling one (``(...)``: any arguments, name only)."""
    spans = []
    for span in inline_code():
        candidate = span.replace("(...)", "")
        if not re.match(r"trt_dyn\.[A-Za-z_]", candidate):
            continue
        try:
            ast.parse(candidate, mode="eval")
        except SyntaxError:
            continue
        spans.append(candidate)
    return spans


def test_names_resolve_and_calls_run_after_import_trt_dyn(tmp_path):
    """One fresh interpreter: ``import trt_dyn``, every README name resolves and every call binds to its
    signature; then each call on ``program`` runs on the prelude's program and is checked against eager."""
    spans = named_spans()
    assert len(spans) >= 20
    calls = [span for span in inline_calls() if "program" in span.split("(", 1)[1]]
    runnable = [span for span in calls if "**" not in span and "..." not in span]
    assert {span.split("(")[0] for span in runnable} == set(CHECKS), runnable
    code = [RESOLVE, PRELUDE]
    for span in runnable:
        code.append(f"result = {span}\n{CHECKS[span.split('(')[0]]}\nprint('ran', {span!r})")
    output = run_python("\n".join(code), tmp_path, json.dumps(spans))
    assert f"resolved {len(spans)}" in output
    assert output.count("ran ") == len(runnable)


PATH = re.compile(r"^(?:trt_dyn|tests|docs|benchmarks|tools|csrc|\.ci)/[\w./-]*$|^[\w-]+\.(?:md|toml|txt)$|^\./dev$")


def test_repository_paths_exist():
    paths = {span.split()[0] for span in inline_code() if PATH.match(span.split()[0])}
    assert len(paths) >= 10
    missing = sorted(path for path in paths if not (ROOT / path).exists())
    assert missing == [], f"README names paths that do not exist: {missing}"
