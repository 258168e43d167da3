"""tools/quiet_upstream.py (./dev demo's filter): upstream noise counted by kind, trt_dyn's own lines kept."""

import importlib.util
import io
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

NOISE = """WARNING: [Torch-TensorRT] - Unable to read CUDA capable devices. Return status: 35
Unable to import quantization op. Please install modelopt library (https://github.com/NVIDIA/TensorRT-Model-Optimizer) to add support
Unable to import quantize op. Please install modelopt library (https://github.com/NVIDIA/TensorRT-Model-Optimizer) to add support
W1201 18:33:17.618000 27763 .venv/lib/python3.11/site-packages/torch/_opaque_base.py:6] torch._opaque_base is deprecated
I1201 18:33:18.000000 27763 torch/fx/experimental/symbolic_shapes.py:4000] create_symbol s0 = 256 for L['x'].size()[2]
WARNING:torch_tensorrt.dynamo._compiler:Remaining GPU memory may not be enough to compile the TensorRT engine
/work/main/.venv/lib/python3.11/site-packages/torch_tensorrt/dynamo/_exporter.py:921: UserWarning: Attempted to insert
  engine_node = gm.graph.get_attr(engine_name)
WARNING:py.warnings:/work/main/.venv/lib/python3.11/site-packages/torch_tensorrt/dynamo/conversion/impl/elementwise/base.py:109: UserWarning: Both operands
  warnings.warn(

"""

KEPT = """

[4/5] compiling with trt_dyn, require_full_compilation=True (engine built on the CPU)
  converting FX nodes to TensorRT layers: 3/14
| model | graph nodes | TRT engines |
/work/main/trt_dyn/lowering/dyn_pass.py:120: UserWarning: trt_dyn: aten.roll.default left to PyTorch
  warnings.warn(message)
Traceback (most recent call last):
RuntimeError: Specified output dtypes (78) differ from number of outputs (80)
ERROR:torch_tensorrt.dynamo._compiler:the build failed
"""


def load_tool():
    spec = importlib.util.spec_from_file_location("quiet_upstream", ROOT / "tools" / "quiet_upstream.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_noise_is_counted_and_everything_else_passes_in_order():
    tool = load_tool()
    noise, kept = NOISE.splitlines(keepends=True), KEPT.splitlines(keepends=True)
    # interleaved as they come; a Python warning is followed by its echoed source line
    mixed = [line for pair in zip(noise[:6], kept[:6]) for line in pair] + noise[6:] + kept[6:]
    out = io.StringIO()
    counts = tool.summarise(mixed, out)
    text = out.getvalue()
    body, summary = text.split("\nupstream messages summarised", 1)
    assert body.splitlines() == KEPT.splitlines()
    assert sum(counts.values()) == len(noise) - 3  # echoed source lines (and logging's blank) belong to their warning
    assert counts["torch_tensorrt: modelopt not installed (only quantized models need it)"] == 2
    assert counts["torch log lines (W/I: deprecations, dynamo and export notes)"] == 2
    assert counts["Python warnings raised inside torch / torch_tensorrt / torchvision"] == 2
    assert "(8 lines; ./dev demo --verbose shows them)" in summary
    assert "2 x torch_tensorrt: modelopt not installed" in summary


def test_a_clean_run_prints_no_summary():
    out = io.StringIO()
    assert not load_tool().summarise(KEPT.splitlines(keepends=True), out)
    assert out.getvalue() == KEPT
