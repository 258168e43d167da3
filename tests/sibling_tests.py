"""Model classes of one test file for another: the test folders are no packages, so a test that shares another
file's module loads that file by path (tests/ is on sys.path through its conftest.py)."""

import importlib.util
import os
import sys
from types import ModuleType

TESTS = os.path.dirname(os.path.abspath(__file__))


def load_test_module(relative_path: str, name: str) -> ModuleType:
    """The test file ``relative_path`` (below tests/) as the module ``name``, a private name so that pytest's own
    collection of that file is unaffected; loaded once per name. Its folder joins sys.path for its own helper
    imports (dyn_helpers)."""
    if name in sys.modules:
        return sys.modules[name]
    folder = os.path.join(TESTS, os.path.dirname(relative_path))
    if folder not in sys.path:
        sys.path.append(folder)
    spec = importlib.util.spec_from_file_location(name, os.path.join(TESTS, relative_path))
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module
