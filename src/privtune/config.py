"""Configuration as validated data: YAML files + ``key=value`` overrides -> pydantic models.

The convention is the one of TRL / axolotl / torchtune: a YAML file holds the settings and the
command line overrides any of them by dotted path (``train.lr=3e-4 lora.r=16``). Values in
overrides are parsed as YAML scalars, so ``true``, ``16``, ``3e-4`` and ``[q_proj, v_proj]`` get
their natural types.

Every config model forbids unknown keys; a typo gives a :class:`ConfigError` that names the
failing key and lists the allowed ones.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from privtune.errors import ConfigError, InputError

M = TypeVar("M", bound=BaseModel)


class StrictModel(BaseModel):
    """Base for every config section: unknown keys are errors, assignments are validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, protected_namespaces=())


def parse_override(item: str) -> tuple[list[str], Any]:
    """``"train.lr=3e-4"`` -> (["train", "lr"], 0.0003)."""
    if "=" not in item:
        raise ConfigError(f"override '{item}' is not of the form key=value", key=item)
    key, _, raw = item.partition("=")
    key = key.strip()
    if not key or any(not part for part in key.split(".")):
        raise ConfigError(f"override '{item}' has an empty key", key=key)
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    # YAML reads "3e-4" as a string (it wants "3.0e-4"); numbers are what users mean.
    if isinstance(value, str):
        try:
            value = float(value) if any(c in value for c in ".eE") else int(value)
        except ValueError:
            pass
    return key.split("."), value


def apply_overrides(data: dict[str, Any], overrides: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """Return a copy of ``data`` with each dotted override set (intermediate dicts created)."""
    out = _deep_copy(data)
    for item in overrides:
        path, value = parse_override(item)
        node = out
        for part in path[:-1]:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            elif not isinstance(child, dict):
                raise ConfigError(
                    f"override '{item}': '{part}' is a value, not a section", key=".".join(path)
                )
            node = child
        node[path[-1]] = value
    return out


def _deep_copy(data: dict[str, Any]) -> dict[str, Any]:
    return {k: _deep_copy(v) if isinstance(v, dict) else v for k, v in data.items()}


#: The configs and policies shipped inside the package (``privtune config list``).
SHIPPED_DIR = Path(__file__).with_name("configs")


def shipped_configs() -> dict[str, Path]:
    """The shipped configs by name (file name without ``.yaml``)."""
    return {p.stem: p for p in sorted(SHIPPED_DIR.glob("*.yaml"))}


def resolve_config(name_or_path: str | Path) -> Path:
    """A config file: an existing path, else a shipped config by name (``tiny-demo`` or
    ``tiny-demo.yaml``); neither is an :class:`InputError` listing the shipped names."""
    p = Path(name_or_path)
    if p.is_file():
        return p
    shipped = shipped_configs()
    name = p.name[:-5] if p.name.endswith(".yaml") else p.name
    # "configs/tiny-demo.yaml" (the checkout's path) finds the shipped file outside the checkout
    if name in shipped and (p.parent in (Path(), Path("configs"))):
        return shipped[name]
    raise InputError(f"config file not found (shipped configs, usable by name: "
                     f"{', '.join(shipped)}; `privtune config copy NAME FILE` makes an editable "
                     "copy)", path=p)


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping; a missing file or a syntax error (with its row, column and reason)
    is an :class:`InputError`."""
    p = Path(path)
    if not p.is_file():
        raise InputError("config file not found", path=p)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        row = mark.line + 1 if mark is not None else None
        col = f", column {mark.column + 1}" if mark is not None else ""
        reason = getattr(exc, "problem", None) or "syntax error"
        raise InputError(f"invalid YAML{col}: {reason}", path=p, row=row) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InputError("a config file must hold a mapping of keys to values", path=p)
    return data


def validate(model: type[M], data: dict[str, Any], *, source: str = "config",
             overrides: list[str] | tuple[str, ...] = ()) -> M:
    """Validate ``data`` against ``model``; turn the first pydantic error into a ConfigError
    blamed on the command-line override that set the failing key, else on ``source``."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _config_error(model, exc, source, list(overrides)) from None


def load_config(
    model: type[M],
    path: str | Path | None = None,
    overrides: list[str] | tuple[str, ...] = (),
    *,
    base: dict[str, Any] | None = None,
) -> M:
    """Load ``path`` (optional) on top of ``base``, apply overrides, validate as ``model``."""
    data: dict[str, Any] = _deep_copy(base or {})
    source = "config"
    if path is not None:
        path = resolve_config(path)
        data = _merge(data, read_yaml(path))
        source = str(path)
    data = apply_overrides(data, list(overrides))
    return validate(model, data, source=source, overrides=overrides)


def _merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    out = _deep_copy(a)
    for k, v in b.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = v
    return out


def dump_yaml(model: BaseModel) -> str:
    """The resolved config as YAML (what a run records next to its outputs)."""
    return yaml.safe_dump(model.model_dump(mode="json"), sort_keys=False)


# --------------------------------------------------------------------------- error rendering


def _blame(loc: list[str], source: str, overrides: list[str]) -> str:
    """Who set the key at ``loc``: the last override on that path, else the file."""
    for item in reversed(overrides):
        path = item.partition("=")[0].strip().split(".")
        n = min(len(path), len(loc))
        if path[:n] == loc[:n]:
            return f"command-line override '{path and '.'.join(path)}'"
    return source


def _config_error(model: type[BaseModel], exc: ValidationError, source: str,
                  overrides: list[str] | None = None) -> ConfigError:
    err = exc.errors()[0]
    loc = [str(p) for p in err["loc"]]
    key = ".".join(loc)
    source = _blame(loc, source, overrides or [])
    etype = err["type"]
    if etype == "extra_forbidden":
        parent = _model_at(model, loc[:-1])
        allowed = sorted(parent.model_fields) if parent is not None else []
        close = difflib.get_close_matches(loc[-1], allowed, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        return ConfigError(
            f"{source}: unknown key '{key}'{hint}; allowed keys here: {', '.join(allowed)}",
            key=key,
        )
    msg = err["msg"]
    ctx = err.get("ctx") or {}
    if "expected" in ctx:
        msg = f"must be one of {ctx['expected']}"
    if not loc:  # a model-level rule (a validator over several keys): its message names them
        return ConfigError(f"{source}: {msg.removeprefix('Value error, ')}")
    # Never echo the offending value: config values may be paths or names, but keep the rule.
    return ConfigError(f"{source}: invalid value for '{key}': {msg}", key=key)


def _model_at(model: type[BaseModel], path: list[str]) -> type[BaseModel] | None:
    current: type[BaseModel] | None = model
    for part in path:
        if current is None:
            return None
        field = current.model_fields.get(part)
        if field is None:
            return None
        ann = field.annotation
        current = ann if isinstance(ann, type) and issubclass(ann, BaseModel) else None
    return current
