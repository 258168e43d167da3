"""Static graphs are untouched; missing dyn variants are reported precisely; switches; registration."""

import os
import warnings

import pytest
import torch
from torch.export import Dim

import trt_dyn
from dyn_helpers import assert_same, export_decomposed, symint_leaks
from pass_spies import pre_export_spy
from trt_dyn.lowering import MissingDynVariantError, pipeline
from trt_dyn.lowering.pytorch_fallback import original_target


class Mixed(torch.nn.Module):
    def forward(self, x):
        B, C, H, W = x.shape
        flat = x.view(B, C, H * W)
        ramp = torch.arange(W, dtype=torch.float32)
        return flat.sum(-1), x + ramp


class UsesRoll(torch.nn.Module):
    def forward(self, x):
        H = x.shape[2]
        rolled = torch.roll(x, H // 2, 2)  # offending call: no dyn variant for aten.roll
        return rolled + x.view(x.shape[0], -1, H * x.shape[3]).mean(), x.flatten(2)


def _offending_line() -> int:
    with open(__file__) as handle:
        for number, line in enumerate(handle, start=1):
            if "# offending call" in line and "torch.roll" in line:
                return number
    raise AssertionError("marker line not found")


def _roll_program():
    dims = ({2: Dim("H", min=2, max=32), 3: Dim("W", min=2, max=32)},)
    return export_decomposed(UsesRoll(), (torch.randn(1, 2, 8, 6),), dims)


def test_static_graph_is_untouched():
    ep = export_decomposed(Mixed(), (torch.randn(2, 3, 5, 7),), None)
    code = ep.graph_module.code
    trt_dyn.lower(ep)
    assert ep.graph_module.code == code
    report = trt_dyn.report(ep)
    assert report.ok and not report.dynamic and not report.rewritten

    from torch_tensorrt.dynamo._settings import CompilationSettings
    from torch_tensorrt.dynamo.lowering import post_lowering

    gm = ep.module()
    before = gm.code
    from trt_dyn.lowering.dyn_pass import dyn_lowering_pass

    assert dyn_lowering_pass(gm, CompilationSettings()).code == before
    post_lowering(gm, CompilationSettings())  # the registered pipeline on a static graph
    assert not any(str(n.target).startswith("trt_dyn.") for n in gm.graph.nodes)


def test_report_names_op_node_argument_and_source_line():
    ep = _roll_program()
    report = trt_dyn.report(ep)
    assert report.dynamic and not report.ok
    assert len(report.missing) == 1
    entry = report.missing[0]
    assert entry.op == "aten.roll.default"
    assert entry.node == "roll"
    assert entry.argument.startswith("shifts=[") and "//2" in entry.argument.replace(" ", "")
    assert entry.file == __file__
    assert entry.line == _offending_line()
    assert "torch.roll" in entry.code
    text = str(report)
    for expected in ("aten.roll.default", "roll", f"{__file__}:{_offending_line()}", "shifts"):
        assert expected in text
    # the covered ops are listed as rewritable
    assert report.rewritten.get("aten._reshape_copy.default") == 2  # view and flatten


def test_missing_variant_raises_before_changing_the_graph():
    ep = _roll_program()
    code = ep.graph_module.code
    with pytest.raises(MissingDynVariantError) as error:
        trt_dyn.lower(ep)
    assert isinstance(error.value, RuntimeError)
    assert "aten.roll.default" in str(error.value) and f":{_offending_line()}" in str(error.value)
    assert error.value.report.missing[0].node == "roll"
    assert ep.graph_module.code == code


def test_torch_tensorrt_pipeline_raises_one_error_before_conversion():
    from torch_tensorrt.dynamo._settings import CompilationSettings
    from torch_tensorrt.dynamo.lowering import post_lowering

    with pytest.raises(MissingDynVariantError) as error:
        post_lowering(_roll_program().module(), CompilationSettings())
    assert len(error.value.report.missing) == 1
    assert error.value.report.missing[0].line == _offending_line()


@pytest.mark.parametrize("how", ["setting", "env"])
def test_warn_mode_leaves_missing_nodes_to_pytorch(how, monkeypatch):
    if how == "setting":
        trt_dyn.lowering.set_on_missing("warn")
    else:
        monkeypatch.setenv("TRT_DYN_ON_MISSING", "warn")
    ep = _roll_program()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trt_dyn.lower(ep)
    assert any("aten.roll.default" in str(w.message) for w in caught)
    leaks = symint_leaks(ep.graph_module)
    # only roll and the SymInt chain feeding it (H // 2) are left to PyTorch
    chain = {"aten.roll.default", "aten.sym_size.int", str(__import__("operator").floordiv)}
    nodes = {node.name: node for node in ep.graph.nodes}
    assert leaks and {str(original_target(nodes[name].target)) for _, name, _ in leaks} == chain, leaks
    # each of them has a target torch_tensorrt has no converter for, so its partitioner leaves them to PyTorch
    assert all(nodes[name].target is not original_target(nodes[name].target) for _, name, _ in leaks)
    assert any(str(n.target) == "trt_dyn.reshape_dyn.default" for n in ep.graph.nodes)
    for h, w in ((2, 2), (8, 6), (31, 32)):
        x = torch.randn(1, 2, h, w)
        assert_same(ep.module()(x), UsesRoll()(x))


@pytest.mark.parametrize("how", ["setting", "env"])
def test_switch_turns_the_pass_off(how, monkeypatch):
    if how == "setting":
        trt_dyn.lowering.set_enabled(False)
    else:
        monkeypatch.setenv("TRT_DYN_LOWERING", "0")
    ep = _roll_program()
    code = ep.graph_module.code
    trt_dyn.lower(ep)  # no error although roll has no variant: the pass does not run
    assert ep.graph_module.code == code


def test_bad_setting_is_rejected():
    with pytest.raises(ValueError, match="on_missing"):
        trt_dyn.lowering.set_on_missing("ignore")


def test_registration_is_idempotent_and_ordered():
    import importlib

    import trt_dyn.lowering as lowering

    before = pipeline.registered()
    pipeline.register()
    importlib.reload(pipeline)
    pipeline.register()
    after = pipeline.registered()
    assert after == before
    # the export guards read the final graph's outputs, after the dyn lowering
    assert [name.rsplit(".", 1)[-1] for name in after[-2:]] == ["dyn_lowering_pass", "export_guard_pass"]
    assert len(after) == len(set(after)) == len(pipeline.PASSES)
    from torch_tensorrt.dynamo.lowering.passes._aten_lowering_pass import ATEN_POST_LOWERING_PASSES

    names = [getattr(p, "__name__", "") for p in ATEN_POST_LOWERING_PASSES.passes]
    assert names.index("dyn_lowering_pass") > names.index("remove_assert_nodes")
    assert lowering.lower is trt_dyn.lower


def test_build_engine_raises_the_report_before_any_converter_runs(monkeypatch):
    """Compiling through torch_tensorrt: one MissingDynVariantError, raised by the lowering pass,
    so no converter (and no TensorRT network) ever sees the SymInt."""
    from torch_tensorrt.dynamo.conversion._TRTInterpreter import TRTInterpreter

    from trt_dyn.build import build_engine

    def no_conversion(*args, **kwargs):
        raise AssertionError("a converter ran before the lowering reported the missing variant")

    monkeypatch.setattr(TRTInterpreter, "run", no_conversion)
    dims = ({2: Dim("H", min=2, max=32), 3: Dim("W", min=2, max=32)},)
    ep = torch.export.export(UsesRoll(), (torch.randn(1, 2, 8, 6),), dynamic_shapes=dims)
    with pytest.raises(MissingDynVariantError) as error:
        build_engine(ep)
    assert [m.op for m in error.value.report.missing] == ["aten.roll.default"]
    assert error.value.report.missing[0].line == _offending_line()


class ReturnsSize(torch.nn.Module):
    def forward(self, x):
        return x * 2, x.shape[0] * 3


def test_symbolic_output_is_reported():
    ep = export_decomposed(ReturnsSize(), (torch.randn(5, 2),), ({0: Dim("N", min=2, max=64)},))
    report = trt_dyn.report(ep)
    assert not report.ok
    assert report.missing[0].argument.startswith("output=")
    assert "returns a symbolic int" in report.missing[0].reason


def test_lowering_twice_changes_nothing_more():
    dims = ({2: Dim("H", min=2, max=32), 3: Dim("W", min=2, max=32)},)
    ep = export_decomposed(Mixed(), (torch.randn(2, 3, 5, 7),), dims)
    trt_dyn.lower(ep)
    code = ep.graph_module.code
    assert "trt_dyn.reshape_dyn" in code and "arange_dyn" in code
    trt_dyn.lower(ep)
    assert ep.graph_module.code == code
    report = trt_dyn.report(ep)
    assert report.ok and report.dynamic and not report.rewritten


def _new_zeros_elsewhere(x):
    return x.new_zeros((x.shape[0], 2), device="meta"), x.view(-1, x.shape[0])


def test_adapter_problems_are_found_before_anything_changes():
    """A row's adapter refuses a call (new_zeros on another device): it is in the report, and
    "raise" mode leaves the graph exactly as it was."""
    from torch.fx.experimental.proxy_tensor import make_fx

    gm = make_fx(_new_zeros_elsewhere, tracing_mode="symbolic")(torch.randn(6, 9))
    code = gm.code
    report = trt_dyn.report(gm)
    assert [m.op for m in report.missing] == ["aten.new_zeros.default"]
    assert "device" in report.missing[0].argument
    with pytest.raises(MissingDynVariantError):
        trt_dyn.lower(gm)
    assert gm.code == code


class WrapsTorchvisionTransform(torch.nn.Module):
    """A user wrapper whose failing op (float arithmetic on the image size) is inside a library module's forward."""

    def __init__(self):
        super().__init__()
        from torchvision.models.detection.transform import GeneralizedRCNNTransform

        self.transform = GeneralizedRCNNTransform(256, 512, [0.5] * 3, [0.25] * 3)

    def forward(self, images):
        batch, _ = self.transform(list(images))  # the wrapper's line: not where the size is computed
        return batch.tensors


def test_report_names_the_library_line_not_the_wrappers():
    pytest.importorskip("torchvision")
    import torchvision

    program = torch.export.export(WrapsTorchvisionTransform().eval(), (torch.rand(1, 3, 300, 400),),
                                  dynamic_shapes=({2: Dim("h", min=200, max=600), 3: Dim("w", min=200, max=600)},))
    entries = [entry for entry in trt_dyn.report(program).missing if entry.op == "math.trunc"]
    assert entries, "the resize's float size arithmetic must be reported"
    library = os.path.dirname(torchvision.__file__) + os.sep
    for entry in entries:
        # torch.export keeps the forward frames: the innermost is torchvision's transform calling its resize.
        # The torch-internal filter used to match torchvision's directory too (".../torch" is a prefix of
        # ".../torchvision") and fell back to the wrapper's line.
        assert entry.source.startswith(library + os.path.join("models", "detection", "transform.py")), entry.source
        assert "self.resize(" in entry.code


def test_source_location_skips_only_torch_itself():
    from trt_dyn.lowering.report import source_location

    torch_dir = os.path.dirname(torch.__file__)
    trace = (f'File "/home/user/model.py", line 7, in forward\n    y = self.body(x)\n'
             f'  File "{torch_dir}vision/ops/misc.py", line 30, in forward\n    return self.op(x)\n'
             f'  File "{torch_dir}/nn/functional.py", line 5, in pad\n    return torch._C._nn.pad(x)')
    assert source_location(trace) == (f"{torch_dir}vision/ops/misc.py:30", "return self.op(x)")


# --- report() analyses the graph a compile's dyn lowering is handed (issue 14) ---------------------------------


class CopyIntoHead(torch.nn.Module):
    """``y[:, :n] = ...`` with n dynamic: a slice_scatter whose end is symbolic. trt_dyn has no dyn variant for it,
    but torch_tensorrt's post-lowering pass ``decompose_dynamic_slice_scatter`` turns it into arange/expand/scatter
    before the dyn lowering runs, so the compile builds it."""

    def forward(self, x, z):
        y = x.clone()
        y[:, :z.shape[1]] = z * 2.0
        return y


class WriteBackAboveThreshold(torch.nn.Module):
    """``out[m] = f(x[m])`` with the mask from a 0-d input: the selection's size is computed from a scalar input,
    which TensorRT cannot take as a shape tensor; trt_dyn's data-dependent pass (dense mode) makes it a ``where``."""

    def forward(self, x, threshold):
        out = x.clone()
        mask = x.sum(1) > threshold
        out[mask] = x[mask] * 2.0 + 1.0
        return out


def _head_case():
    program = torch.export.export(CopyIntoHead(), (torch.randn(3, 8), torch.randn(3, 3)), dynamic_shapes=(
        {1: Dim("W", min=8, max=32)}, {1: Dim("n", min=1, max=4)}))
    return program, [(torch.randn(3, w), torch.randn(3, n)) for w, n in ((8, 1), (13, 4), (32, 3))]


def _threshold_case():
    program = torch.export.export(WriteBackAboveThreshold(), (torch.randn(8, 4), torch.tensor(0.5)),
                                  dynamic_shapes=({0: Dim("N", min=1, max=32)}, None))
    return program, [(torch.randn(n, 4), torch.randn(())) for n in (1, 7, 32)]


def _compiled_or_refused(program):
    """(compiled module, None) when a full compile builds, else (None, the ops its MissingDynVariantError names)."""
    from trt_dyn.testing import compile_cpu

    try:
        return compile_cpu(program, require_full_compilation=True, min_block_size=1), None
    except MissingDynVariantError as error:
        return None, [(entry.op, entry.node) for entry in error.report.missing]


@pytest.mark.parametrize("case, mode, refused", [
    (_head_case, "auto", []),
    (_threshold_case, "dense", []),
    (_threshold_case, "native", [("aten.index.Tensor", "index")]),
], ids=["upstream-slice-scatter-decomposition", "data-dependent-dense", "data-dependent-native"])
def test_report_says_what_a_full_compile_does(case, mode, refused):
    """The report was made on the decomposed program only, so it named ops a compile never sees: slice_scatter
    (decomposed by an upstream pass) and the masked selection (rewritten by trt_dyn's data-dependent pass)."""
    from trt_dyn.lowering.data_dependent import data_dependent_mode

    program, inputs = case()
    model = program.module()
    with data_dependent_mode(mode):
        report = trt_dyn.report(program)
        compiled, compile_refused = _compiled_or_refused(program)
    assert [(entry.op, entry.node) for entry in report.missing] == refused, str(report)
    if refused:
        assert compile_refused == refused
        return
    assert compile_refused is None and compiled.num_trt_engines == 1 and not compiled.pytorch_nodes
    for args in inputs:
        assert_same(compiled(*args), model(*args), exact=False, rtol=0, atol=1e-6)


class WithFoldableWeights(torch.nn.Module):
    """Weights a post-lowering pass may fold (``weight.t() * 2``), a buffer, and a dynamic slice_scatter."""

    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.randn(8, 8))
        self.register_buffer("offset", torch.randn(8))

    def forward(self, x, z):
        y = x @ (self.weight.t() * 2.0) + self.offset
        y[:, :z.shape[1]] = z
        return y


