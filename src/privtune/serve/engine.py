"""Engines: what turns a conversation into text. The server speaks to one :class:`Engine`.

:class:`EmbeddedEngine` serves released adapters in this process (transformers + peft). Each
adapter is read from the vault into memory (the tar object is unpacked in memory, never to
disk), its bytes hashed, and it is loaded only when the release registry holds a ``released``
row for exactly those bytes (:func:`privtune.gate.registry.require_released`), whose per-file
hashes match and whose signer is the trusted release key: an unreleased, revoked, quarantined,
tampered or foreign-signed adapter is refused with :class:`~privtune.errors.PrivacyPolicyError`
or :class:`~privtune.errors.IntegrityError`. Several adapters over one base share one base
model (peft named adapters, switched per request under the base's lock). The registry is
checked again before every request (at most :data:`RECHECK_S` old), so a revocation stops
serving within a second.
"""

from __future__ import annotations

import hashlib
import io
import queue
import tarfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from privtune.errors import IntegrityError, NotFoundError, PrivacyPolicyError
from privtune.gate.adapters import adapter_info
from privtune.gate.hashing import ADAPTER_FILES, combined_hash
from privtune.gate.registry import entries, record_of, require_released
from privtune.records import signer_key_id
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

    def resolve(self, model: str) -> ServedModel:
        """The served model named ``model`` (ref or name), still released; else NotFoundError /
        PrivacyPolicyError."""

    def generate(self, model: ServedModel, messages: list[dict[str, str]] | str, *,
                 max_tokens: int, temperature: float, timeout_s: float) -> Generation:
        """The answer to a conversation (chat), or the continuation of a prompt (a string)."""


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


class _Pieces:
    """A transformers streamer: decoded new text per generated token, through a queue."""

    def __init__(self, tokenizer: Any) -> None:
        self.tok = tokenizer
        self.ids: list[int] = []
        self.sent = ""
        self.q: queue.Queue[str | BaseException | None] = queue.Queue()
        self._prompt = True

    def put(self, value: Any) -> None:
        if self._prompt:  # generate() first hands over the prompt
            self._prompt = False
            return
        self.ids.extend(int(x) for x in value.reshape(-1).tolist())
        text = self.tok.decode(self.ids, skip_special_tokens=True)
        if text.endswith("\ufffd") or not text.startswith(self.sent):
            return
        new, self.sent = text[len(self.sent):], text
        if new:
            self.q.put(new)

    def end(self) -> None:
        text = self.tok.decode(self.ids, skip_special_tokens=True)
        if text.startswith(self.sent) and len(text) > len(self.sent):
            self.q.put(text[len(self.sent):])
        self.q.put(None)


@dataclass
class _Base:
    model: Any  # PeftModel holding every adapter of this base
    tokenizer: Any
    lock: threading.Lock = field(default_factory=threading.Lock)


class EmbeddedEngine:
    """Released adapters served in-process. ``load()`` may run in a background thread: ``ready``
    says when it is done, ``error`` why it failed."""

    def __init__(self, vault: Vault, store: MetadataStore, refs: list[str] | None,
                 trusted_key_id: str, *, lock: threading.Lock | None = None,
                 base: Path | None = None) -> None:
        self.vault, self.store = vault, store
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
                    bases[key] = _Base(peft_model, tok)
                else:
                    bases[key].model.add_adapter(name, cfg)
                set_peft_model_state_dict(bases[key].model, state, adapter_name=name)
                bases[key].model.eval()
                served = ServedModel(info.ref, info.ref.split("@")[0], release_id, int(time.time()))
                self._served[info.ref] = (served, bases[key], name)
                self._checked[info.ref] = time.monotonic()

    # ---------------------------------------------------------------- serving
    def models(self) -> list[ServedModel]:
        return [s for s, _, _ in self._served.values()]

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
                 max_tokens: int, temperature: float, timeout_s: float) -> Generation:
        from transformers import GenerationConfig, StoppingCriteriaList

        _, base, name = self._served[model.id]
        tok = base.tokenizer
        if isinstance(messages, str):  # a completion: the prompt as it is, after BOS
            enc = tok(messages, return_tensors="pt")
        else:
            text = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
            enc = tok(text, add_special_tokens=False, return_tensors="pt")
        greedy = temperature <= 0
        config = GenerationConfig(
            max_new_tokens=max_tokens, do_sample=not greedy,
            temperature=None if greedy else temperature, top_p=None, top_k=None,
            pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id,
            bos_token_id=tok.bos_token_id, max_time=timeout_s)
        streamer = _Pieces(tok)
        stop = threading.Event()
        gen = Generation(iter(()), prompt_tokens=int(enc["input_ids"].shape[1]), cancel=stop.set)

        def stopped(input_ids: Any, scores: Any, **kw: Any) -> Any:
            import torch

            return torch.full((input_ids.shape[0],), stop.is_set(), dtype=torch.bool,
                              device=input_ids.device)

        def run() -> None:
            import torch

            try:
                with base.lock, torch.no_grad():
                    base.model.set_adapter(name)
                    base.model.generate(**enc, generation_config=config, streamer=streamer,
                                        stopping_criteria=StoppingCriteriaList([stopped]))
            except BaseException as exc:  # handed to the reader
                streamer.q.put(exc)

        thread = threading.Thread(target=run, name="privtune-generate", daemon=True)
        thread.start()
        gen.pieces = self._read(streamer, gen, max_tokens, tok.eos_token_id, thread.join)
        return gen

    @staticmethod
    def _read(streamer: _Pieces, gen: Generation, max_tokens: int, eos: int | None,
              join: Callable[[], None]) -> Iterator[str]:
        started = False
        try:
            while True:
                item = streamer.q.get()
                if item is None:
                    break
                if isinstance(item, BaseException):
                    raise item
                if not started:
                    item = item.lstrip()
                    started = bool(item)
                    if not started:
                        continue
                yield item
        finally:
            gen.cancel()  # the reader stopped (done, failed, or the client went away)
        join()
        ids = streamer.ids
        gen.completion_tokens = len(ids)
        gen.finish_reason = ("stop" if (ids and ids[-1] == eos) or len(ids) < max_tokens
                             else "length")


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
