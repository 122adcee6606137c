"""What the Airflow DAGs call: one function per task, importable and testable without Airflow.

The DAG files in dags/ only declare schedules, assets, pools, retries and callbacks; every
task body is one call into this package, which imports its heavy dependencies lazily.
"""