def test_report_leaves_the_program_unchanged():
    batch = Dim("B", min=2, max=16)
    program = torch.export.export(WithFoldableWeights().eval(), (torch.randn(5, 8), torch.randn(5, 3)),
                                  dynamic_shapes=({0: batch}, {0: batch, 1: Dim("n", min=1, max=7)}))
    code, signature = program.graph_module.code, str(program.graph_signature)
    names = [node.name for node in program.graph.nodes]
    state = {name: value.clone() for name, value in program.state_dict.items()}
    vals = {node.name: node.meta.get("val") for node in program.graph.nodes}
    report = trt_dyn.report(program)
    assert report.dynamic and report.ok, str(report)
    assert program.graph_module.code == code and str(program.graph_signature) == signature
    assert [node.name for node in program.graph.nodes] == names
    assert {node.name: node.meta.get("val") for node in program.graph.nodes} == vals
    assert program.state_dict.keys() == state.keys()
    assert all(torch.equal(program.state_dict[name], value) for name, value in state.items())
    eager = WithFoldableWeights().eval()
    eager.load_state_dict(state)
    for batch, n in ((2, 1), (9, 7), (16, 5)):
        x, z = torch.randn(batch, 8), torch.randn(batch, n)
        assert_same(program.module()(x, z), eager(x, z), exact=False, rtol=0, atol=1e-5)


