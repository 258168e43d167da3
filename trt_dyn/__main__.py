"""``python -m trt_dyn ...`` is the ``trt-dyn`` command."""

import sys

from .cli import main

sys.exit(main())
