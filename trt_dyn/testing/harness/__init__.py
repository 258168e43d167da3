"""Converter tests in one call: export with dynamic ranges, compile like torch_tensorrt, compare with eager.

A test gives a module, example inputs and the dynamic ranges of its inputs::

    run_converter_test(MyModule(), (torch.randn(4, 3),), dynamic={"x": {0: (1, 8)}})

and the harness

1. exports it (named ``Dim`` ranges; if torch.export refuses them, ``Dim.AUTO(min=, max=)``) and
   checks that every requested dimension stayed dynamic over exactly the requested range
   (:class:`SpecializationError` otherwise);
2. compiles it with :func:`trt_dyn.testing.compile_cpu` (``require_full_compilation=True``,
   ``min_block_size=1``) and checks the number of TensorRT engines and that no node was left to
   PyTorch (both configurable);
3. runs it at the minimum, optimum and maximum of every range and at an odd size inside it, each
   time on fresh random inputs, and compares every output with PyTorch eager: same shape, same
   dtype, values within the dtype's tolerance (:data:`DEFAULT_TOLERANCES`; integers and bools
   exactly). A mismatch names the output, the sizes and the max abs/rel error.

``dynamic`` maps an input name (a parameter of ``forward``) to ``{axis: (min, max)}``; an axis may
instead map to a ``torch.export.Dim`` (use one Dim object for axes that must stay equal), and a
full ``dynamic_shapes`` spec for ``torch.export`` is accepted unchanged via ``dynamic_shapes=``.

Integer and bool inputs come from :func:`default_input` unless the test passes ``input_generators``
(``{name: fn(shape, dtype, generator)}``; a four-parameter ``fn`` also receives every input's
shape at that point, e.g. to draw valid indices into another input).

:class:`ConverterTestCase` offers the same as methods for ``unittest.TestCase`` / ``parameterized``
tests; :data:`ENGINE_MODES` parametrizes a pytest test over the executor and (``gpu`` marker) the
real engine.

One job per module: :mod:`.export` (export with ranges, specialization check), :mod:`.sizes` (size
points, random inputs), :mod:`.compare` (outputs against eager, tolerances), :mod:`.network`
(layer types, dead layers, upstream-only conversion), :mod:`.run` (the test). Every name is importable from
``trt_dyn.testing.harness``.
"""

from .compare import DEFAULT_TOLERANCES, ConverterMismatchError, compare_outputs
from .export import SpecializationError, export_dynamic
from .network import DeadLayer, dead_layers, layer_node, network_layer_types, upstream_converters_only
from .run import ENGINE_MODES, ConverterTestCase, ConverterTestResult, assert_layer_types, run_converter_test
from .sizes import default_input, size_points

__all__ = [
    "ConverterTestCase",
    "ConverterTestResult",
    "ConverterMismatchError",
    "SpecializationError",
    "DEFAULT_TOLERANCES",
    "ENGINE_MODES",
    "run_converter_test",
    "export_dynamic",
    "size_points",
    "default_input",
    "compare_outputs",
    "network_layer_types",
    "DeadLayer",
    "dead_layers",
    "layer_node",
    "upstream_converters_only",
    "assert_layer_types",
]
