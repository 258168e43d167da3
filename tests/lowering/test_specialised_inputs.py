"""A non-tensor input torch.export specialised is refused, in every mode (issue 13, item 1).

Exported with n=3, the graph multiplies by the constant 3; eager's guard refuses n=7, the compiled
module had no guard and silently returned x * 3.
"""

import pytest
import torch
from torch.export import Dim

import trt_dyn
from trt_dyn.lowering import MissingDynVariantError
from trt_dyn.testing.compile_cpu import compile_cpu


class Scale(torch.nn.Module):
    def forward(self, x, n: int):
        return x * n


@pytest.mark.parametrize("mode", ["raise", "warn"])
@pytest.mark.parametrize("dynamic", [True, False], ids=["dynamic", "static"])
def test_specialised_int_input_is_refused_before_building(mode, dynamic):
    trt_dyn.lowering.set_on_missing(mode)
    shapes = {"x": {0: Dim("b", min=2, max=8)} if dynamic else None, "n": None}
    program = torch.export.export(Scale(), (torch.randn(4, 5), 3), dynamic_shapes=shapes)
    with pytest.raises(AssertionError, match="n == 3"):  # what eager does with another n
        program.module()(torch.randn(4, 5), 7)
    report = trt_dyn.report(program)
    assert not report.ok
    [entry] = report.missing
    assert (entry.op, entry.node, entry.argument, entry.refused) == ("placeholder", "n", "n=3", True)
    with pytest.raises(MissingDynVariantError) as info:
        compile_cpu(program, min_block_size=1, require_full_compilation=False)
    message = str(info.value)
    assert "specialised the int input 'n' to 3" in message and "<input n>" in message


def test_tensor_inputs_only_are_not_refused():
    program = torch.export.export(Scale(), (torch.randn(4, 5), torch.tensor(3.0)),
                                  dynamic_shapes={"x": {0: Dim("b", min=2, max=8)}, "n": None})
    assert trt_dyn.report(program).ok
    compiled = compile_cpu(program, min_block_size=1)
    for b, n in ((2, 7.0), (8, -1.5)):
        x = torch.randn(b, 5)
        torch.testing.assert_close(compiled(x, torch.tensor(n)), x * n)
