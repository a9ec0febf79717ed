"""Hand a workspace's parts to the layers below: the pipeline holds the Workspace, the gate and
the attacks take only what they need (:class:`privtune.gate.site.GateSite`)."""

from __future__ import annotations

from privtune.gate.site import GateSite
from privtune.ops.alerts import AlertSite
from privtune.ops.incident import OpsSite
from privtune.workspace import Workspace


def gate_site(ws: Workspace) -> GateSite:
    return GateSite(vault=ws.vault, store=ws.store, root=ws.root, reports_dir=ws.reports_dir,
                    pseudonym_key=ws.pseudonym_key, check=ws.access.check,
                    dp_budget_epsilon=ws.config.dp_budget_epsilon,
                    release_approval=ws.config.release_approval)


def ops_site(ws: Workspace) -> OpsSite:
    return OpsSite(guard=ws.access, store=ws.store, vault=ws.vault, gate=gate_site(ws), root=ws.root)


def alert_site(ws: Workspace) -> AlertSite:
    return AlertSite(guard=ws.access, store=ws.store, log=ws.audit)
