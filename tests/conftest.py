import pytest

import trt_dyn  # noqa: F401  (installs the no-GPU shim before torch_tensorrt is imported)
from trt_dyn.testing.gpu import gpu_skip_reason


def pytest_collection_modifyitems(config, items):
    reason = gpu_skip_reason()
    if reason is None:
        return
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(pytest.mark.skip(reason=reason))
