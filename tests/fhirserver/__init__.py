"""A small FHIR R4 server for connector tests: search paging, SMART token endpoint, Bulk export.

Runs in a thread on 127.0.0.1 (port 0) so tests talk real HTTP over loopback, and lets a test
inject faults (status codes with ``Retry-After``, slow responses, malformed pages, dropped
connections) and bad export content (truncated lines, OperationOutcome error files).
"""

from tests.fhirserver.server import Fault, FhirTestServer

__all__ = ["Fault", "FhirTestServer"]
