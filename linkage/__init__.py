"""Identity linkage: tie records without a valid identity number to a person (docs/linkage.md)."""