def test_report_of_a_graph_module_leaves_it_unchanged():
    from torch.fx.experimental.proxy_tensor import make_fx

    gm = make_fx(_new_zeros_elsewhere, tracing_mode="symbolic")(torch.randn(6, 9))
    code, nodes = gm.code, list(gm.graph.nodes)
    trt_dyn.report(gm)
    assert gm.code == code and list(gm.graph.nodes) == nodes


def test_report_runs_the_registered_passes_in_order():
    """By construction: the passes report() runs are read from torch_tensorrt's list when it is called, up to the
    dyn lowering; a pass registered after the dyn lowering (the export guards) is not run, and the settings handed
    to the passes are the ones given."""
    from trt_dyn import _hooks

    registered = _hooks.post_lowering_passes()
    position = [getattr(p, "__name__", "") for p in registered].index("dyn_lowering_pass")
    calls = []

    def spy(name, wrapped):
        def lowering_pass(gm, settings):
            calls.append((name, settings))
            return wrapped(gm, settings)
        return lowering_pass

    spied = [spy(getattr(p, "__name__", repr(p)), p) if i != position else p for i, p in enumerate(registered)]
    saved = list(registered)
    registered[:] = spied
    try:
        settings = _hooks.compilation_settings(require_full_compilation=True)
        trt_dyn.report(_head_case()[0], settings)
    finally:
        registered[:] = saved
    names = [getattr(p, "__name__", "") for p in saved]
    assert [name for name, _ in calls] == names[:position]
    assert all(given is settings for _, given in calls)


