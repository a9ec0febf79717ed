"""The schema mapping as the workflows on one person read it (erasure, subject access).

Raw tables keep the export's own column names (``Personalnummer``, ``E-Mail``); which column
plays which role lives in the mapping ingest stored in the vault (``schema-mapping``,
:mod:`privtune.pii.mapping`). :func:`object_mapping` gives the roles of one vault version's
columns: the stored mapping's roles for the columns that version has, inferred for the rest
(fail safe), so an older version with other columns is still read right.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa

from privtune.io import read_json
from privtune.pii.mapping import (
    MAPPING_OBJECT,
    SchemaMapping,
    TableMapping,
    mapping_for_records,
    mapping_for_table,
    parse_mapping,
)
from privtune.workspace import Workspace

#: Roles whose cells identify one person: an erasure redacts these values of the erased people
#: from everyone else's texts and empties them in everyone else's cells.
IDENTIFYING_ROLES = ("employee_id", "email", "phone", "national_id", "iban", "address",
                     "emergency_contact_phone")
#: Roles whose cells are the person's own name.
OWN_NAME_ROLES = ("full_name", "first_name", "middle_name", "last_name")


def stored_mapping(ws: Workspace, ref: str | None = None) -> SchemaMapping:
    """The mapping stored in vault version ``ref``; without one the newest mapping ingest
    stored, or an empty one (every reader then infers). Needs ``data.read`` (checked and
    audited first, as reading the export's own columns is)."""
    ws.guard("data.read", ref or MAPPING_OBJECT, action="read-mapping")
    if ref is None:
        if not ws.vault.exists(MAPPING_OBJECT):
            return SchemaMapping()
        ref = ws.vault.resolve(MAPPING_OBJECT)
    return parse_mapping(read_json(ws.vault, ref), source=ref)


def object_mapping(schema: SchemaMapping, name: str,
                   data: pa.Table | Sequence[Mapping[str, Any]]) -> TableMapping:
    """The roles of the columns (fields) of one version of object ``name``: a table or text
    records."""
    if isinstance(data, pa.Table):
        return mapping_for_table(data, schema.table(name).restricted(data.column_names))
    fields: dict[str, None] = {}
    for rec in data:
        fields.update(dict.fromkeys(rec))
    return mapping_for_records(data, schema.table(name).restricted(list(fields)))
