"""The monthly close (结账) of the KPIs, restatements and KPI alerts (kpis.md v2, docs/close.md)."""
