"""``python -m examples.seed_site [--traffic]``: serve the demo on http://127.0.0.1:8000."""

from __future__ import annotations

import argparse
import os
import secrets
from pathlib import Path

from examples.seed_site.app import Demo, create_app

DEFAULT_STORAGE = "sqlite:///demo.db"


def _fresh_sqlite(storage: str) -> bool:
    """Remove an old demo database: its consent log was signed with another demo key."""
    if not storage.startswith("sqlite:///"):
        return False
    path = Path(storage.removeprefix("sqlite:///"))
    removed = False
    for suffix in ("", "-wal", "-shm"):
        candidate = path.with_name(path.name + suffix)
        if candidate.exists():
            candidate.unlink()
            removed = True
    return removed


def _demo_key(storage: str) -> str:
    """The demo's secret key, kept beside its database (mode 0600), never printed.

    A database whose key is lost cannot be verified any more, so it is
    removed when a new key is made.
    """
    if not storage.startswith("sqlite:///"):
        print("consentkit demo: generated a secret key for this run only")
        return secrets.token_urlsafe(32)
    key_file = Path(storage.removeprefix("sqlite:///") + ".key")
    if key_file.exists():
        return key_file.read_text().strip()
    if _fresh_sqlite(storage):
        print("consentkit demo: removed the previous demo database: its key is gone")
    key = secrets.token_urlsafe(32)
    key_file.touch(mode=0o600)
    key_file.write_text(key + "\n")
    print(f"consentkit demo: generated a secret key in {key_file} (mode 0600)")
    print(f"  to audit the log: export CONSENTKIT_SECRET_KEYS=$(cat {key_file})")
    return key


def startup_message(demo: Demo, base: str) -> str:
    """What the demo prints when it starts: where it is and the dashboard's credentials."""
    return (
        f"consentkit demo: {base}/  (storage {demo.config.storage})\n"
        f"  dashboard: {base}{demo.config.prefix}/dashboard\n"
        f"  user: admin  password: {demo.dashboard_password}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m examples.seed_site", description=__doc__)
    parser.add_argument("--traffic", action="store_true", help="simulate visitors first")
    parser.add_argument("--visitors", type=int, default=400)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--storage", default=DEFAULT_STORAGE)
    parser.add_argument("--no-serve", action="store_true", help="stop after --traffic")
    args = parser.parse_args(argv)

    from_env = [k.strip() for k in os.environ.get("CONSENTKIT_SECRET_KEYS", "").split(",")]
    keys = [k for k in from_env if k] or [_demo_key(args.storage)]

    if args.traffic:
        from examples.seed_site.traffic import run

        print(f"consentkit demo: simulating {args.visitors} visitors over {args.days} days ...")
        summary = run(args.storage, keys, visitors=args.visitors, days=args.days)
        print(f"  {summary.page_views} page views, decisions: {summary.decisions}")
    if args.no_serve:
        return 0

    import uvicorn

    demo = create_app(storage=args.storage, secret_keys=keys)
    print(startup_message(demo, f"http://{args.host}:{args.port}"), flush=True)
    uvicorn.run(demo.app, host=args.host, port=args.port, log_level="info")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
