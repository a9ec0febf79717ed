"""privtune.anonymity: k-anonymity, l-diversity, re-identification risk, the minimal
generalisation search, and the gate that refuses data missing the policy's k."""

from privtune.anonymity.gate import enforce, require_anonymous, verdict
from privtune.anonymity.hierarchy import build_levels, infer_hierarchy
from privtune.anonymity.model import SUPPRESSED, Assessment, assess, assess_table
from privtune.anonymity.search import SearchResult, anonymize

__all__ = ["SUPPRESSED", "Assessment", "SearchResult", "anonymize", "assess", "assess_table",
           "build_levels", "enforce", "infer_hierarchy", "require_anonymous", "verdict"]
