"""Each operator: deterministic, keyed, consistent per person and across case variants."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from privtune.deid.hipaa_zip3 import RESTRICTED_ZIP3
from privtune.deid.keys import KeyedHash, person_key
from privtune.deid.operators import Target, build_operator, mask_value, offset_days
from privtune.deid.policy import parse_policy
from privtune.errors import ConfigError

from .conftest import OTHER_KEY, make_env

names = st.text(alphabet=st.characters(whitelist_categories=("Lu", "Ll")), min_size=1, max_size=12)
ids = st.from_regex(r"E[0-9]{5}", fullmatch=True)


def op(spec: dict, env=None):
    pol = parse_policy({"columns": {"c": spec}})
    return build_operator(pol.columns["c"].op, env or make_env())


def _case_variants(s: str) -> list[str]:
    return [s, s.upper(), s.lower(), s.title(), s.swapcase(), s.casefold(), "  " + s.replace(" ", "   ") + " "]


@given(s=st.text(max_size=20))
@settings(max_examples=300, deadline=None)
def test_person_key_is_the_same_for_every_case_variant(s: str) -> None:
    keys = {person_key(v) for v in _case_variants(s)}
    assert len(keys) == 1


def test_key_must_be_long_enough() -> None:
    with pytest.raises(ConfigError):
        KeyedHash(b"short")
    assert "k" * 8 not in repr(KeyedHash(b"k" * 32))


@given(pid=ids, other=ids)
@settings(max_examples=50, deadline=None)
def test_pseudonymize_deterministic_keyed_and_kind_independent(pid: str, other: str) -> None:
    a = op({"operator": "pseudonymize", "kind": "EMP"})
    b = op({"operator": "pseudonymize", "kind": "MGR"})
    c = op({"operator": "pseudonymize", "kind": "EMP"}, make_env(OTHER_KEY))
    t = a.apply(pid, Target(column="c"))
    assert re.fullmatch(r"EMP-[0-9a-f]{10}", t)
    assert t == a.apply(pid, Target(column="c")) == a.apply(pid.lower(), Target(column="c"))
    assert b.apply(pid, Target(column="c"))[4:] == t[4:]  # same person, same hex in any kind
    assert c.apply(pid, Target(column="c")) != t  # another key, another token
    if person_key(other) != person_key(pid):
        assert a.apply(other, Target(column="c")) != t
    # in text, the person key wins over the surface form
    assert a.apply("Maria", Target(entity="PERSON", person=person_key(pid))) == t


@given(first=names, last=names)
@settings(max_examples=40, deadline=None)
def test_surrogate_name_is_the_same_in_every_case_variant(first: str, last: str) -> None:
    env = make_env()
    s = op({"operator": "surrogate"}, env)
    full = f"{first} {last}"
    outs = {s.apply(v, Target(entity="PERSON", person=person_key(v))) for v in _case_variants(full)}
    assert len(outs) == 1
    (fake,) = outs
    assert fake == env.surrogates.full_name(person_key(full))


def test_surrogate_different_keys_give_different_names() -> None:
    a, b = make_env(), make_env(OTHER_KEY)
    people = [f"person {i}" for i in range(20)]
    assert sum(a.surrogates.full_name(p) != b.surrogates.full_name(p) for p in people) >= 18


def test_surrogate_mentions_follow_the_form_of_the_mention(env) -> None:
    s = op({"operator": "surrogate"}, env)
    first, last = env.surrogates.name("e00001")
    t = lambda surface: Target(entity="PERSON", person="e00001", surface=surface)  # noqa: E731
    assert s.apply("Maria Garcia", t("Maria Garcia")) == f"{first} {last}"
    assert s.apply("MARIA", t("MARIA")) == first
    assert s.apply("garcia", t("garcia")) == last
    assert s.apply("Garcia, Maria", t("Garcia, Maria")) == f"{last}, {first}"
    assert s.apply("Maria's", t("Maria's")) == first + "'s"
    e = op({"operator": "surrogate"}, env).apply("maria.garcia@acme.example",
                                                 Target(entity="EMAIL", person="e00001"))
    assert e == f"{re.sub('[^a-z]', '', first.lower())}.{re.sub('[^a-z]', '', last.lower())}@example.com"
    p = s.apply("(415) 372-0134", Target(entity="PHONE", person="e00001"))
    assert re.fullmatch(r"\(\d{3}\) 555-01\d\d", p)
    ssn = s.apply("123-45-6789", Target(entity="SSN", person="e00001"))
    assert int(ssn[:3]) >= 900


def test_surrogate_never_reuses_a_real_full_name() -> None:
    # Make every first draw collide: forbid the names the key would produce first.
    env = make_env()
    drawn = {env.surrogates.full_name(f"p{i}") for i in range(30)}
    people = [{"employee_id": f"X{i}", "first_name": n.split()[0], "last_name": n.split()[1]}
              for i, n in enumerate(drawn)]
    env2 = make_env(people=people)
    for i in range(30):
        assert person_key(env2.surrogates.full_name(f"p{i}")) not in env2.people.full_names()


def test_surrogate_table_columns_by_row_person(env) -> None:
    first, last = env.surrogates.name("e00002")
    assert op({"operator": "surrogate"}, env).apply("John", Target(column="first_name", person="e00002")) == first
    assert op({"operator": "surrogate"}, env).apply("Long", Target(column="last_name", person="e00002")) == last
    assert op({"operator": "surrogate", "entity": "email"}, env).apply(
        "x", Target(column="work_contact", person="e00002")) == env.surrogates.email("e00002")


@given(value=st.text(min_size=0, max_size=30), first=st.integers(0, 6), last=st.integers(0, 6))
@settings(max_examples=100, deadline=None)
def test_mask_keeps_shape_and_reveals_at_most_half(value: str, first: int, last: int) -> None:
    out = mask_value(value, first, last, "*")
    assert len(out) == len(value)
    alnum = [c for c in value if c.isalnum()]
    shown = sum(1 for a, b in zip(value, out) if a.isalnum() and a == b and a != "*")
    assert shown <= len(alnum) // 2
    assert all(a == b for a, b in zip(value, out) if not a.isalnum())


def test_mask_keep_last() -> None:
    assert op({"operator": "mask", "keep_last": 4}).apply("123-45-6789", Target(column="c")) == "***-**-6789"
    assert op({"operator": "mask", "keep_last": 4, "char": "#"}).apply("ab", Target(column="c")) == "#b"


def test_redact_drop_suppress() -> None:
    assert op({"operator": "redact"}).apply("x", Target(entity="SSN")) == "[SSN]"
    assert op({"operator": "redact"}).apply("x", Target(column="c")) == "[REDACTED]"
    assert op({"operator": "redact", "placeholder": "<{type}>"}).apply("x", Target(entity="IBAN")) == "<IBAN>"
    assert op({"operator": "suppress"}).apply("x", Target(column="c")) is None
    assert op({"operator": "drop"}).apply("x", Target(entity="PERSON")) == ""


def test_generalize_methods() -> None:
    g = lambda **kw: op({"operator": "generalize", **kw})  # noqa: E731
    t = Target(column="c")
    assert g(method="year").apply("1985-03-14", t) == "1985"
    assert g(method="month").apply("14.03.1985", t) == "1985-03"
    assert g(method="age_band", reference_date="2026-06-30").apply("1985-07-01", t) == "40-49"
    assert g(method="age_band", reference_date="2026-06-30", width=5).apply("1985-06-30", t) == "40-44"
    assert g(method="zip3").apply("02139", t) == "021"
    assert g(method="zip3").apply("03601", t) == "036"
    assert g(method="zip3", hipaa=True).apply("03601", t) == "000"
    assert g(method="zip3", hipaa=True).apply("94110-1234", t) == "941"
    assert g(method="band", width=10000).apply(85000, t) == "80k-90k"
    assert g(method="band", width=10).apply("37", t) == "30-39"
    assert g(method="prefix", width=2).apply("Engineering", t) == "En*"
    assert g(method="year").apply("not a date", t) is None  # never the original


def test_hipaa_restricted_zip3_table() -> None:
    assert len(RESTRICTED_ZIP3) == 17 and all(re.fullmatch(r"\d{3}", z) for z in RESTRICTED_ZIP3)


@given(amount=st.integers(0, 10_000_000), width=st.sampled_from([1000, 5000, 10000, 7]))
@settings(max_examples=100, deadline=None)
def test_band_contains_the_value(amount: int, width: int) -> None:
    out = op({"operator": "generalize", "method": "band", "width": width}).apply(amount, Target(column="c"))
    lo, hi = out.split("-")
    mult = 1000 if lo.endswith("k") else 1
    lo_v, hi_v = int(lo.rstrip("k")) * mult, int(hi.rstrip("k")) * mult
    assert lo_v <= amount and (amount < hi_v if mult == 1000 else amount <= hi_v)


@given(pid=ids, max_days=st.integers(1, 400), d=st.dates(dt.date(1950, 1, 1), dt.date(2040, 1, 1)))
@settings(max_examples=80, deadline=None)
def test_date_shift_keyed_nonzero_and_consistent(pid: str, max_days: int, d: dt.date) -> None:
    env = make_env()
    s = op({"operator": "date_shift", "max_days": max_days}, env)
    off = offset_days(env, person_key(pid), max_days)
    assert off != 0 and -max_days <= off <= max_days
    out = s.apply(d.isoformat(), Target(column="c", person=person_key(pid)))
    assert out == (d + dt.timedelta(days=off)).isoformat()
    # the same person, the same offset in text, whatever the written form
    written = d.strftime("%B %d, %Y")
    assert s.apply(written, Target(entity="DATE", person=person_key(pid))) == (d + dt.timedelta(days=off)).strftime("%B %d, %Y")


def test_date_shift_formats_and_unparseable_text(env) -> None:
    s = op({"operator": "date_shift", "max_days": 30}, env)
    off = offset_days(env, "e00001", 30)
    t = Target(entity="DATE", person="e00001")
    base = dt.date(1985, 3, 14) + dt.timedelta(days=off)
    assert s.apply("14.03.1985", t) == base.strftime("%d.%m.%Y")
    assert s.apply("14th of March 1985", t) == base.strftime("%d %B %Y")
    assert s.apply("13 Feb 2024", t) == (dt.date(2024, 2, 13) + dt.timedelta(days=off)).strftime("%d %b %Y")
    assert s.apply("sometime in spring", t) == "[DATE]"
    assert s.apply(dt.date(2020, 1, 1), Target(column="c", person="e00001")) == dt.date(2020, 1, 1) + dt.timedelta(days=off)


def test_surrogate_locale_is_used() -> None:
    env = make_env()
    us = op({"operator": "surrogate"}, env).apply("Maria Garcia", Target(entity="PERSON", person="zz"))
    de = op({"operator": "surrogate", "locale": "de_DE"}, env).apply("Maria Garcia", Target(entity="PERSON", person="zz"))
    from privtune.deid.fakes import _name_pool

    firsts, _, lasts, _ = _name_pool("de_DE")
    assert de.split()[0] in firsts and de.split()[-1] in lasts
    assert us == env.surrogates.full_name("zz") and de == env.surrogates.full_name("zz", "de_DE")
