"""Draw privtune's package-level import graph and flag arrows that break the layer contracts.

``python -m privtune.devtools.layers`` prints each package of privtune, floor by floor (top to
bottom, as the ``[tool.importlinter]`` contracts in pyproject.toml order them), with the
packages it imports; ``--dot`` prints the same graph for Graphviz (``| dot -Tsvg``). An arrow
is flagged when it climbs to a higher floor (``up``), crosses between independent packages of
one floor (``sideways``), or reaches a module a ``forbidden`` contract keeps out. The graph is
built statically by grimp (installed with import-linter); nothing of privtune is imported.
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = "privtune"


@dataclass
class Floors:
    """The layer order of the contracts: a floor index per package (0 = top) and which floors
    hold independent siblings (``a | b``) rather than mutually importing ones (``a : b``)."""

    floor: dict[str, int] = field(default_factory=dict)
    independent: set[int] = field(default_factory=set)
    forbidden: list[tuple[set[str], set[str]]] = field(default_factory=list)  # (sources, targets)

    def order(self, packages: Sequence[str]) -> list[str]:
        bottom = len(self.floor) + 1
        return sorted(packages, key=lambda p: (self.floor.get(p, bottom), p))


def _short(module: str) -> str:
    return module[len(ROOT) + 1:] if module.startswith(ROOT + ".") else module


def load_floors(config: Mapping[str, Any]) -> Floors:
    """:class:`Floors` from a parsed pyproject's ``tool.importlinter`` table."""
    out = Floors()
    for contract in config.get("contracts", []):
        if contract.get("type") == "layers":
            for i, layer in enumerate(contract["layers"]):
                if "|" in layer:
                    out.independent.add(i)
                for name in re.split(r"[|:]", layer):
                    out.floor[_short(name.strip().strip("()").strip())] = i
        elif contract.get("type") == "forbidden":
            out.forbidden.append(({_short(m) for m in contract["source_modules"]},
                                  {_short(m) for m in contract["forbidden_modules"]}))
    return out


def read_config(path: Path | None = None) -> dict[str, Any]:
    """The ``tool.importlinter`` table of ``path`` (default: the checkout's pyproject.toml)."""
    candidates = [path] if path else [Path(__file__).resolve().parents[3] / "pyproject.toml",
                                      Path.cwd() / "pyproject.toml"]
    for p in candidates:
        if p is not None and p.is_file():
            return dict(tomllib.loads(p.read_text()).get("tool", {}).get("importlinter", {}))
    raise FileNotFoundError("no pyproject.toml with [tool.importlinter]; pass --config")


def package_graph(root: str = ROOT) -> dict[str, set[str]]:
    """Each package (or top-level module) of ``root`` -> the packages it imports directly."""
    import grimp

    graph = grimp.build_graph(root, cache_dir=None)

    def top(module: str) -> str | None:
        parts = module.split(".")
        return parts[1] if len(parts) > 1 else None

    edges: dict[str, set[str]] = {}
    for module in graph.modules:
        src = top(module)
        if src is None:
            continue
        edges.setdefault(src, set())
        for imported in graph.find_modules_directly_imported_by(module):
            dst = top(imported)
            if dst is not None and dst != src:
                edges[src].add(dst)
    return edges


def violations(edges: Mapping[str, set[str]], floors: Floors) -> dict[tuple[str, str], str]:
    """``(importer, imported) -> "up" | "sideways" | "forbidden"`` for every arrow that breaks
    a contract."""
    bad: dict[tuple[str, str], str] = {}
    for src, dsts in edges.items():
        for dst in dsts:
            a, b = floors.floor.get(src), floors.floor.get(dst)
            if a is not None and b is not None and b < a:
                bad[(src, dst)] = "up"
            elif a is not None and a == b and a in floors.independent:
                bad[(src, dst)] = "sideways"
            elif any(src in s and dst in t for s, t in floors.forbidden):
                bad[(src, dst)] = "forbidden"
    return bad


def render_text(edges: Mapping[str, set[str]], floors: Floors) -> str:
    bad = violations(edges, floors)
    lines: list[str] = []
    for pkg in floors.order(list(edges)):
        f = floors.floor.get(pkg)
        label = f"floor {f:>2}" if f is not None else "unplaced"
        deps = ", ".join(d + (f" [{bad[(pkg, d)]}!]" if (pkg, d) in bad else "")
                         for d in floors.order(list(edges[pkg])))
        lines.append(f"{label}  {pkg:<12} -> {deps or '-'}")
    lines.append("")
    if bad:
        lines.append(f"{len(bad)} arrow(s) break the layer contracts:")
        lines += [f"  {s} -> {d} ({why})" for (s, d), why in sorted(bad.items())]
    else:
        lines.append("every arrow points down")
    return "\n".join(lines)


def render_dot(edges: Mapping[str, set[str]], floors: Floors) -> str:
    bad = violations(edges, floors)
    out = ["digraph privtune {", "  rankdir=TB; node [shape=box, fontname=Helvetica];"]
    by_floor: dict[int, list[str]] = {}
    for pkg in edges:
        if pkg in floors.floor:
            by_floor.setdefault(floors.floor[pkg], []).append(pkg)
    for f, pkgs in sorted(by_floor.items()):
        names = "; ".join(f'"{p}"' for p in sorted(pkgs))
        out.append(f"  {{ rank=same; {names}; }}  // floor {f}")
    for src in floors.order(list(edges)):
        for dst in floors.order(list(edges[src])):
            style = ' [color=red, penwidth=2, label="' + bad[(src, dst)] + '"]' if (src, dst) in bad else ""
            out.append(f'  "{src}" -> "{dst}"{style};')
    out.append("}")
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m privtune.devtools.layers", description=__doc__.split("\n")[0])
    ap.add_argument("--dot", action="store_true", help="print Graphviz dot instead of text")
    ap.add_argument("--config", type=Path, help="pyproject.toml holding [tool.importlinter]")
    ap.add_argument("--strict", action="store_true", help="exit 1 when an arrow breaks a contract")
    args = ap.parse_args(argv)
    floors = load_floors(read_config(args.config))
    edges = package_graph()
    print(render_dot(edges, floors) if args.dot else render_text(edges, floors))
    return 1 if args.strict and violations(edges, floors) else 0


if __name__ == "__main__":
    sys.exit(main())
