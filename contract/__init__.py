"""The source contract: the city's interface specification of its departmental systems.

This package is the ground floor of the project. The simulator (standing in for the
departments) and the pipeline (ingestion, warehouse, quality) both read the contract from
here and never import each other. It holds:

- ``spec/``: the project's own copy of the reference specification (sources, KPIs,
  defects, policies, glossary), versioned with the project;
- ``calendar/workdays.csv``: the official working-day calendar as data;
- loaders for the sources (:mod:`contract.sources`), region codes of GB/T 2260
  (:mod:`contract.regions`), working days (:mod:`contract.workdays`) and identity-number
  rules (:mod:`contract.identity`).
"""

from contract.sources import Column, Contract, System, Table, load_contract

__all__ = ["Column", "Contract", "System", "Table", "load_contract"]
