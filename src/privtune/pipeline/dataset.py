"""Stage ``dataset``: chat-format training examples from de-identified data, split by employee.

The kinds of examples are ``dataset.tasks``; by default the DP recipe trains on population
tasks only (ticket triage, policy answers: :data:`~privtune.datasets.examples.POPULATION_KINDS`)
and a run without DP on every kind, per-employee facts included (the memorising baseline).

With the DP recipe (``dp.enabled``, ``dp.unit: employee``, ``dp.multi_employee: drop``) examples
about several employees (manager/report facts) are left out, and third parties named in texts
become placeholders (``dataset.third_parties``), so every person's data sits in one privacy unit.
The stage counts, for every person, the units of the training set that carry their data (their
own unit and any unit whose examples still name them; :func:`privtune.dp.units.build_units`) and
records the largest count and a histogram in the :class:`~privtune.records.DatasetRecord`, the
training set's manifest meta and the stage's figures (numbers only).
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from privtune.anonymity.gate import require_anonymous
from privtune.attacks.canaries import SCHEMA as CANARY_SCHEMA
from privtune.attacks.canaries import VAULT_NAME as CANARY_NAME
from privtune.attacks.canaries import (
    Canary,
    canaries_bytes,
    is_canary,
    plant_canaries,
    recipe_pools,
)
from privtune.datasets import build_examples, split_by_employee
from privtune.datasets.examples import KINDS, POPULATION_KINDS
from privtune.datasets.integrity import META_KEY as INTEGRITY_KEY
from privtune.datasets.integrity import manifest as integrity_manifest
from privtune.dp.config import DPSpec
from privtune.dp.units import build_units
from privtune.io import jsonl_bytes, read_json, read_jsonl, read_table
from privtune.pipeline.config import DP_DEFAULTS, DatasetSpec
from privtune.pipeline.result import StageResult
from privtune.pipeline.synthesize import META_KEY as SYNTHETIC_META
from privtune.records import DatasetRecord
from privtune.workspace import Workspace


def dataset_tasks(spec: DatasetSpec, dp: DPSpec) -> tuple[str, ...]:
    """The kinds of examples a run trains on: ``dataset.tasks``, or by default the population
    tasks under DP (what a private model should learn) and every kind without DP."""
    if spec.tasks is not None:
        return tuple(k for k in KINDS if k in spec.tasks)
    return tuple(k for k in KINDS if k in POPULATION_KINDS) if dp.enabled else KINDS


def build_dataset(ws: Workspace, deid: dict[str, str], policies_ref: str | None,
                  spec: DatasetSpec, dp: DPSpec | None = None) -> StageResult[DatasetRecord]:
    """Examples, split, canaries, group sizes; ``dp``: the run's DP settings (default: the
    pipeline's DP recipe), which decide what an example about several employees does.
    ``policies_ref`` must be a de-identified version (``policies-deid``): raw policy documents
    never reach a training set."""
    t0 = time.perf_counter()
    if policies_ref is not None and not policies_ref.startswith("policies-deid@"):
        from privtune.errors import InputError
        raise InputError("training examples are built from de-identified policies only "
                         "(policies-deid): run `privtune deidentify` first", field=policies_ref)
    # Data missing the de-identification policy's k (or l) is refused for training (exit 8).
    # A DP synthetic table (``privtune synthesize``) holds no real person's row: its privacy is
    # the DP record stored with it, not k-anonymity.
    emp_meta = ws.vault.manifest(deid["employees"]).meta or {}
    synthetic = (emp_meta.get(SYNTHETIC_META) or {}).get("dp") is True
    if not synthetic:
        require_anonymous(emp_meta, f"'{deid['employees']}'")
    employees = read_table(ws.vault, deid["employees"]).to_pylist()
    tickets = read_jsonl(ws.vault, deid["tickets"]) if "tickets" in deid else []
    policies = read_json(ws.vault, policies_ref) if policies_ref else {}
    dp = dp if dp is not None else DPSpec(**DP_DEFAULTS)  # the pipeline's recipe
    tasks = dataset_tasks(spec, dp)
    examples = build_examples(employees, tickets, policies, spec.seed, spec.templates,
                              third_parties=spec.third_parties, tasks=tasks)
    shared = 0
    if dp.enabled and dp.unit == "employee" and dp.multi_employee == "drop":
        kept = [ex for ex in examples if len(set(ex["employee_ids"])) <= 1]
        shared, examples = len(examples) - len(kept), kept
    split = split_by_employee(examples, spec.val_fraction, spec.seed)
    train, val = split.train, split.val
    # Lineage lists what the examples were built from: an input no kind of example reads (the
    # reviews; tickets without ticket_triage) is not an input of the training set.
    used = used_inputs(deid, policies_ref, tasks)
    parents = [deid[n] for n in used if n in deid]
    if policies_ref is not None and "policies" in used:
        parents.append(policies_ref)
    outputs: dict[str, str] = {}
    train_meta: dict[str, Any] = {"examples": len(train), "val_fraction": spec.val_fraction,
                                  "seed": spec.seed, "tasks": list(tasks)}
    canaries: list[Canary] = []
    if spec.canaries.enabled:
        # Canaries from the recipe's own templates (training split only; each candidate included
        # with probability 1/2): their secrets and inclusion bits live in the vault only.
        pools = recipe_pools(train, employees, tickets, spec.templates)
        people = len({e for ex in train for e in ex["employee_ids"]})
        train, canaries = plant_canaries(train, spec.canaries, pools, spec.templates, people)
        outputs["canaries"] = ws.vault.put(
            CANARY_NAME, canaries_bytes(canaries, spec.canaries), kind="blob",
            schema=CANARY_SCHEMA, meta={"canaries": len(canaries),
                                        "repetitions": spec.canaries.repetitions})
        train_meta.update(examples=len(train), canaries=outputs["canaries"])
    # Without DP nothing is left out of a unit: every example counts (multi_employee "each").
    units = build_units([ex["employee_ids"] for ex in train], dp.unit,
                        dp.multi_employee if dp.enabled else "each",
                        [ex.get("mentions") or [] for ex in train])
    groups = {str(g): n for g, n in units.group_sizes.items()}
    train_meta.update(max_group_size=units.max_group_size, group_sizes=groups)
    train_meta[INTEGRITY_KEY] = integrity_manifest(train)  # checked at train time (LLM04)
    outputs["train"] = ws.vault.put(
        "trainset", jsonl_bytes(train), kind="examples", schema="chat-jsonl",
        parents=parents + ([outputs["canaries"]] if canaries else []), meta=train_meta,
    )
    outputs["val"] = ws.vault.put(
        "valset", jsonl_bytes(val), kind="examples", schema="chat-jsonl", parents=parents,
        meta={"examples": len(val), "val_fraction": spec.val_fraction, "seed": spec.seed},
    )
    record = DatasetRecord(train=outputs["train"], val=outputs["val"],
                           canaries=outputs.get("canaries"), val_fraction=spec.val_fraction,
                           seed=spec.seed, privacy_unit=dp.unit,
                           max_group_size=units.max_group_size, group_sizes=groups)
    n_canary = sum(c.repetitions for c in canaries if c.included)
    train_emps = {e for ex in train for e in ex["employee_ids"] if not is_canary(e)}
    val_emps = {e for ex in val for e in ex["employee_ids"]}
    figures = {
        "examples": len(examples),
        "train_examples": len(train),
        "val_examples": len(val),
        "dropped_mixed_examples": len(examples) - (len(train) - n_canary) - len(val),
        "dropped_shared_examples": shared,
        "tasks": list(tasks),
        "third_parties": spec.third_parties,
        "max_group_size": units.max_group_size,
        "group_sizes": groups,
        "train_employees": len(train_emps),
        "val_employees": len(val_emps),
        "employees_in_both": len(train_emps & val_emps),
        "by_kind": dict(sorted(Counter(ex["kind"] for ex in examples).items())),
        "canaries": len(canaries),
        "canaries_included": sum(1 for c in canaries if c.included),
        "canary_examples": n_canary,
    }
    mixed = len(examples) - (len(train) - n_canary) - len(val)
    warnings = dataset_warnings(deid, policies_ref, used, tasks, spec, employees, tickets, policies,
                                examples, shared, mixed)
    return StageResult("dataset", record, outputs, figures, time.perf_counter() - t0,
                       warnings=warnings)


#: Which vault inputs each kind of example reads.
KIND_INPUTS = {"policy_qa": ("policies",), "employee_fact": ("employees",),
               "ticket_triage": ("tickets", "employees")}


def used_inputs(deid: dict[str, str], policies_ref: str | None, tasks: tuple[str, ...]) -> list[str]:
    """The inputs (``employees``, ``tickets``, ``policies``, ...) some kind of example reads;
    ``employees`` always (the split, the k-anonymity check and the units read it)."""
    wanted = {"employees"} | {i for k in tasks for i in KIND_INPUTS.get(k, ())}
    have = set(deid) | ({"policies"} if policies_ref else set())
    return sorted(have & wanted)


def dataset_warnings(deid: dict[str, str], policies_ref: str | None, used: list[str],
                     tasks: tuple[str, ...], spec: DatasetSpec, employees: list[dict[str, Any]],
                     tickets: list[dict[str, Any]], policies: dict[str, str],
                     examples: list[dict[str, Any]], shared: int, mixed: int) -> list[str]:
    """What the dataset left out, per reason, and the inputs no example uses (counts and
    names only)."""
    out: list[str] = []
    have = {**deid, **({"policies": policies_ref} if policies_ref else {})}
    for name, ref in sorted(have.items()):
        if name not in used:
            readers = [k for k, ins in KIND_INPUTS.items() if name in ins]
            why = (f"only {', '.join(readers)} reads it and dataset.tasks is "
                   f"{', '.join(tasks)}" if readers else "no kind of training example reads it")
            out.append(f"'{ref}' was ingested and de-identified but no training example uses it "
                       f"({why}); it is not an input of the training set in the lineage")
    if "ticket_triage" in tasks and tickets:
        reasons: Counter[str] = Counter()
        for t in tickets:
            for fld, label in (("employee_id", "no employee"), ("category", "no category"),
                               ("text", "no text")):
                v = t.get(fld)
                if not (isinstance(v, str) and v.strip()):
                    reasons[label] += 1
                    break
        for label, n in sorted(reasons.items()):
            out.append(f"{n} of {len(tickets)} tickets give no ticket_triage example: {label}")
    if "ticket_triage" in tasks and "tickets" in deid and not tickets:
        out.append("the tickets hold no record: no ticket_triage example")
    if "policy_qa" in tasks and not policies:
        out.append("no policy documents (EXPORT/policies/*.md): no policy_qa example")
    if "employee_fact" in tasks and employees and spec.templates.employee_fact.enabled:
        columns = set().union(*(r.keys() for r in employees))
        for fld in spec.templates.employee_fact.fields:
            if fld not in columns:
                out.append(f"column '{fld}' is not in the de-identified employees table: no "
                           f"employee_fact examples about {fld} ({len(employees)} left out)")
    if shared:
        out.append(f"{shared} of {len(examples) + shared} examples name several employees and were left "
                   "out (DP per employee, dp.multi_employee: drop)")
    if mixed:
        out.append(f"{mixed} of {len(examples)} examples involve employees on both sides of the "
                   "train/held-out split and were left out")
    return out
