"""The clean site under the ``us_opt_out`` regime for every visitor.

Optional categories run before a choice there, so their cookies on the first
visit are no leak; after "reject all" they still would be.
"""

from __future__ import annotations

from consentkit.regions import Region

from . import clean
from ._common import db_dir

app = clean.create_app(db_dir(), regions=[Region(match=["*"], regime="us_opt_out")])
