"""Keeping per-visitor responses out of shared caches.

A page consentkit inserted its fragment into carries the visitor's state
(``data-decided``, ``data-granted``, the banner or not), and a response whose
``Set-Cookie`` headers it filtered or added depends on the visitor's choice.
A CDN or proxy that stored one would serve it to other visitors: a decided
visitor's page, with its granted categories, to an undecided one. So such a
response gets:

- ``Vary: Cookie``, merged into the site's own ``Vary`` (a cache that honours
  ``Vary`` keys the page by the visitor's cookies), with the request headers
  the visitor's region is read from (``CF-IPCountry`` ...) when the site has
  regional regimes, since the banner depends on the region, and
- ``Cache-Control: private``: ``public``, ``s-maxage`` and ``proxy-revalidate``
  (directives only for shared caches) are dropped and ``private`` added; the
  browser's own cache may still keep it for ``max-age``. A response without
  ``Cache-Control`` gets ``private``, since shared caches may store it
  heuristically. ``no-store`` and an already ``private`` response are left
  as they are.

``Vary: Cookie`` alone is not enough: many CDNs ignore ``Vary`` except for
``Accept-Encoding``, and an undecided first visit and a decided one may both
carry the same unrelated cookies. ``private`` is what every shared cache obeys;
it also covers a region looked up from the client's address (GeoIP), which no
``Vary`` can name.
"""

from __future__ import annotations

__all__ = ["private_headers"]

_SHARED_ONLY = frozenset({b"public", b"s-maxage", b"proxy-revalidate"})
_PRIVATE = (b"cache-control", b"private")
_COOKIE = (b"Cookie",)


def private_headers(
    headers: list[tuple[bytes, bytes]], vary: tuple[bytes, ...] = _COOKIE
) -> list[tuple[bytes, bytes]]:
    """``headers`` with ``Vary: Cookie`` and ``Cache-Control: private`` as described above.

    ``vary`` are the request headers the response varies by (``Cookie`` and
    any region headers); those the site's ``Vary`` lacks are added to it.
    Returns a new list; the input is not changed.
    """
    vary_at = -1
    present: set[bytes] = set()
    control_at: list[int] = []
    directives: list[bytes] = []
    for index, (name, value) in enumerate(headers):
        lowered = name.lower()
        if lowered == b"vary":
            present.update(token.strip().lower() for token in value.split(b","))
            if vary_at < 0:
                vary_at = index
        elif lowered == b"cache-control":
            control_at.append(index)
            directives += [d.strip() for d in value.split(b",") if d.strip()]
    result = list(headers)
    missing = [] if b"*" in present else [v for v in vary if v.lower() not in present]
    if missing:
        if vary_at >= 0:
            name, value = result[vary_at]
            own = value.strip(b", ")
            result[vary_at] = (name, b", ".join([own, *missing] if own else missing))
        else:
            result.append((b"vary", b", ".join(missing)))
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
