"""Registered adapters: open one with its base (for chat and batch generation), export one.

An adapter is a vault object (``adapter@N``) whose manifest records its base model's path and
hash, its data versions, its config and metrics (see :mod:`privtune.pipeline.train`). Opening it
checks that the base model directory still hashes to what it was trained on, unpacks the adapter
into a private temp dir and loads base + adapter, all inside the network guard.
"""

from __future__ import annotations

import contextlib
import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from privtune.errors import InputError, IntegrityError, WorkspaceError
from privtune.fsutil import atomic_write_text
from privtune.models.loading import model_dir_hash
from privtune.netguard import network_guard
from privtune.reports.model_card import render_model_card
from privtune.tmp import private_tempdir
from privtune.workspace import Workspace

ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")


@dataclass
class AdapterInfo:
    ref: str
    base_dir: Path
    base_sha256: str
    meta: dict[str, Any]


def adapter_info(ws: Workspace, ref: str, base: Path | None = None) -> AdapterInfo:
    m = ws.vault.manifest(ref)
    if m.schema != "peft-lora":
        raise InputError(f"'{m.ref}' is not a LoRA adapter")
    meta = dict(m.meta or {})
    base_dir = Path(base) if base is not None else Path(meta.get("base_model", ""))
    want = meta.get("base_model_sha256", "")
    if not base_dir.is_dir():
        raise WorkspaceError(f"the base model of '{m.ref}' is not at {base_dir}; pass --base DIR")
    if model_dir_hash(base_dir) != want:
        raise IntegrityError(f"the base model at {base_dir} is not the one '{m.ref}' was "
                             "trained on (hash differs)")
    return AdapterInfo(m.ref, base_dir, want, meta)


@contextlib.contextmanager
def open_adapter(ws: Workspace, ref: str, base: Path | None = None) -> Iterator[tuple[Any, Any, AdapterInfo]]:
    """``(model, tokenizer, info)`` of base + adapter, eval mode, inside the network guard."""
    from privtune.train.generate import load_adapter

    info = adapter_info(ws, ref, base)
    with network_guard(), private_tempdir("adapter") as tmp:
        d = ws.vault.get_dir(info.ref, tmp / "adapter")
        model, tok = load_adapter(info.base_dir, d)
        yield model, tok, info


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

    with open_adapter(ws, ref, base) as (model, tok, _):
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


def export_adapter(ws: Workspace, ref: str, dest: Path, *, merged: bool = False,
                   base: Path | None = None) -> Path:
    """Write a Hugging Face directory to ``dest``: the adapter files (or, with ``merged``, the
    base with the adapter merged in, plus the tokenizer) and a model card ``README.md``.
    Built next to ``dest`` and renamed into place: a failure leaves nothing behind."""
    dest = Path(dest)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise InputError("the export directory exists and is not empty", path=dest)
    info = adapter_info(ws, ref, base)
    partial = dest.with_name(dest.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    try:
        if merged:
            with open_adapter(ws, ref, base) as (model, tok, _):
                merged_model = model.merge_and_unload()
                merged_model.save_pretrained(str(partial), safe_serialization=True)
                tok.save_pretrained(str(partial))
        else:
            with private_tempdir("export") as tmp:
                d = ws.vault.get_dir(info.ref, tmp / "adapter")
                partial.mkdir(parents=True)
                for name in ADAPTER_FILES:
                    shutil.copyfile(d / name, partial / name)
        card = render_model_card(name=info.ref.replace("@", "-v"), base_model=info.base_dir.name,
                                 base_sha256=info.base_sha256, merged=merged, meta=info.meta)
        atomic_write_text(partial / "README.md", card)
        if dest.exists():
            dest.rmdir()
        partial.rename(dest)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return dest
