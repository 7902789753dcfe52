"""server.tune_gc: once serving, start-up's objects are frozen and young collections come seldom."""

from __future__ import annotations

import subprocess
import sys

from grok2api.server import GC_YOUNG_THRESHOLD

# In a process of its own: the test run's collector keeps its settings.
PROBE = """
import gc
from grok2api.server import tune_gc
before = gc.get_threshold()
tune_gc()
after = gc.get_threshold()
print(before[0], after[0], after[1:] == before[1:], gc.get_freeze_count() > 1000)
"""


def test_tune_gc_freezes_start_up_and_raises_only_the_young_threshold() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60, check=True)
    default, tuned, others_kept, frozen = out.stdout.split()
    assert int(tuned) == GC_YOUNG_THRESHOLD > int(default)  # Python's default: 700 on 3.11
    assert others_kept == "True" and frozen == "True"
