"""Lineage: the parents of every vault artefact (``graph``) and the keyed subject index
(``subjects``) that finds every object whose data included one employee."""

from privtune.lineage.graph import Lineage, lineage_of
from privtune.lineage.subjects import SubjectHits, Subjects, subject_key

__all__ = ["Lineage", "SubjectHits", "Subjects", "lineage_of", "subject_key"]
