"""The lineage graph: every vault manifest records its parents (``name@version``); this walks
them upstream (what an artefact was made from) and downstream (what was made from it)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from privtune.vault import Vault


@dataclass
class Lineage:
    ref: str
    kinds: dict[str, str] = field(default_factory=dict)
    parents: dict[str, list[str]] = field(default_factory=dict)    # ref -> its parents
    children: dict[str, list[str]] = field(default_factory=dict)   # ref -> its children

    def upstream(self, ref: str | None = None) -> list[str]:
        return _walk(ref or self.ref, self.parents)

    def downstream(self, ref: str | None = None) -> list[str]:
        return _walk(ref or self.ref, self.children)


def _walk(start: str, edges: dict[str, list[str]]) -> list[str]:
    seen: dict[str, None] = {}
    todo = deque(edges.get(start, []))
    while todo:
        r = todo.popleft()
        if r in seen or r == start:
            continue
        seen[r] = None
        todo.extend(edges.get(r, []))
    return list(seen)


def build_graph(vault: Vault, ref: str = "") -> Lineage:
    """The whole graph of the vault (one ``metadata.read`` audit event via vault.list)."""
    g = Lineage(ref)
    for row in vault.list():
        g.kinds[row.ref] = row.kind
        g.parents[row.ref] = list(row.parents or [])
        g.children.setdefault(row.ref, [])
        for p in row.parents or []:
            g.children.setdefault(p, []).append(row.ref)
    return g


def lineage_of(vault: Vault, ref: str) -> Lineage:
    """Upstream and downstream of one object version (``name`` means the latest version)."""
    return build_graph(vault, vault.resolve(ref))
