"""Generate a whole synthetic HR company into a directory: the orchestrator of ``privtune.synth``.

:func:`generate_company` draws everything from the seed (independent random streams per part,
a seeded Faker), builds all rows and texts in memory, then writes the files one by one
atomically and the ``company.json`` manifest last (an old manifest is removed before the first
write). A directory without a manifest is not a finished company.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path

from faker import Faker

from privtune.errors import InputError
from privtune.synth.leave import make_leave
from privtune.synth.people import make_employees
from privtune.synth.policies import make_policies, policy_values
from privtune.synth.reviews import make_reviews
from privtune.synth.tables import (
    EMPLOYEE_SCHEMA,
    FORMATS,
    LEAVE_SCHEMA,
    atomic_write_bytes,
    check_format,
    write_jsonl,
    write_table,
)
from privtune.synth.textbuild import Span
from privtune.synth.tickets import make_tickets
from privtune.synth.vocab import (
    COMPANY_KINDS,
    COMPANY_PREFIXES,
    COMPANY_STEMS,
    SCHEMA_VERSION,
    TODAY,
)

MANIFEST = "company.json"
MIN_EMPLOYEES = 5
MAX_EMPLOYEES = 100_000


@dataclass(frozen=True)
class CompanyFiles:
    """What :func:`generate_company` wrote: paths and counts."""

    out_dir: Path
    company_name: str
    domain: str
    fmt: str
    employees: Path
    leave: Path
    reviews: Path
    tickets: Path
    pii_spans: Path
    policies: tuple[Path, ...]
    manifest: Path
    counts: dict[str, int] = field(default_factory=dict, hash=False)


def _stream(seed: int, name: str) -> random.Random:
    """An independent, reproducible random stream per part of the company."""
    return random.Random(f"privtune-synth-{seed}-{name}")


def company_identity(seed: int) -> tuple[str, str]:
    """(company name, email domain) for ``seed``: e.g. ("Northwind Analytics", "northwind-analytics.com")."""
    rng = _stream(seed, "company")
    brand = rng.choice(COMPANY_PREFIXES) + rng.choice(COMPANY_STEMS)
    kind = rng.choice(COMPANY_KINDS)
    return f"{brand} {kind}", f"{brand.lower()}-{kind.lower()}.com"


def _validate(n_employees: object, seed: object, fmt: str) -> str:
    if isinstance(n_employees, bool) or not isinstance(n_employees, int):
        raise InputError("must be an integer", field="n_employees")
    if n_employees < MIN_EMPLOYEES or n_employees > MAX_EMPLOYEES:
        raise InputError(f"must be between {MIN_EMPLOYEES} and {MAX_EMPLOYEES}", field="n_employees")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise InputError("must be an integer", field="seed")
    return check_format(fmt)


def _span_rows(items: list[tuple[dict, list[Span]]]) -> list[dict]:
    return [{"text_id": rec["id"], "start": s.start, "end": s.end, "type": s.type} for rec, spans in items for s in spans]


def generate_company(n_employees: int, seed: int, out_dir: Path, *, fmt: str = "csv") -> CompanyFiles:
    """Write a synthetic company of ``n_employees`` into ``out_dir`` (created if needed).

    Same arguments give byte-identical files. Raises :class:`InputError` for a bad size or seed
    and :class:`ConfigError` for a format other than ``csv``, ``json`` or ``parquet``.
    """
    ext = _validate(n_employees, seed, fmt)
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError("output path exists and is not a directory", path=out_dir)

    # ---- build everything in memory first
    name, domain = company_identity(seed)
    fake = Faker("en_US")
    fake.seed_instance(seed)
    employees = make_employees(n_employees, fake, _stream(seed, "people"), domain)
    leave = make_leave(employees, _stream(seed, "leave"))
    reviews = make_reviews(employees, leave, _stream(seed, "reviews"))
    tickets = make_tickets(employees, _stream(seed, "tickets"))
    policies = make_policies(name, policy_values(_stream(seed, "policies")))
    spans = _span_rows(reviews) + _span_rows(tickets)

    # ---- then write: manifest away first, files atomically, manifest last
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest = out_dir / MANIFEST
    manifest.unlink(missing_ok=True)
    for stem in ("employees", "leave"):
        for other in FORMATS.values():
            if other != ext:
                (out_dir / f"{stem}{other}").unlink(missing_ok=True)
    pol_dir = out_dir / "policies"
    pol_dir.mkdir(exist_ok=True)
    for stale in pol_dir.glob("*.md"):
        if stale.name not in policies:
            stale.unlink()

    files = {
        "employees": out_dir / f"employees{ext}",
        "leave": out_dir / f"leave{ext}",
        "reviews": out_dir / "reviews.jsonl",
        "tickets": out_dir / "tickets.jsonl",
        "pii_spans": out_dir / "pii_spans.jsonl",
    }
    write_table(files["employees"], [e.row() for e in employees], EMPLOYEE_SCHEMA, fmt)
    write_table(files["leave"], [r.row() for r in leave], LEAVE_SCHEMA, fmt)
    write_jsonl(files["reviews"], (rec for rec, _ in reviews))
    write_jsonl(files["tickets"], (rec for rec, _ in tickets))
    write_jsonl(files["pii_spans"], spans)
    policy_paths = []
    for fname, text in sorted(policies.items()):
        atomic_write_bytes(pol_dir / fname, text.encode("utf-8"))
        policy_paths.append(pol_dir / fname)

    counts = {
        "employees": len(employees),
        "leave": len(leave),
        "reviews": len(reviews),
        "tickets": len(tickets),
        "pii_spans": len(spans),
        "policies": len(policies),
    }
    doc = {
        "schema_version": SCHEMA_VERSION,
        "generator": "privtune.synth",
        "seed": seed,
        "n_employees": n_employees,
        "fmt": fmt,
        "today": TODAY.isoformat(),
        "company": {"name": name, "domain": domain},
        "files": {k: p.name for k, p in files.items()} | {"policies": [f"policies/{p.name}" for p in policy_paths]},
        "counts": counts,
    }
    atomic_write_bytes(manifest, (json.dumps(doc, indent=2, sort_keys=False) + "\n").encode("utf-8"))
    return CompanyFiles(
        out_dir=out_dir,
        company_name=name,
        domain=domain,
        fmt=fmt,
        policies=tuple(policy_paths),
        manifest=manifest,
        counts=counts,
        **files,
    )
