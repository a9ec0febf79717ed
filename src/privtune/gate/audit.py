"""``privtune audit MODEL``: run every attack on a registered adapter, judge it by the policy,
write the HTML report and the JSON verdict, record the audit in the store.

The audit reads the model's training and validation sets and the canaries from the vault (the
adapter's record names them), rebuilds the secrets index in memory, loads base + adapter inside
the network guard and runs: canary exposure and the one-run empirical epsilon lower bound over
the candidate canaries (:mod:`privtune.attacks.one_run`), employee-level membership inference
on make-up-matched members and held-out employees (loss, base-model-calibrated, LiRA with
reference adapters trained with the target's recipe), attribute inference on real employees
(:mod:`privtune.attacks.attributes`), PII extraction and prompt attacks. What
leaves the process is numbers, metric names and masked examples: ``reports/audits/<id>.json``
(the verdict), ``reports/audits/<id>.html`` and the ``audits`` row (with the adapter hash).
"""

from __future__ import annotations

import json
import math
import random
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from privtune.attacks.attributes import attribute_inference, fact_probes
from privtune.attacks.canaries import is_canary
from privtune.attacks.exposure import CanaryExposure, by_repetition, measure_exposure
from privtune.attacks.extraction import run_extraction
from privtune.attacks.mia import (
    Outsider,
    employee_losses,
    evaluate_attack,
    lira_scores,
    loss_scores,
    matched_index,
    own_slot_index,
    place_outsider,
    reference_scores,
)
from privtune.attacks.one_run import one_run_audit
from privtune.attacks.prompt_attacks import run_prompt_attacks
from privtune.attacks.scoring import score_encoded
from privtune.attacks.spec import AuditSpec
from privtune.attacks.subjects import load_subjects
from privtune.fsutil import atomic_write_text
from privtune.gate.adapters import adapter_info
from privtune.gate.hashing import adapter_hash
from privtune.gate.policy import GatePolicy, policy_sha256
from privtune.gate.requirements import (
    dp_problems,
    empirical_epsilon_row,
    gate_epsilon,
    insecure,
)
from privtune.gate.site import GateSite
from privtune.gate.verdict import digest, make_verdict
from privtune.gate.workspace_policy import workspace_policy
from privtune.netguard import network_guard
from privtune.progress import ProgressFn
from privtune.records import AuditVerdict
from privtune.store.models import Audit, utcnow
from privtune.tmp import private_tempdir
from privtune.train.data import encode_example

AUDIT_DIR = "audits"
STEPS = ("load", "exposure", "membership", "references", "attributes", "extraction",
         "prompt attacks", "report")


@dataclass
class AuditOutcome:
    audit_id: str
    model_ref: str
    passed: bool
    verdict: dict[str, Any]
    verdict_path: Path
    report_path: Path
    seconds: float
    record: AuditVerdict


def _epsilon(privacy: dict[str, Any]) -> float:
    """The epsilon the gate checks: person-level when recorded, else unit-level; inf without DP
    (or with a run marked insecure_reproducible)."""
    eps, _ = gate_epsilon(privacy)
    if eps is None or eps <= 0 or insecure(privacy):
        return math.inf
    return eps


def _dp_strategy(privacy: dict[str, Any], steps: int) -> Any:
    """For a DP target: ``train -> step strategy`` with the target's DP-SGD (same noise
    multiplier, clipping, expected batch and unit; ``steps`` the reference's), secure
    randomness; None without DP."""
    from privtune.gate.requirements import is_dp

    if not is_dp(privacy) or privacy.get("noise_multiplier") is None:
        return None
    from privtune.dp.config import DPSpec
    from privtune.dp.plan import make_plan
    from privtune.dp.strategy import DPStepStrategy

    keys = ("unit", "max_grad_norm", "expected_batch_size", "max_examples_per_unit",
            "accountant", "multi_employee")
    dp = DPSpec(enabled=True, noise_multiplier=float(privacy["noise_multiplier"]),
                **{k: privacy[k] for k in keys if privacy.get(k) is not None})

    def build(train: list[dict[str, Any]]) -> Any:
        plan = make_plan(dp, [ex.get("employee_ids") or [] for ex in train], steps,
                         [ex.get("mentions") or [] for ex in train])
        return DPStepStrategy(plan)

    return build


def _audit_delta(privacy: dict[str, Any], policy: GatePolicy) -> float:
    """The delta of the one-run bound: the run's own for a DP run, else the policy's."""
    d = privacy.get("delta")
    if isinstance(d, (int, float)) and 0 < d < 1:
        return float(d)
    return float(policy.delta_max or 0.0)