# --- report() also runs what the compile runs before decomposing (torch_tensorrt's pre-export lowering) ----------


class ScaledByCheckedCount(torch.nn.Module):
    """``x.detach() * 2 * k`` with ``k = t.item()`` bounded by ``torch._check``: the export holds a detach and
    assertion nodes, which a compile strips before it decomposes (torch_tensorrt's pre-export lowering). ``.item()``
    has no dyn variant, so a full compile refuses the count."""

    def forward(self, x, t):
        k = t.item()
        torch._check(k >= 1)
        torch._check(k <= x.shape[0])
        return x.detach() * 2.0 * k


def _checked_count_program():
    return torch.export.export(ScaledByCheckedCount(), (torch.randn(6, 4), torch.tensor(3)),
                               dynamic_shapes=({0: Dim("N", min=2, max=64)}, None))


def test_report_names_the_nodes_of_the_graph_the_compile_lowers():
    """The report decomposed the program with its detach and assertion nodes still in it: its graph had other node
    names than the compile's, so its entry named ``mul_5`` where the compile's error names ``mul_3``."""
    from trt_dyn.testing import compile_cpu

    program = _checked_count_program()
    report = trt_dyn.report(program)
    with pytest.raises(MissingDynVariantError) as refusal:
        compile_cpu(program, require_full_compilation=True, min_block_size=1)
    described = [(m.op, m.node, m.argument, m.source, m.reason) for m in report.missing]
    assert described == [(m.op, m.node, m.argument, m.source, m.reason) for m in refusal.value.report.missing]
    assert [m.op for m in report.missing] == ["aten._local_scalar_dense.default"]
    # left to PyTorch, the count and its product compute what eager does
    trt_dyn.lowering.set_on_missing("warn")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        compiled = compile_cpu(_checked_count_program(), min_block_size=1)
    model = ScaledByCheckedCount()
    for rows, count in ((2, 1), (9, 5), (64, 64), (17, 3)):
        x, t = torch.randn(rows, 4), torch.tensor(count)
        assert_same(compiled(x, t), model(x, t), exact=False, rtol=0, atol=1e-6)


