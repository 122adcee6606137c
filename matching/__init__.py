"""免申即享 policy matching: policies as data, set-based evaluation, ledger and push lists."""
