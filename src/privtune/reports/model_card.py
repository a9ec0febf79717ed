"""The model card (``README.md``) of an exported adapter or merged model.

Hugging Face front matter (``base_model``, ``library_name``, ``tags``) followed by what was
trained on what, the metrics and a privacy section. Numbers, names of vault objects and hashes
only: never an example, never a person.
"""

from __future__ import annotations

from typing import Any

import yaml

from privtune.records import AdapterRecord


def render_model_card(*, name: str, base_model: str, base_sha256: str, merged: bool,
                      record: AdapterRecord, gate: dict[str, Any] | None = None) -> str:
    train = record.train
    lora = train.get("lora", {})
    metrics = record.metrics
    privacy = record.privacy
    unaudited = (gate or {}).get("status") == "unaudited"
    front = {
        "base_model": base_model,
        "library_name": "transformers" if merged else "peft",
        "tags": ["privtune", "lora", "mistral", "hr", "private-fine-tuning"]
        + (["merged"] if merged else []) + (["unaudited"] if unaudited else []),
        "license": "other",
    }
    dp = bool(privacy.get("dp"))
    seeded = privacy.get("insecure_reproducible") is True or privacy.get("private") is False
    lines = [
        "---", yaml.safe_dump(front, sort_keys=False).strip(), "---", "",
        f"# {name}", "",
        *(["> **UNAUDITED EXPORT.** This model was written out of the vault without a passing "
           "privacy audit or a release (`privtune export --unaudited`, an admin's decision, "
           "recorded in the audit log). It may reveal personal data it was trained on: do not "
           "share it.", ""] if unaudited else []),
        ("A Mistral-family model with a LoRA adapter merged into its weights"
         if merged else "A LoRA adapter (PEFT) for a Mistral-family base model")
        + ", fine-tuned locally with privtune on de-identified HR data.", "",
        "## Training", "",
        f"- base model: `{base_model}` (sha256 of config, tokenizer and weights: `{base_sha256}`)",
        f"- training data: `{record.train_data}`, validation data: "
        f"`{record.val_data}` (vault versions; split by employee, never by row)",
        f"- LoRA: r={lora.get('r')}, alpha={lora.get('alpha')}, dropout={lora.get('dropout')}, "
        f"target modules: {lora.get('target_modules')}",
        f"- steps: {metrics.get('steps')}, batch {train.get('batch_size')} x accumulation "
        f"{train.get('grad_accum')}, lr {train.get('lr')} ({train.get('schedule')}, "
        f"{train.get('warmup_steps')} warm-up steps), precision {metrics.get('precision')}, "
        f"quantization {train.get('quantization')}",
        "",
        "## Evaluation (held-out employees)", "",
        f"- validation loss: {metrics.get('initial_val_loss')} (base) -> "
        f"{metrics.get('final_val_loss')} (tuned)", "",
        "## Privacy", "",
        "- Direct identifiers were removed and employee ids pseudonymised (keyed HMAC) before "
        "any example was built; free texts were masked.",
        "- Validation employees never appear in the training set.",
        "- Trained offline: network access was blocked during training and evaluation.",
        f"- Differential privacy: {'yes' if dp and not seeded else 'no'}"
        + ("" if dp else " (this model can memorise training examples; do not release it "
                         "outside the organisation without a privacy audit)")
        + (" (NOT PRIVATE: trained with dp.insecure_reproducible, a test setting; its sampling "
           "and noise can be replayed from a seed, so the figures below guarantee nothing)"
           if dp and seeded else ""),
        *(_dp_lines(privacy) if dp else []),
        *(_gate_lines(gate) if gate else []),
        "",
    ]
    return "\n".join(lines)


def _gate_lines(gate: dict[str, Any]) -> list[str]:
    if gate.get("status") == "unaudited":
        return ["- Privacy gate: **not passed** (unaudited export)."]
    return [f"- Privacy gate: released as `{gate.get('release_id')}` after audit "
            f"`{gate.get('audit_id')}`, judged by the workspace policy "
            f"`{str(gate.get('policy_sha256'))[:16]}`."]


def _dp_lines(p: dict[str, Any]) -> list[str]:
    unit = p.get("unit")
    who = ("one employee (every training example about them)" if unit == "employee"
           else "one training example")
    lines = [
        f"- (epsilon, delta) = ({p.get('epsilon')}, {p.get('delta')}) with the privacy unit "
        f"`{unit}`: the adapter's distribution changes by at most that much whether or not "
        f"{who} was in the training data.",
        f"- DP-SGD: accountant `{p.get('accountant')}`, noise multiplier "
        f"{p.get('noise_multiplier')}, clipping norm {p.get('max_grad_norm')} per unit, "
        f"Poisson sampling rate {p.get('sampling_rate')} (expected batch "
        f"{p.get('expected_batch_size')} units, at most {p.get('max_examples_per_unit')} "
        f"examples per unit and step), {p.get('steps')} steps.",
    ]
    if "epsilon_person" in p:
        g = p.get("group_size")
        lines.append(
            f"- Per person: epsilon {p['epsilon_person']} at the same delta. A person's data "
            f"(examples about them, and texts that name them) sits in at most {g} privacy "
            f"unit(s); "
            + ("the per-person figure equals the unit-level one." if g == 1 else
               f"the per-person figure is group privacy over {g} units "
               f"({p.get('group_method', 'group privacy')})."))
    elif unit == "employee" and p.get("multi_employee") == "each" and p.get("max_co_units"):
        lines.append(
            f"- Examples about several employees count in each one's unit; an employee shares "
            f"examples with at most {p['max_co_units']} others, so hiding everything that "
            f"mentions one employee is covered by group privacy over "
            f"{p['max_co_units'] + 1} units (no per-person epsilon was recorded).")
    return lines
