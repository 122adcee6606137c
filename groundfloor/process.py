"""How the project's command-line entry points end."""

from __future__ import annotations

import os
import sys


def exit_quietly(code: int) -> None:
    """Exit without Python's finalisation: DuckDB 2.0's bindings (nanobind) print a screen of
    "leaked instance" lines at interpreter shutdown while GX still references its connection
    objects. Everything is written and closed by now; only that noise is skipped."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
