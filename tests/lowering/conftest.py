"""Reset the dyn lowering switches around every test in this directory."""

import pytest

import trt_dyn


@pytest.fixture(autouse=True)
def _default_settings():
    trt_dyn.lowering.set_enabled(None)
    trt_dyn.lowering.set_on_missing(None)
    yield
    trt_dyn.lowering.set_enabled(None)
    trt_dyn.lowering.set_on_missing(None)
