"""privtune.deid: the de-identification policy and its operators.

A YAML policy (:mod:`policy`) declares per column (or per entity type in free text) one
operator (:mod:`operators`: drop, keep, redact, mask, pseudonymize, surrogate, generalize,
date_shift, suppress); :class:`Deidentifier` applies it with the workspace's keyed hash so the
same person gets the same token, surrogate and date offset in every table and text.
"""

from privtune.deid.classify import classify_table
from privtune.deid.engine import Deidentifier, TableOutcome
from privtune.deid.keys import KeyedHash, person_key
from privtune.deid.people import PersonIndex
from privtune.deid.policy import DEFAULT_POLICY_PATH, DeidPolicy, load_policy, parse_policy

__all__ = ["DEFAULT_POLICY_PATH", "DeidPolicy", "Deidentifier", "KeyedHash", "PersonIndex",
           "TableOutcome", "classify_table", "load_policy", "parse_policy", "person_key"]
