"""Pipeline stages: each takes the workspace and a validated config section, reads its inputs
from the vault by ``name@version``, writes new versioned objects, and returns a result whose
``figures`` (counts and numbers only, never personal data) go into the summary and report.

The stages are thin: the work itself lives in the parts (ingest, pii, datasets, models, train).
"""
