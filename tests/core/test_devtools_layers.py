"""``python -m privtune.devtools.layers``: the package graph in floor order, upward arrows flagged."""

from __future__ import annotations

import pytest

from privtune.devtools.layers import load_floors, main, package_graph, read_config, render_dot, violations

CONFIG = {"contracts": [
    {"type": "layers", "layers": ["privtune.cli", "privtune.gate : privtune.dp", "privtune.deid | privtune.train",
                                  "(privtune.records)", "privtune.errors"]},
    {"type": "forbidden", "source_modules": ["privtune.deid"], "forbidden_modules": ["privtune.errors"]},
]}


def test_floors_and_violations_from_contracts() -> None:
    floors = load_floors(CONFIG)
    assert floors.floor == {"cli": 0, "gate": 1, "dp": 1, "deid": 2, "train": 2, "records": 3, "errors": 4}
    edges = {"cli": {"gate"}, "gate": {"dp", "cli"}, "dp": {"gate"}, "train": {"deid", "dp"},
             "deid": {"errors"}, "errors": set()}
    assert violations(edges, floors) == {("gate", "cli"): "up", ("train", "deid"): "sideways",
                                         ("train", "dp"): "up", ("deid", "errors"): "forbidden"}
    assert floors.order(["errors", "tool", "cli", "dp"]) == ["cli", "dp", "errors", "tool"]
    dot = render_dot(edges, floors)
    assert dot.startswith("digraph") and '"gate" -> "cli" [color=red' in dot and '"cli" -> "gate";' in dot


def test_real_graph_in_floor_order(capsys: pytest.CaptureFixture[str]) -> None:
    floors = load_floors(read_config())
    edges = package_graph()
    assert {"cli", "pipeline", "deid", "pii", "vault", "errors"} <= set(edges)
    assert "pii" in edges["deid"] and "errors" not in {d for d in edges["errors"]}
    assert main([]) == 0
    lines = capsys.readouterr().out.splitlines()
    listed = [line.split()[2] for line in lines if line.startswith("floor")]
    assert listed == floors.order(listed) and listed[0] == "__main__" and listed[-1] == "errors"
    assert lines[-1] == "every arrow points down" or "break the layer contracts" in "\n".join(lines)
