"""数据共享 (data sharing): the catalogue, consumers, keys and grants, the verification and
query service with its hash-chained audit log, and 回流 extracts for the district offices
(contract/spec/sharing.md, sharing/README.md)."""
