"""trt_dyn._hooks: every assumption about torch_tensorrt internals holds, and nothing else touches them."""

import ast
import operator
import os
import subprocess
import types

import pytest
import torch

import trt_dyn
from trt_dyn import _hooks
from pass_spies import pre_export_spy

PACKAGE = os.path.dirname(trt_dyn.__file__)


@pytest.mark.parametrize("assumption", _hooks.ASSUMPTIONS, ids=lambda a: a.name)
def test_assumption_holds(assumption):
    problem = assumption.check()
    assert problem is None, f"torch_tensorrt assumption broken: {assumption.name} ({assumption.where}): {problem}"


def test_checks_report_what_is_missing():
    # each checker must be able to fail, naming the location
    assert "no attribute 'nope'" in _hooks.has_attribute("torch_tensorrt.dynamo._compiler", "nope")
    assert "cannot be imported" in _hooks.has_attribute("torch_tensorrt.no_such_module", "x")
    message = _hooks.accepts("torch_tensorrt.dynamo._compiler", "convert_module", ["module", "not_a_parameter"])
    assert "not_a_parameter" in message and "convert_module" in message
    message = _hooks.looks_up_global("torch_tensorrt.dynamo._compiler", "compile_module", "no_such_global")
    assert "no_such_global" in message and "compile_module" in message


def test_checks_see_a_moved_global(monkeypatch):
    # a function that calls a name it imported locally does not read the module global any more
    fake = types.ModuleType("fake_upstream")
    exec("def convert_module():\n    pass\n"
         "def compile_module():\n    from os import path as convert_module\n    return convert_module\n",
         fake.__dict__)
    monkeypatch.setitem(__import__("sys").modules, "fake_upstream", fake)
    assert _hooks.looks_up_global("fake_upstream", "compile_module", "convert_module") is not None
    exec("def compile_module():\n    return convert_module()\n", fake.__dict__)
    assert _hooks.looks_up_global("fake_upstream", "compile_module", "convert_module") is None


def test_acceptance_grep_finds_no_private_access_outside_hooks():
    found = subprocess.run(["git", "grep", "-n", r"torch_tensorrt.dynamo.*\._", "--", PACKAGE],
                           capture_output=True, text=True, cwd=PACKAGE).stdout.splitlines()
    outside = [line for line in found if "_hooks" not in line]
    assert outside == [], "private torch_tensorrt access outside trt_dyn/_hooks.py:\n" + "\n".join(outside)


