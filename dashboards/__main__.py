"""`python -m dashboards import|export|init` in Superset's environment (see docs/dashboards.md)."""

from dashboards.cli import main

main()
