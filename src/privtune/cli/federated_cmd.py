"""``privtune federated``: federated fine-tuning across sites on Flower (docs/federated.md).

* ``privtune federated certs OUT --sites N``: the CA, the SuperLink's TLS certificate and one
  SuperNode key pair per site (``federated.coordinate`` in the coordinator's workspace).
* ``privtune federated simulate --sites 3``: a whole federation on this machine, as separate
  processes (a real SuperLink and SuperNodes on loopback over TLS, nodes authenticated by key)
  on synthetic companies, each site in its own workspace; prints the round figures; then every
  site gates the final adapter and the coordinator releases it if every site passed.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from privtune.cli.common import WorkspaceOpt, console, open_workspace

app = typer.Typer(help="Federated fine-tuning across sites (Flower), private by default.",
                  no_args_is_help=True)


@app.command("certs")
def certs(
    out: Path = typer.Argument(..., help="Directory for ca.crt, server.pem/.key and keys/."),
    sites: int = typer.Option(3, "--sites", min=1, max=64, help="SuperNode key pairs to make."),
    host: list[str] = typer.Option(["localhost", "127.0.0.1"], "--host",
                                   help="SuperLink names / addresses (repeat)."),
    workspace: Path = WorkspaceOpt,
) -> None:
    """Generate the federation's CA, the SuperLink's certificate and the SuperNodes' keys."""
    from privtune.federated.pki import make_ca_and_server_cert, make_node_key

    with open_workspace(workspace) as ws:
        ws.access.check("federated.coordinate", "federation-keys", action="generate",
                        sites=sites)
        tls = make_ca_and_server_cert(out, tuple(host))
        keys = [make_node_key(out / "keys", f"site-{i + 1}") for i in range(sites)]
    console.print(f"CA {tls.ca_cert}; SuperLink certificate {tls.server_cert}; "
                  f"{len(keys)} SuperNode key pairs in {out / 'keys'} (register each .pub with "
                  "`flwr supernode register`)")


@app.command("simulate")
def simulate(
    sites: int = typer.Option(3, "--sites", min=2, max=32, help="Sites (synthetic companies)."),
    rounds: int = typer.Option(3, "--rounds", min=1, max=1000),
    secagg: bool = typer.Option(True, "--secagg/--no-secagg", help="SecAgg+ (default on)."),
    epsilon: float = typer.Option(8.0, "--epsilon", help="Target epsilon of the whole run."),
    out: Path = typer.Option(Path("federated-sim"), "--out", help="Where the workspaces go."),
    base: Path = typer.Option(None, "--base", help="Local base model directory (default: "
                              "the tiny base, pre-trained on generic HR language only)."),
) -> None:
    """Run a federation of SITES on this machine: real Flower processes over TLS on loopback."""
    from privtune.federated.plan import FederatedSpec
    from privtune.federated.simulate import simulate as run_sim

    if out.exists() and any(out.iterdir()):
        raise typer.BadParameter(f"{out} exists and is not empty", param_hint="--out")
    spec = FederatedSpec(rounds=rounds, secagg=secagg, target_epsilon=epsilon)
    res = run_sim(out, sites, spec, base_dir=base)
    console.print(json.dumps(res, indent=2))
    if not res.get("complete"):
        from privtune.errors import TrainingError

        raise TrainingError(f"the federation finished {len(res.get('rounds', []))} of {rounds} "
                            f"rounds; see {out / 'logs'}")
    console.print(f"workspaces: {out}/site-*, coordinator: {out}/coordinator "
                  "(global adapter 'fed-adapter', one version per round)")
    gate = res.get("gate") or {}
    if res.get("release"):
        console.print(f"every site's gate passed; released: {res['release']}")
    elif gate:
        from privtune.errors import PrivacyPolicyError

        raise PrivacyPolicyError("the global adapter was not released: "
                                 + "; ".join(gate.get("failed") or gate.get("problems") or []))