def _private_touches(path):
    """Imports of private torch_tensorrt names and assignments to torch.cuda / torch_tensorrt attributes."""
    tree = ast.parse(open(path).read(), path)
    touches = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("torch_tensorrt"):
            names = [a.name for a in node.names]
            if any(p.startswith("_") for p in node.module.split(".")) or any(n.startswith("_") for n in names):
                touches.append(f"line {node.lineno}: from {node.module} import {', '.join(names)}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("torch_tensorrt") and any(p.startswith("_") for p in alias.name.split(".")):
                    touches.append(f"line {node.lineno}: import {alias.name}")
        elif isinstance(node, (ast.Assign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Attribute) and ast.unparse(target.value) in ("torch.cuda",):
                    touches.append(f"line {node.lineno}: assigns {ast.unparse(target)}")
        elif isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.endswith("__") and \
                ast.unparse(node.value).startswith("torch_tensorrt"):
            touches.append(f"line {node.lineno}: {ast.unparse(node)}")
    return touches


def test_no_private_access_outside_hooks():
    offenders = {}
    for root, _, files in os.walk(PACKAGE):
        for name in files:
            path = os.path.join(root, name)
            if name.endswith(".py") and path != _hooks.__file__:
                touches = _private_touches(path)
                if touches:
                    offenders[os.path.relpath(path, PACKAGE)] = touches
    assert offenders == {}, f"touch torch_tensorrt / torch.cuda internals outside trt_dyn/_hooks.py: {offenders}"


def test_private_touch_detector_can_fail(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("from torch_tensorrt.dynamo import _compiler\nimport torch\n"
                      "torch.cuda.current_device = lambda: 0\nx = torch_tensorrt.Input._ShapeMode\n")
    touches = _private_touches(str(sample))
    assert len(touches) == 3, touches


def test_after_placeholder_keeps_one_callback_per_name():
    from torch_tensorrt.dynamo.conversion._TRTInterpreter import TRTInterpreter

    from trt_dyn.converters import selection

    callbacks = TRTInterpreter.placeholder._trt_dyn_callbacks
    before = list(callbacks)
    _hooks.after_placeholder(selection.relax_inputs_feeding_data_dependent_sizes)
    assert callbacks == before
    assert sum(getattr(c, "__name__", "") == "relax_inputs_feeding_data_dependent_sizes" for c in callbacks) == 1


def test_without_converters_restores_the_registry():
    target = torch.ops.trt_dyn.reshape_dyn.default
    before = _hooks.registered_converters(target)
    assert any(c.__module__.startswith("trt_dyn") for c in before)
    with _hooks.without_converters(lambda implementation: implementation.__module__.startswith("trt_dyn")):
        assert not any(c.__module__.startswith("trt_dyn") for c in _hooks.registered_converters(target))
    assert _hooks.registered_converters(target) == before


def test_passes_installed_once_after_other_upstream_passes():
    from trt_dyn.lowering import pipeline

    pipeline.register()
    pipeline.register()
    keys = _hooks.installed_passes(pipeline.PASSES)
    assert keys == [_hooks._pass_key(fn) for fn in pipeline.PASSES]
    names = [getattr(fn, "__name__", "") for fn in _hooks.post_lowering_passes()]
    assert names[-len(pipeline.PASSES):] == [fn.__name__ for fn in pipeline.PASSES]
    guarded = _hooks.post_lowering_passes()[names.index("fuse_pad_into_convolution")]
    assert getattr(guarded, "_trt_dyn_guarded", False)


def test_segment_conversion_restored_after_an_error():
    before = _hooks.compile_functions()
    with pytest.raises(RuntimeError, match="inside"):
        with _hooks.segments_converted_by(lambda original: None, segments_on_cpu=True):
            assert _hooks.compile_functions() != before
            raise RuntimeError("inside")
    assert _hooks.compile_functions() == before


def test_passes_before_is_the_registered_prefix():
    from trt_dyn.lowering import pipeline
    from trt_dyn.lowering.dyn_pass import dyn_lowering_pass

    pipeline.register()
    registered = _hooks.post_lowering_passes()
    before = _hooks.passes_before(dyn_lowering_pass)
    assert before == registered[:len(before)]
    assert _hooks._pass_key(registered[len(before)]) == _hooks._pass_key(dyn_lowering_pass)
    assert before[-1].__name__ == "data_dependent_pass" and "remove_assert_nodes" in [p.__name__ for p in before]

    def never_registered(gm, settings):
        return gm

    with pytest.raises(LookupError, match="never_registered"):
        _hooks.passes_before(never_registered)


def test_decompositions_follow_the_compilation_settings():
    plain = _hooks.decompositions()
    assert set(plain) == set(_hooks.decompositions(_hooks.compilation_settings()))
    attention = _hooks.decompositions(_hooks.compilation_settings(decompose_attention=True))
    assert set(plain) < set(attention)
    assert torch.ops.aten.scaled_dot_product_attention.default in set(attention) - set(plain)


class _Detached(torch.nn.Module):
    def forward(self, x):
        return x.detach() * 2.0 + 1.0


def test_lower_before_decomposing_runs_the_live_pre_export_list_in_place():
    """``dynamo.compile``'s pre-export lowering reads its pass list at each call and changes the program it is
    handed (trt_dyn's report hands it a copy)."""
    from torch.export import Dim

    program = torch.export.export(_Detached(), (torch.randn(3, 5),), dynamic_shapes=({0: Dim("N", min=2, max=9)},))
    settings = _hooks.compilation_settings()
    with pre_export_spy() as calls:
        lowered = _hooks.lower_before_decomposing(program, settings)
    assert lowered is program and [(gm, given) for gm, given, _ in calls] == [(program.graph_module, settings)]
    assert "remove_detach" in [getattr(p, "__name__", "") for p in _hooks.pre_export_passes()]
    assert not any(node.target == torch.ops.aten.detach.default for node in program.graph.nodes)
    for rows in (2, 4, 9):
        x = torch.randn(rows, 5)
        torch.testing.assert_close(program.module()(x), x * 2.0 + 1.0, rtol=0, atol=0)


def test_upstream_converter_is_torch_tensorrts_choice_never_ours():
    from trt_dyn.lowering.pipeline import as_the_dyn_lowering_sees_it

    class ConvNorm(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 4, 3)
            self.norm = torch.nn.BatchNorm2d(4)

        def forward(self, x):
            return self.norm(self.conv(x))

    program = torch.export.export(ConvNorm().eval(), (torch.randn(1, 3, 9, 9),), strict=False)
    graph = as_the_dyn_lowering_sees_it(program).graph
    (conv,) = graph.find_nodes(op="call_function", target=torch.ops.aten.convolution.default)
    (norm,) = graph.find_nodes(op="call_function", target=torch.ops.aten._native_batch_norm_legit_no_training.default)
    assert _hooks.registered_converters(conv.target)[0].__module__.startswith("trt_dyn.")  # ours comes first
    chosen = _hooks.upstream_converter(conv)
    assert chosen.__module__.startswith("torch_tensorrt.") and chosen.__name__ == "aten_ops_convolution"
    assert _hooks.upstream_converter(norm).__name__ == "aten_ops_batch_norm_legit_no_training"
    # torch_tensorrt's own validator still decides: with the mean output read too, it takes no such node
    with graph.inserting_after(norm):
        graph.call_function(operator.getitem, (norm, 1))
    assert _hooks.upstream_converter(norm) is None
