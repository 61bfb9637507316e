"""The optional C part of consentkit; everything else is declared in pyproject.toml.

``consentkit._scan`` is the markup scan of automatic blocking. Where it cannot be
built (no C compiler), the package installs without it and the pure-Python scan
does the same work, slower.
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("consentkit._scan", ["src/consentkit/_scan.c"], optional=True)])
