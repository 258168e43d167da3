"""compile_cpu: torch_tensorrt's own partitioning and conversion, engines run by the CPU executor."""

import pytest
import torch
import torchvision  # noqa: F401  (registers torchvision::roi_align before export)
from torch.export import Dim
from torchvision.ops import roi_align

import trt_dyn  # noqa: F401
from trt_dyn.testing.compile_cpu import GpuUnavailableError, compile_cpu
from trt_dyn.testing.gpu import gpu_skip_reason
from trt_dyn.testing.harness import ENGINE_MODES, compare_outputs, upstream_converters_only


class RoIHead(torch.nn.Module):
    """Conv features -> roi_align (no upstream converter) -> linear classifier."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.fc = torch.nn.Linear(8 * 4 * 4, 5)

    def forward(self, image, boxes):
        features = torch.relu(self.conv(image))
        pooled = roi_align(features, [boxes], output_size=(4, 4), spatial_scale=0.5, sampling_ratio=2, aligned=True)
        return self.fc(pooled.flatten(1)).softmax(-1), features.mean()


def random_boxes(count, size, generator):
    corners = torch.rand(count, 2, 2, generator=generator) * size
    low, high = corners.min(dim=1).values, corners.max(dim=1).values
    return torch.cat([low, high + 1.0], dim=1)


@pytest.fixture(scope="module")
def roi_compiled():
    torch.manual_seed(0)
    model = RoIHead().eval()
    image = torch.randn(1, 3, 24, 24)
    boxes = random_boxes(6, 48, torch.Generator().manual_seed(1))
    rois = Dim("rois", min=1, max=16)
    program = torch.export.export(model, (image, boxes), dynamic_shapes={"image": None, "boxes": {0: rois}})
    with upstream_converters_only():
        return model, compile_cpu(program, min_block_size=1)


def test_roi_align_is_left_to_pytorch_between_two_engines(roi_compiled):
    _, compiled = roi_compiled
    assert compiled.num_trt_engines >= 2
    assert [node.target for node in compiled.pytorch_nodes] == ["torchvision.roi_align.default"]
    assert set(compiled.serialized_engines) == {engine.name for engine in compiled.engines}
    assert all(name.startswith("_run_on_acc_") for name in compiled.serialized_engines)
    assert all(len(blob) > 0 for blob in compiled.serialized_engines.values())
    assert "aten.convolution.default" in compiled.segment_ops[compiled.engines[0].name]


def test_roi_align_with_trt_dyn_converter_is_one_engine_unless_torch_executed():
    torch.manual_seed(0)
    model = RoIHead().eval()
    image = torch.randn(1, 3, 24, 24)
    boxes = random_boxes(6, 48, torch.Generator().manual_seed(1))
    program = torch.export.export(model, (image, boxes))
    assert compile_cpu(program, min_block_size=1).num_trt_engines == 1
    split = compile_cpu(program, min_block_size=1, torch_executed_ops={"torch.ops.torchvision.roi_align.default"})
    assert split.num_trt_engines == 2
    assert [node.target for node in split.pytorch_nodes] == ["torchvision.roi_align.default"]
    with torch.no_grad():
        compare_outputs(split(image, boxes), model(image, boxes))


def test_global_partitioner_leaves_the_same_node_to_pytorch():
    torch.manual_seed(0)
    model = RoIHead().eval()
    image = torch.randn(1, 3, 24, 24)
    boxes = random_boxes(4, 48, torch.Generator().manual_seed(2))
    program = torch.export.export(model, (image, boxes))
    with upstream_converters_only():
        compiled = compile_cpu(program, min_block_size=1, use_fast_partitioner=False)
    assert compiled.num_trt_engines >= 2
    assert [node.target for node in compiled.pytorch_nodes] == ["torchvision.roi_align.default"]
    with torch.no_grad():
        compare_outputs(compiled(image, boxes), model(image, boxes))


@pytest.mark.parametrize("count", [1, 5, 16])
def test_partitioned_model_matches_eager(roi_compiled, count):
    model, compiled = roi_compiled
    generator = torch.Generator().manual_seed(100 + count)
    image = torch.randn(1, 3, 24, 24, generator=generator)
    boxes = random_boxes(count, 48, generator)
    with torch.no_grad():
        compare_outputs(compiled(image, boxes), model(image, boxes), where=f"{count} boxes")


class ConvBlock(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3, stride=2, padding=1)
        self.norm = torch.nn.BatchNorm2d(4)

    def forward(self, x):
        y = torch.relu(self.norm(self.conv(x)))
        return y.flatten(2).transpose(1, 2), y.sum(dim=(2, 3))


@pytest.fixture(scope="module")
def conv_program():
    torch.manual_seed(0)
    model = ConvBlock().eval()
    with torch.no_grad():
        model.norm.running_mean.uniform_(-1, 1)
        model.norm.running_var.uniform_(0.5, 2)
    batch = Dim("batch", min=1, max=4)
    program = torch.export.export(model, (torch.randn(2, 3, 16, 16),), dynamic_shapes={"x": {0: batch}})
    return model, program


@pytest.mark.parametrize("run_engines", ENGINE_MODES)
def test_full_compilation_dynamic_batch(conv_program, run_engines):
    model, program = conv_program
    compiled = compile_cpu(program, run_engines=run_engines, require_full_compilation=True, min_block_size=1)
    assert compiled.num_trt_engines == 1
    assert compiled.pytorch_nodes == []
    assert compiled.engines[0].profiles[0]["x"] == ((1, 3, 16, 16), (2, 3, 16, 16), (4, 3, 16, 16))
    for batch in (1, 2, 3, 4):
        x = torch.randn(batch, 3, 16, 16, generator=torch.Generator().manual_seed(batch))
        with torch.no_grad():
            compare_outputs(compiled(x), model(x), where=f"batch {batch}")


def test_torch_executed_ops_split_the_graph(conv_program):
    model, program = conv_program
    compiled = compile_cpu(program, min_block_size=1, torch_executed_ops={"torch.ops.aten.relu.default"})
    assert [node.target for node in compiled.pytorch_nodes] == ["aten.relu.default"]
    assert compiled.num_trt_engines == 2
    x = torch.randn(3, 3, 16, 16, generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        compare_outputs(compiled(x), model(x))


def test_engine_module_binds_inputs_by_name_and_order():
    class TwoInputs(torch.nn.Module):
        def forward(self, a, b):
            return a - 2 * b, b * a.sum()

    a, b = torch.randn(3, 4), torch.randn(3, 4)
    program = torch.export.export(TwoInputs(), (a, b))
    compiled = compile_cpu(program, min_block_size=1)
    name = compiled.engines[0].name
    engine_module = getattr(compiled.graph_module, name)
    (call,) = [node for node in compiled.graph_module.graph.nodes if node.target == name]
    # torch_tensorrt orders a segment's inputs its own way; the parent passes them in that order
    assert sorted(engine_module.input_binding_names) == ["a", "b"]
    assert [arg.name for arg in call.args] == engine_module.input_binding_names
    # swapped inputs must give the swapped result: the binding is positional in placeholder order
    compare_outputs(compiled(b, a), TwoInputs()(b, a))
    compare_outputs(compiled(a, b), TwoInputs()(a, b))


def test_compiler_names_are_restored_even_after_a_failure(conv_program, monkeypatch):
    from torch_tensorrt.dynamo import _compiler
    from torch_tensorrt.dynamo.conversion import _conversion

    _, program = conv_program
    convert, to_device = _compiler.convert_module, _compiler.to_torch_device
    interpreter = _conversion.TRTInterpreter
    compile_cpu(program, min_block_size=1)
    assert (_compiler.convert_module, _compiler.to_torch_device) == (convert, to_device)

    def broken(*args, **kwargs):
        raise RuntimeError("conversion failed on purpose")

    monkeypatch.setattr(_conversion, "interpret_module_to_result", broken)
    with pytest.raises(RuntimeError, match="on purpose"):
        compile_cpu(program, min_block_size=1)
    assert (_compiler.convert_module, _compiler.to_torch_device) == (convert, to_device)
    assert _conversion.TRTInterpreter is interpreter


@pytest.mark.skipif(gpu_skip_reason() is None, reason="a usable GPU is present")
def test_run_engines_without_gpu_raises_with_the_reason(conv_program):
    _, program = conv_program
    with pytest.raises(GpuUnavailableError, match="no CUDA device"):
        compile_cpu(program, run_engines=True)


def test_size_computed_in_pytorch_feeds_a_shape_tensor_input():
    class ReshapeByBatch(torch.nn.Module):
        def forward(self, x):
            n = x.shape[0]
            return torch.relu(x).reshape(n, -1) * 2, torch.arange(n, dtype=torch.float32)

    model = ReshapeByBatch()
    program = torch.export.export(model, (torch.randn(3, 4, 5),), dynamic_shapes={"x": {0: Dim("b", min=1, max=8)}})
    with upstream_converters_only():
        compiled = compile_cpu(
            program, min_block_size=1, torch_executed_ops={"torch.ops.aten.sym_size.int", "torch.ops.aten.relu.default"}
        )
    (engine,) = compiled.engines
    network = engine.network
    shape_inputs = [network.get_input(i) for i in range(network.num_inputs) if network.get_input(i).is_shape_tensor]
    # torch_tensorrt passes the PyTorch-computed size as a Python int into a (1,)-shaped shape tensor
    assert [tuple(t.shape) for t in shape_inputs] == [(1,)]
    for batch in (1, 5, 8):
        x = torch.randn(batch, 4, 5, generator=torch.Generator().manual_seed(batch))
        compare_outputs(compiled(x), model(x), where=f"batch {batch}")


def test_two_threads_compile_safely_and_torch_tensorrt_is_restored(conv_program, monkeypatch):
    """Two compile_cpu calls at once: both get executor engines that match eager, and afterwards
    torch_tensorrt's names are its own again. A barrier inside torch_tensorrt's compile makes the two
    calls overlap whenever nothing serialises them (it gives up after a few seconds if something does)."""
    import threading

    from torch_tensorrt.dynamo import _compiler
    from torch_tensorrt.dynamo.conversion import _conversion

    from trt_dyn._trt import torch_tensorrt

    model, program = conv_program
    convert, to_device = _compiler.convert_module, _compiler.to_torch_device
    interpreter = _conversion.TRTInterpreter
    real_compile = torch_tensorrt.dynamo.compile
    both_inside = threading.Barrier(2)

    def overlapping_compile(*args, **kwargs):
        try:
            both_inside.wait(timeout=5)
        except threading.BrokenBarrierError:
            pass  # the other call is not inside at the same time: serialised
        return real_compile(*args, **kwargs)

    monkeypatch.setattr(torch_tensorrt.dynamo, "compile", overlapping_compile)
    results, errors = {}, {}

    def worker(key):
        try:
            results[key] = compile_cpu(program, require_full_compilation=True, min_block_size=1)
        except Exception as error:  # noqa: BLE001  (reported by the assertion below)
            errors[key] = error

    threads = [threading.Thread(target=worker, args=(key,)) for key in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    assert not errors, errors
    assert (_compiler.convert_module, _compiler.to_torch_device) == (convert, to_device)
    assert _conversion.TRTInterpreter is interpreter
    x = torch.randn(3, 3, 16, 16, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        expected = model(x)
    for key, compiled in results.items():
        assert compiled.num_trt_engines == 1 and not compiled.on_gpu
        compare_outputs(compiled(x), expected, where=f"thread {key}")


def test_input_outside_the_engine_profile_is_refused(conv_program):
    """The engine's profile is batch 1..4: batch 5 and batch 0 are refused as TensorRT refuses them."""
    from trt_dyn.testing.executor import ExecutorInputError

    model, program = conv_program
    compiled = compile_cpu(program, require_full_compilation=True, min_block_size=1)
    for batch in (5, 0):
        with pytest.raises(ExecutorInputError, match=r"outside the optimization profile \(min \(1, 3, 16, 16\), max \(4, 3, 16, 16\)\)"):
            compiled(torch.randn(batch, 3, 16, 16))


