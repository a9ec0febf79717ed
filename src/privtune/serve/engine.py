"""Engines: what turns a conversation into text. The server speaks to one :class:`Engine`.

:class:`EmbeddedEngine` serves released adapters in this process (transformers + peft). Each
adapter is read from the vault into memory (the tar object is unpacked in memory, never to
disk), its bytes hashed, and it is loaded only when the release registry holds a ``released``
row for exactly those bytes (:func:`privtune.gate.registry.require_released`), whose per-file
hashes match and whose signer is the trusted release key: an unreleased, revoked, quarantined,
tampered or foreign-signed adapter is refused with :class:`~privtune.errors.PrivacyPolicyError`
or :class:`~privtune.errors.IntegrityError`. Several adapters over one base share one base
model (peft named adapters). Concurrent requests on one base, for any of its adapters, are
decoded together by that base's scheduler (:class:`~privtune.serve.batch.Batcher`: continuous
batching, peft's per-row ``adapter_names``, left padding, a KV cache). The registry is
checked again before every request (at most :data:`RECHECK_S` old), so a revocation stops
serving within a second.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from privtune.errors import IntegrityError, NotFoundError, PrivacyPolicyError
from privtune.gate.adapters import adapter_info
from privtune.gate.hashing import ADAPTER_FILES, combined_hash
from privtune.gate.registry import entries, record_of, require_released
from privtune.records import signer_key_id
from privtune.serve.batch import MAX_BATCH, WINDOW_S, Batcher, BatchRequest, read_pieces
from privtune.store.db import MetadataStore
from privtune.vault import Vault

RECHECK_S = 1.0


@dataclass(frozen=True)
class ServedModel:
    id: str          # the adapter ref, name@N
    name: str
    release_id: str
    created: int


@dataclass
class Generation:
    """One answer being produced: iterate for text pieces; counts are final once exhausted."""

    pieces: Iterator[str]
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str = "stop"
    #: Stops the model early (the client went away); a no-op once it is done.
    cancel: Callable[[], None] = lambda: None

    def __iter__(self) -> Iterator[str]:
        return self.pieces


class Engine(Protocol):
    ready: bool
    error: str

    def models(self) -> list[ServedModel]: ...

    def close(self) -> None:
        """Let go of what serving holds (threads, models, connections); the server has stopped."""

    def resolve(self, model: str) -> ServedModel:
        """The served model named ``model`` (ref or name), still released; else NotFoundError /
        PrivacyPolicyError."""

    def generate(self, model: ServedModel, messages: list[dict[str, str]] | str, *,
                 max_tokens: int, temperature: float, timeout_s: float,
                 top_p: float = 1.0, stop: tuple[str, ...] = ()) -> Generation:
        """The answer to a conversation (chat), or the continuation of a prompt (a string):
        greedy at ``temperature`` 0, else sampled at ``temperature`` from the ``top_p``
        nucleus; it ends before the first of the ``stop`` strings it would contain."""


def read_adapter(vault: Vault, ref: str) -> dict[str, bytes]:
    """The adapter files of vault object ``ref``, in memory."""
    raw = vault.get(ref)
    files: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(raw), mode="r:") as tar:
        for member in tar:
            if member.isfile() and member.name in ADAPTER_FILES:
                fh = tar.extractfile(member)
                assert fh is not None
                files[member.name] = fh.read()
    missing = [n for n in ADAPTER_FILES if n not in files]
    if missing:
        raise IntegrityError(f"'{ref}': adapter files {', '.join(missing)} are missing")
    return files


def check_released(store: MetadataStore, ref: str, files: dict[str, bytes],
                   trusted_key_id: str) -> str:
    """The release id vouching for exactly these adapter bytes, signed by the trusted key; else
    PrivacyPolicyError (not released, revoked, quarantined) or IntegrityError (tampered)."""
    digests = {n: hashlib.sha256(files[n]).hexdigest() for n in ADAPTER_FILES}
    row = require_released(store, ref, combined_hash(digests))
    rec = record_of(row)
    if rec.files != digests:
        raise IntegrityError(f"'{ref}': its files do not match release {row.id} (tampered)")
    if signer_key_id(rec.public_key) != rec.signer_key_id or rec.signer_key_id != trusted_key_id:
        raise IntegrityError(f"release {row.id} of '{ref}' is not signed by the trusted release "
                             "key")
    return row.id


def released_refs(store: MetadataStore) -> list[str]:
    """The newest released version of every model name in the registry."""
    out: dict[str, str] = {}
    for row in entries(store):
        if row.state == "released":
            name = row.model_ref.split("@")[0]
            prev = out.get(name)
            if prev is None or int(row.model_ref.split("@")[1]) > int(prev.split("@")[1]):
                out[name] = row.model_ref
    return sorted(out.values())


@dataclass
class _Base:
    model: Any  # PeftModel holding every adapter of this base
    tokenizer: Any
    batcher: Batcher  # the scheduler running every forward pass of this base


class EmbeddedEngine:
    """Released adapters served in-process. ``load()`` may run in a background thread: ``ready``
    says when it is done, ``error`` why it failed."""

    def __init__(self, vault: Vault, store: MetadataStore, refs: list[str] | None,
                 trusted_key_id: str, *, lock: threading.Lock | None = None,
                 base: Path | None = None, max_batch: int = MAX_BATCH,
                 batch_window_s: float = WINDOW_S) -> None:
        self.vault, self.store = vault, store
        self.max_batch, self.batch_window_s = max_batch, batch_window_s
        self.refs = refs
        self.trusted_key_id = trusted_key_id
        #: Serialises the workspace's database and audit log with the server's requests.
        self.ws_lock = lock or threading.Lock()
        self.base_override = base
        self.ready = False
        self.error = ""
        self._served: dict[str, tuple[ServedModel, _Base, str]] = {}
        self._checked: dict[str, float] = {}

    # ---------------------------------------------------------------- loading
    def load(self) -> None:
        try:
            self._load()
            self.ready = True
        except Exception as exc:
            self.error = str(exc)
            raise

    def _load(self) -> None:
        from peft import PeftConfig, PeftModel, set_peft_model_state_dict
        from safetensors.torch import load as load_tensors

        from privtune.models.loading import load_local_model
        from privtune.netguard import network_guard

        with self.ws_lock:
            refs = [self.vault.resolve(r) for r in self.refs] if self.refs else released_refs(self.store)
        if not refs:
            raise NotFoundError("no released model to serve (privtune release MODEL first)")
        bases: dict[str, _Base] = {}
        with network_guard():
            for i, ref in enumerate(refs):
                with self.ws_lock:
                    info = adapter_info(self.vault, ref, self.base_override)
                    files = read_adapter(self.vault, info.ref)
                    release_id = check_released(self.store, info.ref, files, self.trusted_key_id)
                import json

                cfg = PeftConfig.from_peft_type(**json.loads(files["adapter_config.json"]))
                cfg.inference_mode = True
                state = load_tensors(files["adapter_model.safetensors"])
                key = str(info.base_dir.resolve())
                name = f"a{i}"
                if key not in bases:
                    model, tok = load_local_model(info.base_dir)
                    peft_model = PeftModel(model, cfg, adapter_name=name)
                    bases[key] = _Base(peft_model, tok, Batcher(
                        peft_model, tok, max_batch=self.max_batch,
                        window_s=self.batch_window_s, name=f"privtune-batch-{len(bases)}"))
                else:
                    bases[key].model.add_adapter(name, cfg)
                set_peft_model_state_dict(bases[key].model, state, adapter_name=name)
                bases[key].model.eval()
                served = ServedModel(info.ref, info.ref.split("@")[0], release_id, int(time.time()))
                self._served[info.ref] = (served, bases[key], name)
                self._checked[info.ref] = time.monotonic()

    def close(self) -> None:
        """Stop every base's scheduler thread and let go of the models (the server has stopped;
        requests still decoding finish first). Idempotent."""
        self.ready = False
        for b in {id(b): b for _, b, _ in list(self._served.values())}.values():
            b.batcher.close()
        self._served.clear()

    # ---------------------------------------------------------------- serving
    def models(self) -> list[ServedModel]:
        return [s for s, _, _ in self._served.values()]

    def batcher(self, model: str) -> Batcher:
        """The scheduler serving ``model`` (a ref; one per base model, shared by its adapters)."""
        return self._served[model][1].batcher

    def resolve(self, model: str) -> ServedModel:
        hit = self._served.get(model)
        if hit is None:  # a bare name: its served version
            named = [v for v in self._served.values() if v[0].name == model]
            hit = named[0] if len(named) == 1 else None
        if hit is None:
            raise NotFoundError(f"the model '{model[:80]}' is not served here")
        served = hit[0]
        recheck_release(self.store, self.ws_lock, self._checked, served)
        return served

    def generate(self, model: ServedModel, messages: list[dict[str, str]] | str, *,
                 max_tokens: int, temperature: float, timeout_s: float,
                 top_p: float = 1.0, stop: tuple[str, ...] = ()) -> Generation:
        _, base, name = self._served[model.id]
        tok = base.tokenizer
        if isinstance(messages, str):  # a completion: the prompt as it is, after BOS
            ids = tok(messages)["input_ids"]
        else:
            text = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
            ids = tok(text, add_special_tokens=False)["input_ids"]
        req = BatchRequest(list(ids), name, max_tokens, temperature=temperature, top_p=top_p,
                           timeout_s=timeout_s)
        gen = Generation(iter(()), prompt_tokens=len(req.ids), cancel=req.cancelled.set)
        eos = tok.eos_token_id

        def ended(out: list[int], stopped: bool) -> None:
            gen.completion_tokens = len(out)
            gen.finish_reason = ("stop" if stopped or (out and out[-1] == eos)
                                 or len(out) < max_tokens else "length")

        base.batcher.submit(req)
        gen.pieces = read_pieces(req, tok, ended, req.cancelled.set, stop)
        return gen


def recheck_release(store: MetadataStore, lock: Any, checked: dict[str, float],
                    served: ServedModel) -> None:
    """Refuse ``served`` once its release is no longer ``released`` in the registry (revoked,
    quarantined, gone), looking again when the last look is :data:`RECHECK_S` old: the one
    check both engines (embedded and proxy) make before every request."""
    now = time.monotonic()
    if now - checked.get(served.id, 0.0) < RECHECK_S:
        return
    with lock:
        row = [r for r in entries(store, served.name) if r.id == served.release_id]
    if not row or row[0].state != "released":
        state = row[0].state if row else "gone from the registry"
        raise PrivacyPolicyError(f"'{served.id}' was {state}: it is no longer served")
    checked[served.id] = now
