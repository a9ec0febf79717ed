"""privtune.ingest: read an HR export (tables, free texts, policies) safely and strictly.

``read_table`` gives all-string Arrow tables, ``read_texts`` free-text records,
``discover_export`` the files of an export directory. Errors name file, row and field only.
"""

from privtune.ingest.discover import ExportFiles, discover_export
from privtune.ingest.schema import check_ids, require_columns
from privtune.ingest.tables import TABLE_EXTENSIONS, read_table
from privtune.ingest.texts import TEXT_EXTENSIONS, read_texts

__all__ = [
    "TABLE_EXTENSIONS",
    "TEXT_EXTENSIONS",
    "ExportFiles",
    "check_ids",
    "discover_export",
    "read_table",
    "read_texts",
    "require_columns",
]
