"""Keeping per-visitor responses out of shared caches.

A page consentkit inserted its fragment into carries the visitor's state
(``data-decided``, ``data-granted``, the banner or not), and a response whose
``Set-Cookie`` headers it filtered or added depends on the visitor's choice.
A CDN or proxy that stored one would serve it to other visitors: a decided
visitor's page, with its granted categories, to an undecided one. So such a
response gets:

- ``Vary: Cookie``, merged into the site's own ``Vary`` (a cache that honours
  ``Vary`` keys the page by the visitor's cookies), and
- ``Cache-Control: private``: ``public``, ``s-maxage`` and ``proxy-revalidate``
  (directives only for shared caches) are dropped and ``private`` added; the
  browser's own cache may still keep it for ``max-age``. A response without
  ``Cache-Control`` gets ``private``, since shared caches may store it
  heuristically. ``no-store`` and an already ``private`` response are left
  as they are.

``Vary: Cookie`` alone is not enough: many CDNs ignore ``Vary`` except for
``Accept-Encoding``, and an undecided first visit and a decided one may both
carry the same unrelated cookies. ``private`` is what every shared cache obeys.
"""

from __future__ import annotations

__all__ = ["private_headers"]

_SHARED_ONLY = frozenset({b"public", b"s-maxage", b"proxy-revalidate"})
_PRIVATE = (b"cache-control", b"private")
_VARY_COOKIE = (b"vary", b"Cookie")


def private_headers(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """``headers`` with ``Vary: Cookie`` and ``Cache-Control: private`` as described above.

    Returns a new list; the input is not changed.
    """
    vary_at = -1
    varies = False
    control_at: list[int] = []
    directives: list[bytes] = []
    for index, (name, value) in enumerate(headers):
        lowered = name.lower()
        if lowered == b"vary":
            tokens = [token.strip().lower() for token in value.split(b",")]
            if b"*" in tokens or b"cookie" in tokens:
                varies = True
            elif vary_at < 0:
                vary_at = index
        elif lowered == b"cache-control":
            control_at.append(index)
            directives += [d.strip() for d in value.split(b",") if d.strip()]
    result = list(headers)
    if not varies:
        if vary_at >= 0:
            name, value = result[vary_at]
            result[vary_at] = (name, value.rstrip(b", ") + b", Cookie")
        else:
            result.append(_VARY_COOKIE)
    if not control_at:
        result.append(_PRIVATE)
        return result
    names = [d.split(b"=", 1)[0].strip().lower() for d in directives]
    private = any(d.lower() == b"private" for d in directives)
    if b"no-store" in names or (private and not _SHARED_ONLY & set(names)):
        return result
    kept = [
        directive
        for directive, name in zip(directives, names, strict=True)
        if name not in _SHARED_ONLY and name != b"private"
    ]
    control = (b"cache-control", b", ".join([b"private", *kept]))
    first = control_at[0]
    result[first] = control
    for index in reversed(control_at[1:]):
        del result[index]
    return result
