"""``privtune federated``: federated fine-tuning across sites on Flower (docs/federated.md).

* ``privtune federated certs OUT --sites N``: the CA, the SuperLink's TLS certificate and one
  SuperNode key pair per site (``federated.coordinate`` in the coordinator's workspace).
* ``privtune federated simulate --sites 3``: a whole federation on this machine, as separate
  processes (a real SuperLink and SuperNodes on loopback over TLS, nodes authenticated by key)
  on synthetic companies, each site in its own workspace; prints the round figures; then every
  site gates the final adapter and the coordinator releases it if every site passed.
* ``privtune federated verdict-key``: at a site, its verdict key's public half (made on first
  use) to hand to the coordinator (``federated.gate``: admin, DPO).
* ``privtune federated roster add NAME KEYFILE | list | remove NAME``: at the coordinator, the
  sites whose signed verdicts count (``policy.write``: admin, DPO; listing: ``metadata.read``).
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from privtune.cli.common import WorkspaceOpt, console, open_workspace

app = typer.Typer(help="Federated fine-tuning across sites (Flower), private by default.",
                  no_args_is_help=True)
roster_app = typer.Typer(help="The coordinator's roster: each site's pinned verdict key "
                         "(whose gate verdicts count for a release).", no_args_is_help=True)
app.add_typer(roster_app, name="roster")


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
    round_timeout: float = typer.Option(240.0, "--round-timeout", help="Seconds a round waits "
                                        "for its sites (then runs with those present)."),
    min_sites: int = typer.Option(None, "--min-sites", help="Fewest sites a round runs with "
                                  "(default: the SecAgg+ threshold, else 2)."),
) -> None:
    """Run a federation of SITES on this machine: real Flower processes over TLS on loopback."""
    from privtune.federated.plan import FederatedSpec
    from privtune.federated.simulate import simulate as run_sim

    if out.exists() and any(out.iterdir()):
        raise typer.BadParameter(f"{out} exists and is not empty", param_hint="--out")
    from privtune.config import validate

    spec = validate(FederatedSpec, {"rounds": rounds, "secagg": secagg,
                                    "target_epsilon": epsilon, "round_timeout_s": round_timeout,
                                    "min_sites": min_sites}, source="federated simulate")
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


@app.command("verdict-key")
def verdict_key(
    out: Path = typer.Option(None, "--out", help="Also write the public key (PEM) here."),
    workspace: Path = WorkspaceOpt,
) -> None:
    """A site's verdict public key (made on first use), for the coordinator's roster."""
    from privtune.fsutil import atomic_write_text
    from privtune.gate.federation import VERDICT_KEY, VERDICT_PUB, key_fingerprint
    from privtune.gate.release import public_pem, signing_key

    with open_workspace(workspace) as ws, \
            ws.access.acting_for("federated.gate", VERDICT_KEY, action="verdict-key"):
        pem = public_pem(signing_key(ws.vault, ws.root, VERDICT_KEY, VERDICT_PUB).public_key())
        pub = ws.root / VERDICT_PUB
    if out is not None:
        atomic_write_text(out, pem.decode())
    typer.echo(f"verdict public key: {out or pub}\nsha256 {key_fingerprint(pem)}\n(the "
               "coordinator pins it with `privtune federated roster add SITE FILE`)")


@roster_app.command("add")
def roster_add(
    name: str = typer.Argument(..., help="The site's name (letters, digits, '-', '_')."),
    file: Path = typer.Argument(..., help="The site's verdict public key (PEM, Ed25519), from "
                                "`privtune federated verdict-key` at the site."),
    workspace: Path = WorkspaceOpt,
) -> None:
    """Pin (or replace) a site's verdict key in the coordinator's roster (admin, DPO)."""
    from privtune.errors import InputError
    from privtune.gate.federation import ROSTER, key_fingerprint, pin_site
    from privtune.pipeline.site import gate_site

    with open_workspace(workspace) as ws:
        site = gate_site(ws)
        # Permission first (audited), so a lesser role learns nothing from how the file parses.
        site.check("policy.write", ROSTER, action="load", site=name[:64])
        try:
            pem = file.read_bytes()
        except OSError as exc:
            raise InputError(f"cannot read the key file ({exc.strerror})", path=file) from None
        try:
            fingerprint = key_fingerprint(pem)
        except InputError as exc:
            raise InputError(exc.message, path=file) from None
        ref = pin_site(site, name, pem)
    typer.echo(f"site '{name}' pinned: sha256 {fingerprint}; roster {ref}")


@roster_app.command("list")
def roster_list(
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    workspace: Path = WorkspaceOpt,
) -> None:
    """The sites of the roster in force and their keys' fingerprints."""
    from privtune.gate.federation import key_fingerprint, view_roster
    from privtune.pipeline.site import gate_site

    with open_workspace(workspace) as ws:
        ref, pins = view_roster(gate_site(ws))
    rows = {n: key_fingerprint(pem) for n, pem in sorted(pins.items())}
    if as_json:
        typer.echo(json.dumps({"roster": ref, "sites": rows}, indent=2))
        return
    if ref is None:
        console.print("no federation roster yet (`privtune federated roster add SITE FILE`)")
        return
    console.print(f"roster {ref}: {len(rows)} site(s)")
    for n, fp in rows.items():
        typer.echo(f"{n}\tsha256 {fp}")


@roster_app.command("remove")
def roster_remove(
    name: str = typer.Argument(..., help="The site to remove."),
    workspace: Path = WorkspaceOpt,
) -> None:
    """Remove a site from the roster (admin, DPO); runs trained earlier keep their roster."""
    from privtune.gate.federation import unpin_site
    from privtune.pipeline.site import gate_site

    with open_workspace(workspace) as ws:
        ref = unpin_site(gate_site(ws), name)
    console.print(f"site '{name}' removed; roster {ref}")