def _cap(items: set[str], n: int, seed: int) -> set[str]:
    if not n or len(items) <= n:
        return set(items)
    return set(random.Random(seed).sample(sorted(items), n))


def _place_outsiders(outsiders: Mapping[str, Outsider], train: list[dict[str, Any]],
                     val: list[dict[str, Any]], slots: list[str], model: Any, tok: Any,
                     max_seq_len: int, batch_size: int, target: dict[str, float],
                     base_l: dict[str, float], members: set[str], non_members: set[str]
                     ) -> dict[str, Any]:
    """Each outsider: are they (their pseudonyms) in the training or validation set (as an
    example's own employee, a co-listed one or a mention)? Their loss on their own examples (the make-up
    slots the members and held-out employees are scored on) under the model and under the base
    model, placed among the held-out employees' and the members' scores, per attack. Only
    labels and numbers leave this function."""
    def people(examples: list[dict[str, Any]]) -> set[str]:
        return {str(e) for ex in examples
                for e in [*(ex.get("employee_ids") or []), *(ex.get("mentions") or [])]}

    in_train, in_val = people(train), people(val)
    loss_all, ref_all = loss_scores(target), reference_scores(target, base_l)
    out: dict[str, Any] = {}
    for label, who in sorted(outsiders.items()):
        examples, own_ids = who.examples, set(who.tokens)
        idx, matched = own_slot_index(examples, slots)
        row: dict[str, Any] = {"in_training_set": bool(own_ids & in_train),
                               "in_validation_set": bool(own_ids & in_val),
                               "examples_scored": len(idx), "make_up_matched": matched,
                               "attacks": []}
        if idx:
            encoded = [encode_example(tok, examples[i], max_seq_len, n)
                       for n, i in enumerate(idx)]
            tgt = score_encoded(model, encoded, tok.pad_token_id, batch_size).mean()
            with model.disable_adapter():
                base = score_encoded(model, encoded, tok.pad_token_id, batch_size).mean()
            pairs = [(a, b) for a, b in zip(tgt, base, strict=True)
                     if not (math.isnan(a) or math.isnan(b))]
            if pairs:
                lt = sum(a for a, _ in pairs) / len(pairs)
                lb = sum(b for _, b in pairs) / len(pairs)
                row["attacks"] = [
                    place_outsider("loss", -lt, loss_all, members, non_members),
                    place_outsider("reference (base model)", lb - lt, ref_all, members,
                                   non_members)]
        out[label] = row
    return out


