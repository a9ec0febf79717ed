"""The audit log: append-only, hash-chained, with Ed25519-signed checkpoints (``log``,
``chain``), and reading it back (``query``: show with filters, export as JSONL or CSV)."""
