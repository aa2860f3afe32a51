"""FHIR R4 basics that ingestion and the views share: references to bare ids
(:mod:`~caretwin.fhir.refs`), the R4 resource type names (:mod:`~caretwin.fhir.types`) and
``date``/``dateTime``/``instant`` parsing (:mod:`~caretwin.fhir.dates`).

A bottom package: it imports nothing of CareTwin's, so anything above may use it (and ingestion
and the views no longer need each other for it).
"""
