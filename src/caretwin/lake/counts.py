"""What one load did per resource type: records added, unchanged and quarantined.

Every feeder into the lake counts the same way (the FHIR ingest, the HL7 v2 feed it runs, the
retry of quarantined records), so the counts live with the lake rather than with one feeder; the
ingest's report (:class:`~caretwin.ingest.report.IngestReport`) carries one per type.
"""

from __future__ import annotations

from pydantic import BaseModel

__all__ = ["TypeCounts"]


class TypeCounts(BaseModel):
    """Records of one resource type by outcome.

    ``added`` counts raw records new to the lake (new resources, new versions and deletes);
    ``updated`` and ``deleted`` say how many of them were a new version of a resource the lake
    (or this ingest) already held, and deletes.
    """

    added: int = 0
    unchanged: int = 0
    quarantined: int = 0
    updated: int = 0
    deleted: int = 0

    @property
    def new(self) -> int:
        """Resources the lake did not hold before."""
        return self.added - self.updated - self.deleted

    @property
    def total(self) -> int:
        return self.added + self.unchanged + self.quarantined
