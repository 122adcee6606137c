"""The benchmark's peak-memory measure is the child's own, whatever its parent holds."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHILD = (
    "import json, resource; from bench.memory import peak_rss_mib; "
    "inherited = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024; "
    "print(json.dumps([peak_rss_mib(), inherited]))"
)


def test_a_child_of_a_large_parent_reports_its_own_peak():
    ballast = bytearray(400 * 2**20)  # 400 MiB, every page touched
    for i in range(0, len(ballast), 4096):
        ballast[i] = 1
    done = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, cwd=ROOT)
    own, inherited = json.loads(done.stdout)
    del ballast
    assert own < 200, own  # a bare interpreter
    # What the measure avoids: ru_maxrss carried over from the parent across fork and exec.
    assert inherited >= 400, inherited
