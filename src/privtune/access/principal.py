"""Who is acting: a ``Principal`` is an authenticated user with one role."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Principal:
    user_id: str
    handle: str
    role: str
    key_id: str = ""

    def __str__(self) -> str:
        return f"{self.handle} ({self.role})"
