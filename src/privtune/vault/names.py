"""Which kind a vault name may hold: the first version fixes it; reserved names have theirs.

A write is authorised by the *object*, never by the kind the caller claims
(``privtune.access.guard`` maps the object's kind to an operation of the role matrix). Two rules
fix an object's kind:

* **The first version of a name fixes its kind.** A later ``put`` under another kind is refused
  (``ObjectKindConflict``, exit 7, audited as a deny): ``pseudonym-key@2`` can only be a key.
* **Reserved names** (the names the stages write) may hold only their own kind, even as a
  first version: keys only ``key`` (so only ``key.write`` writes them), training sets only
  ``examples``, checkpoints only ``adapter``, and so on (``RESERVED``).

The stages' names are defined in the floors above (``privtune.workspace.PSEUDONYM_KEY``,
``privtune.gate.release.KEY_NAME``, ``privtune.attacks.canaries.VAULT_NAME``,
``privtune.pipeline.train.CKPT_PREFIX``, ...); they are repeated here as literals because the
vault may not import upwards, and ``tests/vault/test_names.py`` checks each is covered.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class NameClass:
    """A set of reserved names (exact, ``prefix*`` or ``*suffix``) and the kinds they may hold."""

    label: str
    kinds: tuple[str, ...]
    names: frozenset[str] = frozenset()
    prefixes: tuple[str, ...] = ()
    suffixes: tuple[str, ...] = ()

    def matches(self, name: str) -> bool:
        return (name in self.names or any(name.startswith(p) for p in self.prefixes)
                or any(name.endswith(s) for s in self.suffixes))


#: Reserved name classes, first match wins (order matters only where patterns overlap).
RESERVED: tuple[NameClass, ...] = (
    NameClass("key object", ("key",), frozenset({"pseudonym-key", "release-signing-key"}),
              suffixes=("-key",)),
    NameClass("training set", ("examples",), frozenset({"trainset", "valset"})),
    NameClass("canary secrets", ("blob",), frozenset({"canaries"})),
    NameClass("training checkpoint", ("adapter",), prefixes=("ckpt-",)),
    NameClass("audit report", ("report",), suffixes=("-report",)),
    NameClass("DP synthetic table", ("table",), suffixes=("-synth",)),
    NameClass("ingested export table", ("table",), frozenset({"employees", "leave"})),
    NameClass("ingested export texts", ("texts",), frozenset({"reviews", "tickets", "policies"})),
    NameClass("de-identification policy", ("blob",), frozenset({"deid-policy"})),
    NameClass("export schema mapping", ("blob",), frozenset({"schema-mapping"})),
    NameClass("de-identified data", ("table", "texts"), suffixes=("-deid",)),
    NameClass("subject request", ("blob",), prefixes=("subject-request-",)),
    NameClass("federation roster", ("roster",), frozenset({"federation-roster"})),
)


def name_class(name: str) -> NameClass | None:
    """The reserved class ``name`` belongs to, or None for a free name."""
    return next((c for c in RESERVED if c.matches(name)), None)


def object_kind(name: str, requested: str, existing: str | None) -> str:
    """The kind that decides who may write ``name``: the existing object's kind, else the one
    kind its reserved class allows, else (a new free name) the kind asked for."""
    if existing is not None:
        return existing
    cls = name_class(name)
    if cls is not None and requested not in cls.kinds:
        return cls.kinds[0]
    return requested


def kind_conflict(name: str, requested: str, existing: str | None) -> str:
    """Why a write of kind ``requested`` under ``name`` is refused ('' when it is not).

    ``existing`` is the kind of the name's latest version (None for a new name). The message
    names the object and kinds only.
    """
    if existing is not None and requested != existing:
        return (f"'{name}' is a {existing} object (its first version fixed the kind); "
                f"a put of kind {requested} is refused")
    cls = name_class(name)
    if cls is not None and requested not in cls.kinds:
        return (f"'{name}' is reserved for the {cls.label} ({'/'.join(cls.kinds)}); "
                f"a put of kind {requested} is refused")
    return ""


def stored_kind_problem(name: str, kind: str) -> str:
    """Why a stored version's kind is not one its name may hold ('' when it is fine): a version
    written before kinds were fixed, or a manifest edited in the database."""
    cls = name_class(name)
    if cls is not None and kind not in cls.kinds:
        return (f"vault object '{name}' is reserved for the {cls.label} but its manifest says "
                f"kind {kind}")
    return ""
