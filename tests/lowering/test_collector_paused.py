"""The dyn lowering runs with Python's cyclic garbage collector paused (dyn_pass._collector_paused) and hands it
back as the caller had it: on after a pass that succeeds or raises, off when the caller had turned it off."""

import gc

import pytest
import torch
from torch.export import Dim

import trt_dyn
from trt_dyn.lowering import dyn_pass
from trt_dyn.lowering.report import MissingDynVariantError


class Tokens(torch.nn.Module):
    def forward(self, x):
        b, c, h, w = x.shape
        return x.flatten(2).transpose(1, 2).reshape(b, h, w, c) * 2.0


class ReturnsASize(torch.nn.Module):
    def forward(self, x):  # an engine returns tensors only: always reported
        return x * 2.0, x.shape[0]


def _program(model, example, dims):
    return torch.export.export(model, example, dynamic_shapes=dims)


@pytest.fixture
def collector_seen(monkeypatch):
    """gc.isenabled() at every consumer the rewrite replaces."""
    seen = []
    apply = dyn_pass.Builder.apply

    def spying(self, node, rule):
        seen.append(gc.isenabled())
        return apply(self, node, rule)

    monkeypatch.setattr(dyn_pass.Builder, "apply", spying)
    return seen


def test_collector_off_during_the_rewrite_and_back_on_after(collector_seen):
    assert gc.isenabled()
    program = _program(Tokens(), (torch.randn(2, 3, 6, 5),), ({2: Dim("h", min=2, max=32), 3: Dim("w", min=2, max=32)},))
    expected_model = program.module()
    trt_dyn.lower(program)
    assert collector_seen and not any(collector_seen)
    assert gc.isenabled()
    x = torch.randn(2, 3, 9, 17)
    torch.testing.assert_close(program.module()(x), expected_model(x))


def test_collector_back_on_after_the_pass_raises():
    program = _program(ReturnsASize(), (torch.randn(5, 3),), ({0: Dim("b", min=2, max=16)},))
    with pytest.raises(MissingDynVariantError):
        trt_dyn.lower(program, on_missing="raise")
    assert gc.isenabled()


def test_collector_left_off_when_the_caller_turned_it_off(collector_seen):
    program = _program(Tokens(), (torch.randn(2, 3, 6, 5),), ({2: Dim("h", min=2, max=32), 3: Dim("w", min=2, max=32)},))
    gc.disable()
    try:
        trt_dyn.lower(program)
        assert not gc.isenabled()
    finally:
        gc.enable()
    assert collector_seen and not any(collector_seen)
