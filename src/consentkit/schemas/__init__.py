"""JSON Schemas of consentkit's reports (``findings.schema.json``: audit and scan)."""
