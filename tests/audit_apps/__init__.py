"""Small sites for the audit and testing-helper tests, importable as ``audit_apps.NAME:app``.

Each module builds its app with ``create_app(db_dir)``; the module-level ``app``
stores its consent log under ``$CONSENTKIT_AUDIT_DIR`` (the tests set it).
"""
