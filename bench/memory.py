"""Peak memory of a benchmark child, measured by the child itself.

Not `ru_maxrss` from wait4 or RUSAGE_SELF: Linux carries a process's high-water mark across
fork and exec, so a child started by a parent that once held 4 GiB reports at least 4 GiB
however little it used. VmHWM (/proc/self/status) is the high-water mark of the process's own
memory map, which exec starts afresh.
"""

from __future__ import annotations

import resource
from pathlib import Path


def own_high_water_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status")


def peak_rss_mib() -> int:
    """This process's own peak RSS, or that of a child it waited for (dbt runs in one) if
    larger. A child's figure can hold this process's size at the fork, never more."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return round(max(own_high_water_kib(), children) / 1024)
