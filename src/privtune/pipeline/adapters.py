"""Using registered adapters: chat with one, generate for a prompts file, export one.

Opening an adapter (its record, its base checked by hash, base + adapter loaded inside the
network guard) is :mod:`privtune.gate.adapters`; this module is what the CLI does with it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from privtune.errors import InputError
from privtune.fsutil import atomic_write_text
from privtune.gate.adapters import adapter_info, open_adapter
from privtune.gate.hashing import ADAPTER_FILES, adapter_hash
from privtune.gate.registry import entry_for, require_released
from privtune.netguard import network_guard
from privtune.ops.incident import require_exports_open
from privtune.reports.model_card import render_model_card
from privtune.tmp import private_tempdir
from privtune.workspace import Workspace


def read_prompts(path: Path) -> list[list[dict[str, str]]]:
    """A prompts file: JSONL of ``{"messages": [...]}`` (or of ``{"prompt": "..."}``), or plain
    text with one user prompt per non-empty line. Errors name the line, never its content."""
    p = Path(path)
    if not p.is_file():
        raise InputError("prompts file not found", path=p)
    lines = p.read_text(encoding="utf-8").splitlines()
    out: list[list[dict[str, str]]] = []
    is_jsonl = p.suffix == ".jsonl"
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        if not is_jsonl:
            out.append([{"role": "user", "content": line.strip()}])
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            raise InputError("not valid JSON", path=p, row=i) from None
        if isinstance(obj, dict) and isinstance(obj.get("prompt"), str):
            out.append([{"role": "user", "content": obj["prompt"]}])
        elif isinstance(obj, dict) and isinstance(obj.get("messages"), list) and all(
                isinstance(m, dict) and m.get("role") in ("system", "user", "assistant")
                and isinstance(m.get("content"), str) for m in obj["messages"]) and obj["messages"]:
            out.append([{"role": m["role"], "content": m["content"]} for m in obj["messages"]])
        else:
            raise InputError("expected {\"prompt\": str} or {\"messages\": [{role, content}, ...]}",
                             path=p, row=i)
    if not out:
        raise InputError("the prompts file holds no prompt", path=p)
    return out


def generate_batch(ws: Workspace, ref: str, prompts: list[list[dict[str, str]]], *,
                   base: Path | None = None, max_new_tokens: int = 64) -> list[str]:
    from privtune.train.generate import generate

    with open_adapter(ws.vault, ref, base) as (model, tok, _):
        return [generate(model, tok, msgs, max_new_tokens=max_new_tokens) for msgs in prompts]


class ChatSession:
    """A conversation with base + adapter; :meth:`ask` returns the answer and keeps history."""

    def __init__(self, model: Any, tokenizer: Any, system: str | None = None,
                 max_new_tokens: int = 128) -> None:
        self.model, self.tokenizer = model, tokenizer
        self.system = system
        self.max_new_tokens = max_new_tokens
        self.reset()

    def reset(self) -> None:
        self.messages: list[dict[str, str]] = (
            [{"role": "system", "content": self.system}] if self.system else [])

    def ask(self, text: str) -> str:
        from privtune.train.generate import generate

        self.messages.append({"role": "user", "content": text})
        answer = generate(self.model, self.tokenizer, self.messages, self.max_new_tokens)
        self.messages.append({"role": "assistant", "content": answer})
        return answer


EXPORT_SCHEMA = "privtune-export"


def export_name(adapter_ref: str) -> str:
    """The vault object that records the exports of an adapter (lineage: adapter -> export)."""
    return f"export-{adapter_ref.split('@')[0]}"


def export_adapter(ws: Workspace, ref: str, dest: Path, *, merged: bool = False,
                   base: Path | None = None, unaudited: bool = False) -> Path:
    """Write a Hugging Face directory to ``dest``: the adapter files (or, with ``merged``, the
    base with the adapter merged in, plus the tokenizer) and a model card ``README.md``.

    Only a released model leaves the vault (``model.export``; the release registry must hold a
    ``released`` row for these very adapter bytes), else :class:`PrivacyPolicyError` (the gate's
    exit code) says why. ``unaudited`` is the admin's way around the gate
    (``model.export_unaudited``, its own audit event), marked as such in the model card. Every
    export is recorded in the vault as ``export-<name>@N`` with the adapter as its parent, so
    lineage shows it downstream of the adapter.
    Built next to ``dest`` and renamed into place: a failure leaves nothing behind."""
    dest = Path(dest)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise InputError("the export directory exists and is not empty", path=dest)
    info = adapter_info(ws.vault, ref, base)
    entry = None if unaudited else entry_for(ws.store, info.ref)
    # The permission check (and its audit event) first; then the gate, before anything is read.
    ws.guard("model.export_unaudited" if unaudited else "model.export", info.ref,
             merged=merged, release=entry.id if entry is not None else "")
    require_exports_open(ws.store)  # an open incident froze every export (issue 20)
    if not unaudited and (entry is None or entry.state != "released"):
        require_released(ws.store, info.ref, "")
    partial = dest.with_name(dest.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    try:
        with private_tempdir("export") as tmp:
            d = ws.vault.get_dir(info.ref, tmp / "adapter")
            sha = adapter_hash(d)
            if not unaudited:
                entry = require_released(ws.store, info.ref, sha)
            if merged:
                from privtune.train.generate import load_adapter

                with network_guard():
                    model, tok = load_adapter(info.base_dir, d)
                    merged_model = model.merge_and_unload()
                    merged_model.save_pretrained(str(partial), safe_serialization=True)
                    tok.save_pretrained(str(partial))
            else:
                partial.mkdir(parents=True)
                for name in ADAPTER_FILES:
                    shutil.copyfile(d / name, partial / name)
        gate = ({"status": "unaudited"} if entry is None else
                {"status": "released", "release_id": entry.id, "audit_id": entry.audit_id,
                 "policy_sha256": entry.policy_sha256})
        card = render_model_card(name=info.ref.replace("@", "-v"), base_model=info.base_dir.name,
                                 base_sha256=info.base_sha256, merged=merged, record=info.record,
                                 gate=gate)
        atomic_write_text(partial / "README.md", card)
        doc = {"adapter_ref": info.ref, "adapter_sha256": sha, "merged": merged, **gate,
               "files": sorted(p.name for p in partial.iterdir())}
        ws.vault.put(export_name(info.ref), json.dumps(doc, sort_keys=True).encode(),
                     kind="report", schema=EXPORT_SCHEMA, parents=[info.ref], meta=doc)
        if dest.exists():
            dest.rmdir()
        partial.rename(dest)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return dest