def run_audit(site: GateSite, model_ref: str, spec: AuditSpec | None = None,
              policy: GatePolicy | None = None, *, base: Path | None = None,
              progress: ProgressFn | None = None,
              outsiders: Mapping[str, Outsider] | None = None) -> AuditOutcome:
    """``outsiders``: ``{label: Outsider}`` of people known to be outside the model's data
    (the people an erasure removed, labelled by request id, never by name or pseudonym): the
    audit checks that none of them is in the training or validation set and places each one's
    membership score among the held-out employees' (``details["outsiders"]``)."""
    from privtune.train.generate import load_adapter
    from privtune.train.spec import TrainSpec

    spec = spec or AuditSpec()
    if policy is None:
        policy = workspace_policy(site.store).policy
    t0 = time.perf_counter()
    step = 0

    def tick(name: str) -> None:
        nonlocal step
        step += 1
        if progress:
            progress(step, len(STEPS), {"stage": name})

    info = adapter_info(site.vault, site.vault.resolve(model_ref), base)
    record = info.record
    subjects = load_subjects(site.vault, record.train_data, record.val_data, site.pseudonym_key)
    train_spec = TrainSpec.model_validate(record.train)
    privacy = dict(record.privacy)
    timings: dict[str, float] = {}
    details: dict[str, Any] = {}
    with network_guard(), private_tempdir("audit") as tmp:
        adir = site.vault.get_dir(info.ref, tmp / "adapter")
        model_sha = adapter_hash(adir)
        model, tok = load_adapter(info.base_dir, adir)
        tick("load")

        t = time.perf_counter()
        exposures: list[CanaryExposure] = []
        if subjects.canaries:
            exposures, _ = measure_exposure(model, tok, subjects.canaries,
                                            candidates=spec.exposure.candidates,
                                            exact_limit=spec.exposure.exact_limit,
                                            seed=spec.seed, batch_size=spec.batch_size)
        one_run = one_run_audit([e.score for e in exposures], [e.included for e in exposures],
                                _audit_delta(privacy, policy)) if len(exposures) >= 2 else None
        timings["exposure"] = time.perf_counter() - t
        tick("exposure")

        t = time.perf_counter()
        mia_examples = [ex for ex in subjects.train + subjects.val
                        if ex.get("employee_ids") and not any(is_canary(e) for e in ex["employee_ids"])]
        index, slots = matched_index(mia_examples, subjects.members, subjects.non_members)
        members = _cap(subjects.members & set(index), spec.mia.max_employees, spec.seed)
        non_members = _cap(subjects.non_members & set(index), spec.mia.max_employees, spec.seed + 1)
        index = {e: v for e, v in index.items() if e in members or e in non_members}
        details["membership_make_up"] = {"slots": slots, "per_person": len(slots)}

        encoded = [encode_example(tok, ex, train_spec.max_seq_len, i)
                   for i, ex in enumerate(mia_examples)]   # once: every model shares the tokenizer

        def score(m: Any, tk: Any) -> list[float]:
            return score_encoded(m, encoded, tk.pad_token_id, spec.batch_size).mean()

        target = employee_losses(score(model, tok), index)
        with model.disable_adapter():
            base_l = employee_losses(score(model, tok), index)
        # only people with a score take part (a small or freshly rewritten set can leave one
        # side empty: then there is no membership attack to run, not a crash)
        members, non_members = members & set(target), non_members & set(target)
        attacks = []
        if members and non_members:
            attacks.append(evaluate_attack("loss", loss_scores(target), members, non_members))
            attacks.append(evaluate_attack("reference (base model)",
                                           reference_scores(target, base_l), members, non_members))
        if outsiders:
            details["outsiders"] = _place_outsiders(
                outsiders, subjects.train, subjects.val, slots, model, tok,
                train_spec.max_seq_len, spec.batch_size, target, base_l, members, non_members)
        timings["membership"] = time.perf_counter() - t
        tick("membership")

        t = time.perf_counter()
        if spec.mia.reference_models and members and non_members:
            from privtune.attacks.references import train_references

            steps = spec.mia.reference_steps or train_spec.steps
            strategy = _dp_strategy(privacy, steps)
            in_l, out_l = train_references(info.base_dir, mia_examples, train_spec,
                                           spec.mia.reference_models, steps, spec.seed, score,
                                           strategy=strategy, index=index)
            attacks.append(evaluate_attack("LiRA (reference adapters)",
                                           lira_scores(target, in_l, out_l), members, non_members))
            details["reference_models"] = {
                "count": 2 * ((spec.mia.reference_models + 1) // 2), "steps": steps,
                "target_steps": train_spec.steps, "dp": strategy is not None,
                "ledger": "not charged: only their scores leave the audit (docs/audit-gate.md)"}
        timings["references"] = time.perf_counter() - t
        tick("references")

        t = time.perf_counter()
        probes, spaces = fact_probes(mia_examples)
        attributes = attribute_inference(model, tok, probes, spaces, subjects.members,
                                         subjects.non_members,
                                         max_seq_len=train_spec.max_seq_len,
                                         batch_size=spec.batch_size)
        timings["attributes"] = time.perf_counter() - t
        tick("attributes")

        t = time.perf_counter()
        employees = sorted(subjects.by_pseudonym[p] for p in subjects.members
                           if p in subjects.by_pseudonym)
        extraction = run_extraction(model, tok, subjects.index, employees,
                                    [c.id for c in subjects.canaries], subjects.pseudonyms(),
                                    subjects.own_examples(), spec.extraction, seed=spec.seed,
                                    batch_size=spec.batch_size)
        timings["extraction"] = time.perf_counter() - t
        tick("extraction")
        t = time.perf_counter()
        attacks_pi = run_prompt_attacks(model, tok, subjects.index, employees, spec.prompt_attacks,
                                        seed=spec.seed, batch_size=spec.batch_size)
        timings["prompt_attacks"] = time.perf_counter() - t
        tick("prompt attacks")
        del model

    flagged = [e.canary_id for e in exposures
               if policy.canary_exposure_max is not None and e.exposure > policy.canary_exposure_max]
    values: dict[str, Any] = {
        "canary_exposure_max": max((e.exposure for e in exposures), default=None),
        "mia_auc_max": max((a.auc for a in attacks), default=None),
        "mia_tpr_at_1pct_fpr_max": max((a.tpr_at_1pct_fpr for a in attacks), default=None),
        "extraction_exact": extraction.exact,
        "extraction_near": extraction.near,
        "prompt_attack_leaks": attacks_pi.exact + attacks_pi.near,
        "attribute_advantage_max": attributes.advantage,
        "epsilon": _epsilon(privacy),
    }
    metrics = record.metrics
    _, eps_level = gate_epsilon(privacy)
    probed = {
        "exposure": {"real_employees": 0, "canaries": len(exposures),
                     "included": sum(1 for e in exposures if e.included)},
        "attributes": {"real_employees": attributes.members + attributes.non_members,
                       "members": attributes.members, "non_members": attributes.non_members},
        "membership": {"real_employees": len(members) + len(non_members),
                       "members": len(members), "non_members": len(non_members)},
        "extraction": {"real_employees": min(len(employees), spec.extraction.employees),
                       "canaries": len(subjects.canaries)},
        "prompt_attacks": {"real_employees": min(len(employees), spec.prompt_attacks.targets)
                           if spec.prompt_attacks.enabled else 0},
    }
    details.update({
        "epsilon_level": eps_level,
        "dp_requirement": dp_problems(privacy, policy),
        "canaries": [e.as_dict() for e in exposures],
        "one_run": one_run.as_dict() if one_run else None,
        "attributes": attributes.as_dict(),
        "canaries_flagged": flagged,
        "exposure_by_repetitions": {str(k): v for k, v in by_repetition(exposures).items()},
        "membership": [a.as_dict() for a in attacks],
        "extraction": extraction.as_dict(),
        "prompt_attacks": attacks_pi.as_dict(),
        "privacy": privacy,
        "utility": {"val_loss_base": metrics.get("initial_val_loss"),
                    "val_loss_tuned": metrics.get("final_val_loss")},
        "timings_s": {k: round(v, 2) for k, v in timings.items()},
    })
    model_doc = {"ref": info.ref, "adapter_sha256": model_sha, "base_sha256": info.base_sha256,
                 "train_data": record.train_data, "val_data": record.val_data}
    verdict = make_verdict(model_doc, values, policy, details)
    dp_req = details["dp_requirement"]
    verdict["metrics"].append({
        "name": "dp_requirement", "value": len(dp_req), "threshold": 0, "checked": True,
        "passed": not dp_req, "description": "problems with the policy's DP requirement (DP, "
        "epsilon, delta <= min(delta_max, 1/(100 n)), no insecure_reproducible run)"})
    if dp_req:
        verdict["passed"] = False
        verdict["failed"].append("dp_requirement")
    # The empirical lower bound must never exceed the accountant's epsilon: if it does, the DP
    # implementation or its accounting is wrong, whatever the other metrics say.
    lb = one_run.epsilon_lb if one_run else None
    row = empirical_epsilon_row(lb, privacy)
    verdict["metrics"].append(row)
    if not row["passed"]:
        verdict["passed"] = False
        verdict["failed"].append("empirical_epsilon_lower_bound")
    verdict["policy_sha256"] = policy_sha256(policy)
    verdict["profile"] = spec.profile
    verdict["settings"] = spec.model_dump(mode="json")
    verdict["subjects_probed"] = probed
    if insecure(privacy):  # seeded DP (tests only) fails whatever the metrics say
        verdict["failed"].append("insecure_reproducible")
    audit_id = f"audit-{utcnow().strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
    verdict["audit_id"] = audit_id
    verdict["created_at"] = utcnow().isoformat(timespec="seconds")
    verdict["seconds"] = round(time.perf_counter() - t0, 2)
    out_dir = site.reports_dir / AUDIT_DIR
    out_dir.mkdir(parents=True, exist_ok=True)
    verdict_path, report_path = out_dir / f"{audit_id}.json", out_dir / f"{audit_id}.html"
    from privtune.gate.report import render_audit_report

    render_audit_report(report_path, verdict, {a.name: a.roc for a in attacks})
    atomic_write_text(verdict_path, json.dumps(verdict, indent=2, sort_keys=True))
    outcome = AuditVerdict(
        audit_id=audit_id, model_ref=info.ref, adapter_sha256=model_sha,
        base_sha256=info.base_sha256, passed=bool(verdict["passed"]),
        failed=list(verdict["failed"]), verdict_sha256=digest(verdict),
        report=str(report_path.relative_to(site.root)), dp=record.dp,
        epsilon=None if insecure(privacy) else record.epsilon,
        delta=privacy.get("delta") if record.dp else None,
        policy_sha256=verdict["policy_sha256"], profile=spec.profile,
        subjects_probed={k: int(v["real_employees"]) for k, v in probed.items()},
        empirical_epsilon_lb=None if lb is None else round(lb, 4))
    with site.store.session() as s:
        s.add(Audit(id=audit_id, model_name=info.ref.split("@")[0], model_ref=info.ref,
                    model_sha256=model_sha, base_sha256=info.base_sha256,
                    passed=outcome.passed, verdict_sha256=outcome.verdict_sha256,
                    verdict=verdict, report=outcome.report))
    tick("report")
    return AuditOutcome(audit_id, info.ref, outcome.passed, verdict, verdict_path,
                        report_path, time.perf_counter() - t0, outcome)
