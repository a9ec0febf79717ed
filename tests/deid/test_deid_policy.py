"""The policy file: the shipped default is valid and documented; bad policies name key and choices."""

from __future__ import annotations

from pathlib import Path

import pytest

from privtune.deid.policy import DEFAULT_POLICY_PATH, OPERATORS, load_policy, parse_policy
from privtune.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def test_shipped_policy_is_the_packaged_default() -> None:
    assert (ROOT / "configs" / "deid-policy.yaml").read_bytes() == DEFAULT_POLICY_PATH.read_bytes()
    pol = load_policy(ROOT / "configs" / "deid-policy.yaml")
    assert pol == load_policy()
    assert pol.column_op("employee_id", "direct_identifier").operator == "pseudonymize"
    assert pol.column_op("some_new_email", "direct_identifier").operator == "drop"
    assert pol.column_class("department") == "quasi_identifier"
    assert pol.entity_op("PERSON").operator == "surrogate"
    assert pol.privacy.k == 5


def _err(data: dict) -> ConfigError:
    with pytest.raises(ConfigError) as exc:
        parse_policy(data, source="p.yaml")
    return exc.value


def test_unknown_operator_names_key_and_allowed_values() -> None:
    e = _err({"columns": {"salary": {"operator": "shred"}}})
    assert e.key == "columns.salary.operator"
    assert all(op in str(e) for op in OPERATORS) and "p.yaml" in str(e)


def test_unknown_operator_parameter_lists_allowed_parameters() -> None:
    e = _err({"columns": {"salary": {"operator": "generalize", "method": "band", "widht": 5}}})
    assert e.key == "columns.salary.widht"
    assert "width" in str(e) and "method" in str(e)


def test_bad_method_class_and_entity() -> None:
    e = _err({"columns": {"dob": {"operator": "generalize", "method": "decade"}}})
    assert e.key == "columns.dob.method" and "'year'" in str(e) and "'zip3'" in str(e)
    e = _err({"columns": {"dob": {"class": "secret"}}})
    assert e.key == "columns.dob.class" and "quasi_identifier" in str(e)
    e = _err({"entities": {"PASSPORT": {"operator": "redact"}}})
    assert e.key == "entities" and "PERSON" in str(e) and "default" in str(e)
    e = _err({"privacy": {"k": 0}})
    assert e.key == "privacy.k"
    e = _err({"privacy": {"kk": 3}})
    assert e.key == "privacy.kk" and "max_suppression" in str(e)
    e = _err({"colums": {}})
    assert e.key == "colums" and "columns" in str(e)


def test_bad_yaml_file_is_an_input_error(tmp_path: Path) -> None:
    from privtune.errors import InputError

    p = tmp_path / "p.yaml"
    p.write_text("columns: [unclosed\n")
    with pytest.raises(InputError):
        load_policy(p)
    with pytest.raises(InputError):
        load_policy(tmp_path / "missing.yaml")


def test_class_override_without_operator_uses_the_class_default() -> None:
    pol = parse_policy({"columns": {"badge": {"class": "direct_identifier"}},
                        "defaults": {"direct_identifier": {"operator": "redact"}}})
    assert pol.column_class("badge") == "direct_identifier"
    assert pol.column_op("badge", "direct_identifier").operator == "redact"


def test_unknown_surrogate_locale() -> None:
    e = _err({"entities": {"PERSON": {"operator": "surrogate", "locale": "xx_YY"}}})
    assert e.key == "entities.PERSON.locale" and "de_DE" in str(e)
