"""``privtune federated simulate``: a whole federation on one machine, as separate processes.

Nothing here is Flower's in-process simulation engine: :func:`simulate` starts Flower's real
deployment processes from Flower's own environment (:func:`flower_bin`, docs/federated.md)
on loopback, over TLS:

1. ``sites`` synthetic companies of different sizes and seeds (so different departments,
   ticket mixes and policies), each in its **own** privtune workspace: ingest, scan,
   de-identification and a dataset split by employee, all in that site's vault; and the
   coordinator's workspace (which holds no personal data: the base model and the global
   adapters).
2. A CA and the SuperLink's certificate, one EC key pair per site (:mod:`~privtune.federated.pki`).
3. ``flower-superlink`` with TLS and ``--enable-supernode-auth``; each site's public key
   registered with ``flwr supernode register``; one ``flower-supernode`` per site with its
   private key and the CA, its ``--node-config`` naming its workspace; the site's API key and
   vault passphrase only in that process's environment.
4. ``flwr run`` of the app (:mod:`~privtune.federated.apps`), then polling ``flwr list`` until
   the run ends; the round figures the ServerApp wrote (numbers only) are returned.

:class:`Federation` keeps the processes and is a context manager (everything is stopped on
exit); the tests drive it step by step (an unregistered node, a site killed mid-round).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from privtune.attacks.spec import AuditSpec
from privtune.errors import ConfigError, SitesMissing, WorkspaceError
from privtune.federated.pki import make_ca_and_server_cert, make_node_key
from privtune.federated.plan import FederatedSpec
from privtune.fsutil import atomic_write_text, private_dir
from privtune.train.spec import LoraSpec

ENV_FLWR_BIN = "PRIVTUNE_FLWR_BIN"
#: Sizes and seeds of the synthetic companies (site ``i`` takes entry ``i mod len``).
COMPANIES: tuple[tuple[int, int], ...] = ((40, 11), (60, 23), (80, 37), (50, 41), (70, 53),
                                          (45, 67))
FEDERATION = "privtune"
#: Flower 1.23's SuperLink keeps a node online for HEARTBEAT_PATIENCE (2) x 30 s after its last
#: heartbeat; a node is activated again only once it is offline.
HEARTBEAT_PATIENCE_S = 75.0


def sim_policy() -> Any:
    """The gate policy of the synthetic sites: the default thresholds and DP requirement; the
    audit minimums and membership thresholds that sites of 40-80 employees with 4 canaries
    and 5-15 held-out employees can measure (a 1% false-positive rate is below one held-out
    person, and a chance-level model's AUC spreads by ~0.15), docs/federated.md."""
    from privtune.gate.policy import GatePolicy

    return GatePolicy(min_reference_models=2, min_candidates=0, min_subjects=10,
                      mia_auc_max=0.95, mia_tpr_at_1pct_fpr_max=None)


def sim_audit() -> AuditSpec:
    """The audit each synthetic site runs on the global adapter: every attack, 2 LiRA
    reference adapters, lighter extraction and prompt attacks (minutes, not hours, on a
    shared CPU)."""
    from privtune.attacks.spec import ExposureSpec, ExtractionSpec, MiaSpec, PromptAttackSpec

    return AuditSpec(batch_size=32, exposure=ExposureSpec(candidates=50),
                     mia=MiaSpec(reference_models=2, reference_steps=2),
                     extraction=ExtractionSpec(employees=4, prefixes_per_employee=1, samples=0),
                     prompt_attacks=PromptAttackSpec(targets=2, samples=0))
SITE_PASSPHRASE = "privtune federated simulation (synthetic data only)"  # noqa: S105 (public by design)


def flower_bin() -> Path:
    """The directory holding Flower's executables: ``PRIVTUNE_FLWR_BIN``, else ``.venv-flwr/bin``
    of the current directory, else the directory of ``flower-superlink`` on ``PATH``."""
    env = os.environ.get(ENV_FLWR_BIN)
    candidates = [Path(env)] if env else []
    candidates.append(Path.cwd() / ".venv-flwr" / "bin")
    found = shutil.which("flower-superlink")
    if found:
        candidates.append(Path(found).parent)
    for c in candidates:
        if (c / "flower-superlink").exists() and (c / "flwr").exists():
            return c
    raise ConfigError("Flower is not installed: run `make venv-flwr` (it creates .venv-flwr) or "
                      f"point {ENV_FLWR_BIN} at the bin directory of an environment with flwr "
                      "1.23 and privtune", key=ENV_FLWR_BIN)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Site:
    name: str
    workspace: Path
    api_key: str
    employees: int
    key_private: Path
    key_public: Path
    record_dir: Path
    proc: subprocess.Popen[bytes] | None = None
    log: Path | None = None
    killed_at: float = 0.0  # time.monotonic() of the last kill_site
    node_id: int | None = None  # the SuperLink's id for the site's registered key


@dataclass
class Federation:
    root: Path
    flwr: Path
    sites: list[Site]
    coordinator: Path
    coordinator_key: str
    base_dir: Path
    tls: Any
    ports: dict[str, int] = field(default_factory=dict)
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    superlink: subprocess.Popen[bytes] | None = None
    #: False (bench/federated.py only, to measure what TLS costs): plaintext gRPC and no node
    #: authentication (Flower authenticates nodes over TLS only). Never for real data.
    tls_on: bool = True

    # ------------------------------------------------------------------ processes
    def _env(self, api_key: str | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k != "PRIVTUNE_API_KEY"}
        env["PATH"] = f"{self.flwr}{os.pathsep}{env.get('PATH', '')}"
        env["FLWR_HOME"] = str(self.root / "flwr-home")
        env.setdefault("PRIVTUNE_PASSPHRASE", SITE_PASSPHRASE)
        env.setdefault("OMP_NUM_THREADS", "1")
        src = Path(__file__).resolve().parents[2]
        env["PYTHONPATH"] = os.pathsep.join([str(src), *[p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]])
        if api_key:
            env["PRIVTUNE_API_KEY"] = api_key
        return env

    def _spawn(self, args: list[str], log: Path, api_key: str | None = None
               ) -> subprocess.Popen[bytes]:
        fh = log.open("ab")
        p = subprocess.Popen(args, stdout=fh, stderr=subprocess.STDOUT, env=self._env(api_key),  # noqa: S603
                             cwd=self.root, start_new_session=True)
        fh.close()
        self.procs.append(p)
        return p

    def start_superlink(self) -> None:
        for k in ("fleet", "serverappio", "control"):
            self.ports[k] = free_port()
        security = (["--ssl-ca-certfile", str(self.tls.ca_cert), "--ssl-certfile",
                     str(self.tls.server_cert), "--ssl-keyfile", str(self.tls.server_key),
                     "--enable-supernode-auth"] if self.tls_on else ["--insecure"])
        self.superlink = self._spawn([
            str(self.flwr / "flower-superlink"), *security,
            "--fleet-api-address", f"127.0.0.1:{self.ports['fleet']}",
            "--serverappio-api-address", f"127.0.0.1:{self.ports['serverappio']}",
            "--control-api-address", f"127.0.0.1:{self.ports['control']}",
            "--isolation", "subprocess",
        ], self.root / "logs" / "superlink.log", self.coordinator_key)
        _wait_port(self.ports["control"], self.superlink, self.root / "logs" / "superlink.log")
        _wait_port(self.ports["fleet"], self.superlink, self.root / "logs" / "superlink.log")

    def write_app(self, spec: FederatedSpec, lora: LoraSpec, sigma: float, run_id: str,
                  results: Path, audit: AuditSpec | None = None) -> Path:
        app = private_dir(self.root / "app")
        component = "client_app_secagg" if spec.secagg else "client_app"
        config = {
            "spec": spec.model_dump_json(), "lora": lora.model_dump_json(), "sigma": sigma,
            "base-dir": str(self.base_dir), "coordinator-workspace": str(self.coordinator),
            "adapter-name": "fed-adapter", "run-id": run_id, "results-file": str(results),
            "sites": len(self.sites), "init-seed": 0,
            # node id -> site name, so that a round's deadline names the sites missing
            "site-nodes": json.dumps({str(s.node_id): s.name for s in self.sites
                                      if s.node_id is not None}),
            "gate-audit": audit.model_dump_json() if audit is not None else "",
            "gate-timeout": 3600,
        }
        lines = [
            "[build-system]", 'requires = ["hatchling"]', 'build-backend = "hatchling.build"', "",
            "[project]", 'name = "privtune-federated"', 'version = "1.0.0"',
            'dependencies = []', "",
            "[tool.hatch.build.targets.wheel]", 'packages = ["."]', "",
            "[tool.flwr.app]", 'publisher = "privtune"', "",
            "[tool.flwr.app.components]",
            'serverapp = "privtune.federated.apps:server_app"',
            f'clientapp = "privtune.federated.apps:{component}"', "",
            "[tool.flwr.app.config]",
            *[f"{k} = {json.dumps(v)}" for k, v in config.items()], "",
            "[tool.flwr.federations]", f'default = "{FEDERATION}"', "",
            f"[tool.flwr.federations.{FEDERATION}]",
            f'address = "127.0.0.1:{self.ports["control"]}"',
            (f'root-certificates = "{self.tls.ca_cert}"' if self.tls_on else "insecure = true"), "",
        ]
        atomic_write_text(app / "pyproject.toml", "\n".join(lines))
        atomic_write_text(app / "README.md", "privtune federated app (generated)\n")
        return app

    def flwr_cli(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(self.flwr / "flwr"), *args], capture_output=True, text=True,  # noqa: S603
                              env=self._env(), cwd=self.root, timeout=timeout, check=False)

    def register(self, site: Site, app: Path) -> None:
        res = self.flwr_cli("supernode", "register", str(site.key_public), str(app), FEDERATION)
        found = re.search(r"SuperNode (\d+) registered successfully", res.stdout)
        if not found:
            raise WorkspaceError(f"registering {site.name}'s SuperNode key failed: "
                                 f"{(res.stdout + res.stderr)[-400:]}")
        site.node_id = int(found.group(1))

    def start_supernode(self, site: Site) -> None:
        node_config = (f'workspace="{site.workspace}" dataset="trainset" '
                       f'site="{site.name}" record-dir="{site.record_dir}"')
        site.log = self.root / "logs" / f"{site.name}.log"
        security = (["--root-certificates", str(self.tls.ca_cert),
                     "--auth-supernode-private-key", str(site.key_private)]
                    if self.tls_on else ["--insecure"])
        site.proc = self._spawn([
            str(self.flwr / "flower-supernode"), *security,
            "--superlink", f"127.0.0.1:{self.ports['fleet']}",
            "--clientappio-api-address", f"127.0.0.1:{free_port()}",
            "--node-config", node_config, "--isolation", "subprocess", "--max-retries", "3",
        ], site.log, site.api_key)

    def run(self, app: Path, results: Path, timeout: float = 1800) -> dict[str, Any]:
        res = self.flwr_cli("run", str(app), FEDERATION, "--format", "json", timeout=300)
        try:
            run_id = int(json.loads(res.stdout)["run-id"])
        except (ValueError, KeyError, json.JSONDecodeError):
            raise WorkspaceError(f"flwr run failed: {(res.stdout + res.stderr)[-600:]}") from None
        deadline = time.monotonic() + timeout
        status = ""
        while time.monotonic() < deadline:
            time.sleep(2)
            lst = self.flwr_cli("list", "--run-id", str(run_id), str(app), FEDERATION,
                                "--format", "json")
            try:
                run = json.loads(lst.stdout)["runs"][0]
            except (ValueError, KeyError, IndexError, json.JSONDecodeError):
                continue
            status = str(run.get("status", ""))
            if status.startswith("finished"):
                break
        out = json.loads(results.read_text()) if results.exists() else {"rounds": []}
        out.update(run_id=run_id, status=status)
        return out

    def kill_site(self, site: Site) -> None:
        if site.proc is not None and site.proc.poll() is None:
            os.killpg(site.proc.pid, signal.SIGKILL)
            site.proc.wait(10)
            site.killed_at = time.monotonic()

    def rejoin(self, site: Site) -> None:
        """Start a site's SuperNode again (same key, same workspace) after it died. The
        SuperLink reports a node online until two heartbeat intervals (60 s) after its last
        heartbeat and refuses to activate an online node, so this waits that long."""
        if site.proc is None or site.proc.poll() is None:
            return  # never started (run_federation starts it) or still running
        time.sleep(max(0.0, HEARTBEAT_PATIENCE_S - (time.monotonic() - site.killed_at)))
        self.start_supernode(site)

    def close(self) -> None:
        for p in reversed(self.procs):
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                except ProcessLookupError:
                    continue
        for p in self.procs:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)

    def __enter__(self) -> Federation:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _wait_port(port: int, proc: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise WorkspaceError(f"a Flower process exited ({proc.returncode}); see {log}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.3)
    raise WorkspaceError(f"a Flower process did not listen on port {port}; see {log}")


def prepare(root: Path, n_sites: int, *, base_dir: Path | None = None) -> Federation:
    """The workspaces (sites and coordinator, each with :func:`sim_policy` as its gate policy),
    the keys, the coordinator's roster of the sites' verdict keys and the base model (no
    process yet)."""
    from privtune.gate.federation import VERDICT_KEY, VERDICT_PUB, set_roster
    from privtune.gate.release import public_pem, signing_key
    from privtune.gate.workspace_policy import set_policy
    from privtune.pipeline.base_model import prepare_base
    from privtune.pipeline.config import PipelineConfig
    from privtune.pipeline.run import run_stages
    from privtune.pipeline.site import gate_site
    from privtune.synth import generate_company
    from privtune.tmp import private_tempdir
    from privtune.vault import KekSpec
    from privtune.workspace import init_workspace

    if not 2 <= n_sites <= 32:
        raise ConfigError("a federation needs 2 to 32 sites", key="--sites")
    flwr = flower_bin()
    root = private_dir(Path(root))
    private_dir(root / "logs")
    passphrase = os.environ.get("PRIVTUNE_PASSPHRASE") or SITE_PASSPHRASE
    cfg = PipelineConfig()
    sites: list[Site] = []
    pins: dict[str, bytes] = {}
    tls = make_ca_and_server_cert(root / "tls")
    for i in range(n_sites):
        employees, seed = COMPANIES[i % len(COMPANIES)]
        seed += 100 * (i // len(COMPANIES))
        name = f"site-{i + 1}"
        ws = init_workspace(root / name, name=name, kek=KekSpec("passphrase", passphrase=passphrase))
        key = ws.initial_key.secret if ws.initial_key else ""
        with ws:
            with private_tempdir("export") as export:
                generate_company(employees, seed, export)
                stages = run_stages(ws, cfg, export, None, stop="ingest")
            run_stages(ws, cfg, None, None, start="scan", stop="dataset", prior=stages)
            # the site's verdict key; its public half is what the coordinator pins (in a real
            # federation handed over out of band, like the SuperNode's public key)
            pins[name] = public_pem(signing_key(ws.vault, ws.root, VERDICT_KEY,
                                                VERDICT_PUB).public_key())
            set_policy(gate_site(ws), sim_policy())
        pair = make_node_key(root / "keys", name)
        sites.append(Site(name, root / name, key, employees, pair.private, pair.public,
                          root / "records" / name))
    coord = init_workspace(root / "coordinator", name="coordinator",
                           kek=KekSpec("passphrase", passphrase=passphrase))
    coord_key = coord.initial_key.secret if coord.initial_key else ""
    with coord:
        set_roster(gate_site(coord), pins)
        set_policy(gate_site(coord), sim_policy())
        if base_dir is None:  # generic HR language only: no site's data reaches the base
            base_dir = prepare_base(coord, cfg.model, policies_ref=None).record.dir
    return Federation(root, flwr, sites, root / "coordinator", coord_key, Path(base_dir), tls)


def simulate(root: Path, n_sites: int = 3, spec: FederatedSpec | None = None,
             lora: LoraSpec | None = None, *, base_dir: Path | None = None,
             audit: AuditSpec | None = None) -> dict[str, Any]:
    """Prepare, start, run ``spec.rounds`` rounds, have every site gate the final adapter
    (``audit``: how hard each site probes it) and release it if every site passed; stop;
    returns the run's figures."""
    spec = spec or FederatedSpec()
    lora = lora or LoraSpec(r=4, dropout=0.0)
    fed = prepare(root, n_sites, base_dir=base_dir)
    with fed:
        out = run_federation(fed, spec, lora, audit=audit or sim_audit())
    gate = out.get("gate") or {}
    if gate.get("passed"):
        out["release"] = release_global(fed, str(gate["model_ref"]))
    return out


def release_global(fed: Federation, ref: str) -> str:
    """``privtune release`` of the global adapter in the coordinator's workspace (it requires
    every site's passing, signed verdict); returns the release directory."""
    from privtune.gate.release import release
    from privtune.pipeline.site import gate_site
    from privtune.workspace import Workspace

    with Workspace.open(fed.coordinator, api_key=fed.coordinator_key) as ws:
        return str(release(gate_site(ws), ref).directory)


def run_federation(fed: Federation, spec: FederatedSpec, lora: LoraSpec,
                   audit: AuditSpec | None = None, *, absent: Collection[str] = ()
                   ) -> dict[str, Any]:
    """Start the SuperLink (if not yet), register and start the sites not running yet (a site
    named in ``absent`` is registered but never started: a site lost for good), run
    ``spec.rounds`` rounds, then (``audit`` given) every site's gate on the final adapter;
    returns the ServerApp's round figures, the gate's verdicts and the run's privacy. A round
    that found fewer than ``spec.required_sites()`` sites within ``spec.round_timeout_s``
    stops the run: :class:`~privtune.errors.SitesMissing` names the missing sites."""
    if fed.superlink is None:
        fed.start_superlink()
    if not spec.required_sites() <= len(fed.sites):
        raise ConfigError(f"min_sites {spec.required_sites()} is more than the federation's "
                          f"{len(fed.sites)} sites", key="min_sites")
    sigma = spec.sigma()
    run_id = f"fed-{uuid.uuid4().hex[:8]}"
    results = fed.root / f"results-{run_id}.json"
    app = fed.write_app(spec, lora, sigma, run_id, results, audit)
    if fed.tls_on and any(s.node_id is None for s in fed.sites):
        for s in fed.sites:
            if s.node_id is None:
                fed.register(s, app)
        app = fed.write_app(spec, lora, sigma, run_id, results, audit)  # with the node ids
    for s in fed.sites:
        if s.proc is None and s.name not in absent:
            fed.start_supernode(s)
    t0 = time.perf_counter()
    out = fed.run(app, results)
    stopped = out.get("stopped")
    if stopped:
        missing = [str(m) for m in stopped.get("missing") or []]
        raise SitesMissing(
            f"the federation stopped at round {stopped['round']} of {spec.rounds}: "
            f"{stopped['present']} of {stopped['sites']} sites connected within "
            f"round_timeout_s={spec.round_timeout_s:g} s, {stopped['required']} needed; missing: "
            + (", ".join(missing) or f"{stopped['sites'] - stopped['present']} unnamed site(s)")
            + f"; {len(out['rounds'])} round(s) completed (their adapters are in the "
            "coordinator's vault)", missing=missing, rnd=int(stopped["round"]))
    # Flower calls a run "completed" even when every round failed: say whether all rounds were
    out["complete"] = len(out["rounds"]) == spec.rounds and out["status"] == "finished:completed"
    out.update(fed_run=run_id, seconds=round(time.perf_counter() - t0, 2), sigma=sigma,
               sites=len(fed.sites),
               secagg=spec.secagg, epsilon=round(spec.epsilon_after(len(out["rounds"]), sigma), 4),
               epsilon_person=round(spec.person_epsilon(len(out["rounds"]), sigma), 4),
               python=sys.version.split()[0])
    return out