class NearestBy17(torch.nn.Module):
    def forward(self, x):
        return torch.nn.functional.interpolate(x, scale_factor=1.7, mode="nearest")  # the refused line


def test_executor_error_names_the_layer_the_node_and_the_source_line():
    """A layer the executor refuses (nearest resize by 1.7 of 12 rows: output row 17 sits on an
    undocumented float32 rounding boundary) is reported with its layer, FX node and user line."""
    from trt_dyn.testing.executor import UnsupportedLayerError

    program = torch.export.export(NearestBy17(), (torch.randn(1, 1, 12, 3),))
    compiled = compile_cpu(program, min_block_size=1)
    with pytest.raises(UnsupportedLayerError, match=r"\[RESIZE\].*upsample_nearest2d.*output index 17") as caught:
        compiled(torch.randn(1, 1, 12, 3))
    notes = "\n".join(getattr(caught.value, "__notes__", []))
    assert "FX node 'upsample_nearest2d'" in notes, notes
    assert "test_compile_cpu.py:" in notes and "# the refused line" in notes, notes


def test_compile_cpu_is_a_module_and_callable_as_the_function(monkeypatch):
    """``import trt_dyn.testing.compile_cpu as m`` gives the module; ``trt_dyn.testing.compile_cpu(...)`` compiles."""
    import inspect
    import types

    import trt_dyn.testing
    import trt_dyn.testing.compile_cpu as module

    assert isinstance(module, types.ModuleType) and module.__name__ == "trt_dyn.testing.compile_cpu"
    assert trt_dyn.testing.compile_cpu is module and inspect.isfunction(module.compile_cpu)
    assert module.CompiledModule is not None
    assert inspect.signature(module) == inspect.signature(module.compile_cpu)
    calls = []
    monkeypatch.setattr(module, "compile_cpu", lambda *args, **kwargs: calls.append((args, kwargs)) or "compiled")
    assert trt_dyn.testing.compile_cpu("program", min_block_size=1) == "compiled"
    assert calls == [(("program",), {"min_block_size": 1})]
