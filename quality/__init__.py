"""Data quality: GX suites as code, the quality gate, scorecards (docs/quality.md).

Light on purpose: importing the package (e.g. for the exception the gate raises) does not load
Great Expectations; `quality.runner` does.
"""


class QualityGateFailed(RuntimeError):
    """Critical expectations failed: the build is not published and the last good snapshot
    stays served. Carries the run (`.run`: run id, failures, Data Docs path)."""

    def __init__(self, run):
        self.run = run
        super().__init__(
            f"quality gate failed for {run.as_of} (run {run.run_id}): "
            + "; ".join(run.critical_failures)
        )
