"""The markup scan of automatic blocking, compiled (see ``_scan.c``)."""

def scan(
    body: bytes, needles: tuple[bytes, ...], max_tag: int, /
) -> list[tuple[int, int, int, int]] | None:
    """The start tags that may be gated, as ``(kind, start, name_end, end)``; ``None``:
    an ``<img>`` or ``<iframe>`` to decide holds a ``<`` (use the pure-Python scan)."""
