"""No converter adds a layer whose outputs reach no network output (issue 16: lean networks).

A dead layer counts in ``INetworkDefinition.num_layers``, costs the builder time and only shows a converter that
built something before knowing it would use it. :func:`trt_dyn.testing.harness.dead_layers` finds them; it is
checked here on hand-built networks (against the answer worked out by hand), then on every dynamic-shape pattern
subject ``benchmarks/onnx_layers.py`` counts (the test patterns, the roi_align box heads, the zoo ViT; the
Cascade replica, minutes to export, is left to the benchmark). Whether those networks still equal eager is the
job of the pattern tests that build them (tests/lowering/test_patterns.py, test_selection.py, ...).
"""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest
import torch

import trt_dyn  # noqa: F401
import torchvision  # noqa: F401  (torchvision::roi_align before any subject is exported)
from trt_dyn._trt import trt
from trt_dyn.testing.compile_cpu import compile_cpu
from trt_dyn.testing.harness import dead_layers, layer_node

BENCHMARKS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                          "benchmarks")


def _constant(network, value, name, arrays):
    array = np.array(value, dtype=np.float32)
    arrays.append(array)  # the network points into the array: keep it alive with the network
    layer = network.add_constant(array.shape, trt.Weights(array))
    layer.name = name
    return layer


def test_dead_layers_of_a_hand_built_network():
    """Live: what feeds an output, and what feeds a layer without outputs (an assertion). Dead: a lone constant,
    and a constant -> unary chain whose end nothing reads (the constant only feeds that dead unary)."""
    builder = trt.Builder(trt.Logger(trt.Logger.ERROR))
    network = builder.create_network(0)
    arrays = []
    x = network.add_input("x", trt.float32, (2,))
    bias = _constant(network, [1.0, 2.0], "add_1/const#1", arrays)
    add = network.add_elementwise(x, bias.get_output(0), trt.ElementWiseOperation.SUM)
    add.name = "[ELEMENTWISE]-[aten_ops.add.Tensor]-[/add_1]"
    network.mark_output(add.get_output(0))
    _constant(network, [3.0], "dd_topk:/topk_dyn_default/false#2", arrays)
    orphan = _constant(network, [4.0, 5.0], "model/interp/axis2/const#3", arrays)
    unary = network.add_unary(orphan.get_output(0), trt.UnaryOperation.ABS)
    unary.name = "model/interp/axis2/abs#4"
    bools = np.array([True])
    arrays.append(bools)
    checked = network.add_constant(bools.shape, trt.Weights(bools))
    checked.name = "check/true#5"
    network.add_assertion(checked.get_output(0), "always holds")

    dead = dead_layers(network)
    assert [(layer.name, layer.type, layer.node) for layer in dead] == [
        ("dd_topk:/topk_dyn_default/false#2", "CONSTANT", "/topk_dyn_default"),
        ("model/interp/axis2/const#3", "CONSTANT", "model/interp/axis2"),
        ("model/interp/axis2/abs#4", "UNARY", "model/interp/axis2"),
    ]
    assert "CONSTANT" in str(dead[0]) and "/topk_dyn_default" in str(dead[0])


def test_layer_node_reads_both_naming_conventions():
    assert layer_node("[ELEMENTWISE]-[aten_ops.add.Tensor]-[model.block/add_1]") == "model.block/add_1"
    assert layer_node("expand_dyn_default/false#94") == "expand_dyn_default"
    assert layer_node("dd_nonzero:/nonzero/stride0#824") == "/nonzero"
    assert layer_node("Cast output output0 from int64 to int32") == "Cast output output0 from int64 to int32"


def _subjects():
    if BENCHMARKS not in sys.path:
        sys.path.append(BENCHMARKS)
    import onnx_layers

    return {name: case for name, case in onnx_layers.subjects(False).items() if not case.heavy}


SUBJECTS = _subjects()


@pytest.fixture(scope="module")
def test_classes():
    import coverage

    return {source: coverage._test_classes(source) for source in coverage.TEST_SOURCES}


#: subjects with a dead layer whose source is not fixed yet, and why (strict: a fix makes the test say so)
KNOWN_DEAD: dict = {}


@pytest.mark.parametrize("subject", [
    pytest.param(name, marks=pytest.mark.xfail(reason=KNOWN_DEAD[name], strict=True)) if name in KNOWN_DEAD
    else name for name in sorted(SUBJECTS)])
def test_pattern_subject_network_has_no_dead_layer(subject, test_classes):
    program = SUBJECTS[subject].build(test_classes)
    compiled = compile_cpu(program, require_full_compilation=True, min_block_size=1)
    assert compiled.num_trt_engines == 1 and not compiled.pytorch_nodes
    (engine,) = compiled.engines
    dead = dead_layers(engine.network)
    assert not dead, f"{subject}: {len(dead)} of {engine.num_layers} layers feed no output:\n" + \
        "\n".join(f"  {layer}" for layer in dead)
