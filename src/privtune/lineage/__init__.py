"""Lineage: the parents of every vault artefact (``graph``) and the keyed subject index
(``subjects``) that finds every object whose data included one employee."""

from privtune.lineage.graph import Lineage, lineage_of
from privtune.lineage.subjects import find_subject, index_subjects

__all__ = ["Lineage", "find_subject", "index_subjects", "lineage_of"]
