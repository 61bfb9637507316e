"""A module that fails to import."""

raise RuntimeError("database settings missing")
