"""The ground floor every room stands on: configuration, the warehouse's writer lock and
connections, the operations store, masking and the quiet exit.

It imports nothing of the project but `contract`; every room may import it
(tests/unit/test_import_rules.py holds the rules).
"""
