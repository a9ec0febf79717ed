"""Access control: principals, roles, API keys and the permission check (``Guard``)."""

from privtune.access.principal import Principal
from privtune.access.roles import MATRIX, OPERATIONS, ROLES, allowed

__all__ = ["MATRIX", "OPERATIONS", "ROLES", "Principal", "allowed"]