def test_report_runs_the_registered_pre_export_passes_on_a_copy():
    """The pre-export passes are read from torch_tensorrt's list at each call and run on a copy of the program's
    graph, with a copy of the settings (the pre-export lowering writes autocast calibration into the settings)."""
    from trt_dyn import _hooks

    program = _checked_count_program()
    code, names = program.graph_module.code, [node.name for node in program.graph.nodes]
    settings = _hooks.compilation_settings(require_full_compilation=True)
    fields = dict(vars(settings))
    with pre_export_spy() as seen:
        report = trt_dyn.report(program, settings)
    assert len(seen) == 1
    _, given, targets = seen[0]
    # the spy ran last: the upstream passes before it had stripped the detach and the assertions
    assert torch.ops.aten.detach.default not in targets and torch.ops.aten._assert_scalar.default not in targets
    assert given is not settings and dict(vars(settings)) == fields
    assert program.graph_module.code == code and [node.name for node in program.graph.nodes] == names
    assert any(node.target == torch.ops.aten.detach.default for node in program.graph.nodes)
    assert [m.op for m in report.missing] == ["aten._local_scalar_dense.default"]
    model = ScaledByCheckedCount()
    for rows, count in ((3, 2), (40, 7)):
        x, t = torch.randn(rows, 4), torch.tensor(count)
        assert_same(program.module()(x, t), model(x, t), exact=False, rtol=0, atol=1e-6)


