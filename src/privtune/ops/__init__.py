"""Security operations (issue 20): incident response over the access layer, the keyring and the
release registry (``privtune incident ...``; docs/operations.md)."""
