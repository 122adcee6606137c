"""Superset dashboards kept as code: the bundle in `bundle/`, its import and export, roles."""