def _outcome(run):
    try:
        return run(), None
    except Exception as error:  # the report must fail where the compile does, with the compile's own error
        return None, (type(error), str(error))


def test_report_with_autocast_does_what_the_compile_does():
    """``enable_autocast`` makes the compile run torch_tensorrt's rule-based autocast before decomposing; the report
    skipped it and said OK about a program whose compile failed in that pass (it casts each node's value, and a
    dynamic program's ``sym_size`` values are SymInts). Whatever the pass does, report and compile now agree."""
    from trt_dyn import _hooks
    from trt_dyn.testing import compile_cpu

    options = dict(enable_autocast=True, autocast_low_precision_type=torch.float16)
    program, inputs = _head_case()
    settings = _hooks.compilation_settings(require_full_compilation=True, **options)
    fields = dict(vars(settings))
    report, report_error = _outcome(lambda: trt_dyn.report(program, settings))
    assert dict(vars(settings)) == fields
    model = CopyIntoHead()
    for args in inputs:  # the report left the program as it was
        assert_same(program.module()(*args), model(*args), exact=False, rtol=0, atol=1e-6)
    compiled, compile_error = _outcome(
        lambda: compile_cpu(program, require_full_compilation=True, min_block_size=1, **options))
    assert report_error == compile_error
    if compile_error is None:
        assert report.ok and compiled.num_trt_engines == 1 and not compiled.pytorch_nodes
        for args in inputs:
            assert_same(compiled(*args), model(*args), exact=False, rtol=0, atol=1e-2)
