import os
import sys

# dyn_check.py (shared helper of these tests) lives beside them.
sys.path.insert(0, os.path.dirname(__file__))
