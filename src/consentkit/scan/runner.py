"""Running a scan: crawl, then every visitor in its own browser profile, in parallel."""

from __future__ import annotations

import asyncio
import re
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

from consentkit.scan.browser import (
    Recorder,
    Sighting,
    find_browser,
    launch_args,
    prepare_profile,
)
from consentkit.scan.classify import DeclaredCategory
from consentkit.scan.crawl import CrawlLimits, CrawlResult, Fetched, crawl, page_path

if TYPE_CHECKING:
    from playwright._impl._api_structures import SetCookieParam
    from playwright.async_api import BrowserContext, Page, Playwright

    from consentkit.config import ConsentConfig

__all__ = [
    "ScanError",
    "ScanOptions",
    "ScanResult",
    "Visitor",
    "default_grants",
    "run_scan",
    "visitors_for",
]


class ScanError(Exception):
    """A bad argument or a site that cannot be scanned (exit status 2)."""


@dataclass(frozen=True)
class Visitor:
    """One kind of visitor: the optional categories it grants, and whether it withdraws."""

    name: str
    granted: frozenset[str]
    decided: bool = True
    withdraw: bool = False
    description: str = ""

    def states(self) -> list[tuple[str, frozenset[str]]]:
        """The states it is recorded in, each with the optional categories granted then."""
        if self.withdraw:
            return [
                (f"{self.name}_accepted", self.granted),
                (f"{self.name}_withdrawn", frozenset()),
            ]
        return [(self.name, self.granted)]


def visitors_for(
    categories: Sequence[DeclaredCategory], before_choice: frozenset[str] = frozenset()
) -> list[Visitor]:
    """Undecided, reject all, accept all, one per optional category, and a withdrawal.

    ``before_choice``: the optional categories the site runs for a visitor who has
    not decided (every one under the ``us_opt_out``, ``notice`` and ``none`` regimes).
    """
    optional = [c.key for c in categories if not c.required]
    everything = frozenset(optional)
    undecided = "has not decided"
    if before_choice:
        undecided += f" (the site's regime runs {', '.join(sorted(before_choice))} until then)"
    visitors = [
        Visitor("undecided", before_choice & everything, decided=False, description=undecided),
        Visitor("reject_all", frozenset(), description="rejected all"),
        Visitor("accept_all", everything, description="accepted all"),
    ]
    if len(optional) > 1:
        visitors += [
            Visitor(f"only_{key}", frozenset({key}), description=f"granted only {key}")
            for key in optional
        ]
    visitors.append(
        Visitor(
            "withdrawal",
            everything,
            withdraw=True,
            description="accepted all, then rejected all on a later page",
        )
    )
    return visitors


@dataclass(frozen=True)
class ScanOptions:
    """Everything a scan needs; the command line builds one."""

    urls: Sequence[str]
    config: ConsentConfig | None = None
    limits: CrawlLimits = field(default_factory=CrawlLimits)
    #: Seconds a page may take to load.
    timeout: float = 20.0
    #: Seconds to wait after ``load`` for late scripts, beacons and timers.
    settle: float = 0.3
    #: Visitors scanned at the same time.
    jobs: int = 4
    browser_path: str | None = None
    browser_args: Sequence[str] = ()
    user_agent: str | None = None
    #: Consent endpoint of a site whose configuration is not given.
    prefix: str = "/consent"
    #: The site's secret keys when its configuration is not given: the scanner then signs
    #: the consent cookie (named ``cookie_name``) for the declaration the endpoint shows.
    secret_keys: Sequence[str] = ()
    cookie_name: str = "consentkit"
    #: Cookies to start every visitor with (a Playwright storage state file): a logged-in scan.
    storage_state: Path | None = None
    #: Where screenshots and HAR files go (the evidence bundle), if anywhere.
    evidence_dir: Path | None = None
    progress: Callable[[int, int], None] | None = None


@dataclass
class ScanResult:
    """What the browsers saw, before it is turned into findings."""

    target: str
    pages: list[str]
    categories: list[DeclaredCategory]
    declaration_source: str
    visitors: list[Visitor]
    states: dict[str, dict[tuple[str, str, str], Sighting]]
    crawl: CrawlResult
    errors: list[dict[str, str]] = field(default_factory=list)
    browser_version: str = ""
    started: str = ""
    finished: str = ""
    screenshots: dict[str, str] = field(default_factory=dict)
    hars: dict[str, str] = field(default_factory=dict)
    #: The site's ``ConsentConfig.csp_always_allow``, when its configuration was given.
    csp_always_allow: tuple[str, ...] = ()

    def granted(self, state: str) -> frozenset[str]:
        """The optional categories granted in visitor state ``state``."""
        for visitor in self.visitors:
            for name, granted in visitor.states():
                if name == state:
                    return granted
        raise KeyError(state)

    def state_names(self) -> list[str]:
        """Every visitor state, in visitor order."""
        return [name for v in self.visitors for name, _ in v.states()]


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def declared_categories(config: ConsentConfig) -> list[DeclaredCategory]:
    """The categories of a configuration, with the cookies consentkit itself sets."""
    from consentkit.declaration import effective_categories

    return [
        DeclaredCategory(
            c.key, c.label, c.required, tuple(k.name for k in c.cookies), tuple(c.hosts)
        )
        for c in effective_categories(config)
    ]


def _categories_from_json(document: Any) -> list[DeclaredCategory]:
    declaration = document.get("declaration", document) if isinstance(document, dict) else None
    if not isinstance(declaration, dict) or not isinstance(declaration.get("categories"), list):
        raise ValueError("no categories")
    categories = []
    for category in declaration["categories"]:
        names = tuple(str(c["name"]) for c in category.get("cookies") or () if c.get("name"))
        categories.append(
            DeclaredCategory(
                str(category["key"]),
                str(category.get("label") or category["key"]),
                bool(category.get("required")),
                names,
            )
        )
    return categories


def _browser_version(executable: str) -> str:
    try:
        done = subprocess.run(
            [executable, "--version"], capture_output=True, text=True, timeout=20, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    match = re.search(r"(Chrom\w*[^\n]*?\d+\.\d+\.\d+\.\d+)", done.stdout)
    return match.group(1).strip() if match else done.stdout.strip()


def _user_agent(version: str) -> str:
    match = re.search(r"(\d+)\.\d+\.\d+\.\d+", version)
    major = match.group(1) if match else "130"
    return (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        f"Chrome/{major}.0.0.0 Safari/537.36 consentkit-scan/1"
    )


async def run_scan(options: ScanOptions) -> ScanResult:
    """Crawl the site and play every visitor; raises `ScanError` for what stops a scan."""
    from playwright.async_api import async_playwright

    if not options.urls:
        raise ScanError("name a URL to scan (or --app MODULE:APP)")
    first = urlsplit(options.urls[0])
    if first.scheme not in ("http", "https") or not first.hostname:
        raise ScanError(f"{options.urls[0]!r} is not an http(s) URL")
    origin = f"{first.scheme}://{first.netloc}"
    started = _now()
    async with async_playwright() as playwright:
        try:
            executable = find_browser(playwright, options.browser_path)
        except Exception as exc:
            raise ScanError(str(exc)) from None
        version = _browser_version(executable or playwright.chromium.executable_path)
        agent = options.user_agent or _user_agent(version)
        prefix = options.config.prefix if options.config is not None else options.prefix
        limits = options.limits
        limits = CrawlLimits(
            pages=limits.pages,
            depth=limits.depth,
            include=limits.include,
            exclude=limits.exclude,
            robots=limits.robots,
            sitemap=limits.sitemap,
            skip_prefixes=(prefix + "/", prefix),
        )
        api = await playwright.request.new_context(user_agent=agent)
        try:

            async def fetch(url: str) -> Fetched:
                response = await api.get(url, timeout=options.timeout * 1000, max_redirects=10)
                content_type = response.headers.get("content-type", "")
                text = (
                    await response.text()
                    if "xml" in content_type
                    or "html" in content_type
                    or (url.endswith((".txt", ".xml")))
                    else ""
                )
                return Fetched(response.url, response.status, content_type, text)

            try:
                await fetch(options.urls[0])
            except Exception as exc:
                first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                raise ScanError(f"cannot reach {options.urls[0]}: {first_line}") from None
            crawled = await crawl(fetch, list(options.urls), limits)
            if not crawled.pages:
                problems = "; ".join(f"{e['url']}: {e['error']}" for e in crawled.errors)
                raise ScanError(
                    f"no page of {origin} could be scanned" + (f" ({problems})" if problems else "")
                )
            writer: ConsentWriter | None = None
            if options.config is not None:
                categories = declared_categories(options.config)
                declaration_source = "config"
                writer = ConsentWriter.from_config(options.config)
                before_choice = default_grants(options.config)
            else:
                categories, policy, declaration_source, before_choice = await _fetch_declaration(
                    api, origin, prefix
                )
                if options.secret_keys and policy is not None:
                    writer = ConsentWriter(
                        tuple(options.secret_keys),
                        policy,
                        frozenset(c.key for c in categories if c.required),
                        frozenset(c.key for c in categories),
                        cookie_name=options.cookie_name,
                    )
        finally:
            await api.dispose()

        visitors = (
            visitors_for(categories, before_choice)
            if categories
            else [Visitor("undecided", frozenset(), decided=False, description="has not decided")]
        )
        result = ScanResult(
            target=origin,
            pages=[page_path(url) for url in crawled.pages],
            categories=categories,
            declaration_source=declaration_source,
            visitors=visitors,
            states={},
            crawl=crawled,
            browser_version=version,
            started=started,
            csp_always_allow=(
                tuple(options.config.csp_always_allow) if options.config is not None else ()
            ),
        )
        total = sum(len(crawled.pages) + (1 if v.withdraw else 0) for v in visitors)
        done = 0

        def step() -> None:
            nonlocal done
            done += 1
            if options.progress is not None:
                options.progress(done, total)

        semaphore = asyncio.Semaphore(max(1, options.jobs))

        async def play(visitor: Visitor) -> None:
            async with semaphore:
                await _play(
                    playwright, executable, agent, options, visitor, crawled.pages, categories,
                    prefix, writer, result, step,
                )  # fmt: skip

        outcomes = await asyncio.gather(*(play(v) for v in visitors), return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
    result.finished = _now()
    return result


async def _fetch_declaration(
    api: Any, origin: str, prefix: str
) -> tuple[list[DeclaredCategory], str | None, str, frozenset[str]]:
    """The categories and policy version the site's consent endpoint declares.

    Also the optional categories it grants a visitor who has not decided (asked
    without a cookie, from where the browser will ask: the same region).
    """
    try:
        response = await api.get(origin + prefix, headers={"accept": "application/json"})
        if response.status == 200:
            document = await response.json()
            policy = (document.get("declaration") or {}).get("policy_version")
            categories = _categories_from_json(document)
            granted = document.get("granted")
            before_choice = frozenset(
                key
                for key in (granted if isinstance(granted, list) else [])
                if isinstance(key, str) and any(c.key == key and not c.required for c in categories)
            )
            return categories, policy, "endpoint", before_choice
    except Exception:  # not a consentkit site, or not JSON
        pass
    return [], None, "none", frozenset()


def default_grants(config: ConsentConfig) -> frozenset[str]:
    """The optional categories ``config``'s default rule runs before a visitor decides."""
    from consentkit.regimes import RegimePolicy

    regime = next((rule.regime for rule in config.regions if "*" in rule.match), "opt_in")
    required = frozenset(c.key for c in config.categories if c.required)
    policy = RegimePolicy(required, frozenset(c.key for c in config.categories), ())
    return policy.defaults[regime] - required


async def _play(
    playwright: Playwright,
    executable: str | None,
    agent: str,
    options: ScanOptions,
    visitor: Visitor,
    pages: list[str],
    categories: list[DeclaredCategory],
    prefix: str,
    writer: ConsentWriter | None,
    result: ScanResult,
    step: Callable[[], None],
) -> None:
    site_host = (urlsplit(pages[0]).hostname or "").lower()
    recorder = Recorder(site_host)
    evidence = options.evidence_dir
    extra: dict[str, Any] = {}
    if evidence is not None:
        (evidence / "har").mkdir(parents=True, exist_ok=True)
        har = evidence / "har" / f"{visitor.name}.har"
        extra.update(record_har_path=str(har), record_har_content="omit")
        result.hars[visitor.name] = f"har/{visitor.name}.har"
    with tempfile.TemporaryDirectory(prefix="consentkit-scan-") as profile:
        prepare_profile(Path(profile))
        context = await playwright.chromium.launch_persistent_context(
            profile,
            executable_path=executable,
            headless=True,
            args=launch_args(options.browser_args),
            user_agent=agent,
            locale="en-US",
            viewport={"width": 1280, "height": 900},
            **extra,
        )
        try:
            context.set_default_timeout(options.timeout * 1000)
            recorder.attach(context)
            await recorder.install(context)
            if options.storage_state is not None:
                await _load_storage_state(context, options.storage_state)
            page = context.pages[0] if context.pages else await context.new_page()
            await recorder.watch_initiators(context, page)
            states = visitor.states()
            state, granted = states[0]
            if visitor.decided:
                await _decide(context, page, writer, options, categories, granted, pages[0])
            recorder.state = state
            for index, url in enumerate(pages):
                await _visit(context, page, recorder, url, options, result, visitor.name)
                if index == 0 and evidence is not None:
                    await _screenshot(page, evidence, visitor.name, result)
                step()
            if visitor.withdraw:
                recorder.state = None
                await _withdraw(page, prefix, options.timeout)
                recorder.state = states[1][0]
                await _visit(context, page, recorder, pages[0], options, result, visitor.name)
                step()
        finally:
            recorder.state = None
            await recorder.settle()
            await context.close()
    for name, sightings in recorder.states.items():
        result.states[name] = sightings


async def _visit(
    context: BrowserContext,
    page: Page,
    recorder: Recorder,
    url: str,
    options: ScanOptions,
    result: ScanResult,
    visitor: str,
) -> None:
    recorder.page = page_path(url)
    try:
        await page.goto(url, wait_until="load", timeout=options.timeout * 1000)
        if options.settle:
            await page.wait_for_timeout(options.settle * 1000)
    except Exception as exc:
        result.errors.append(
            {"visitor": visitor, "page": page_path(url), "error": _first_line(exc)}
        )
    await recorder.settle()
    try:
        await recorder.snapshot(context, page)
    except Exception as exc:  # the page crashed
        result.errors.append(
            {"visitor": visitor, "page": page_path(url), "error": _first_line(exc)}
        )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__


async def _decide(
    context: BrowserContext,
    page: Page,
    writer: ConsentWriter | None,
    options: ScanOptions,
    categories: list[DeclaredCategory],
    granted: frozenset[str],
    first_page: str,
) -> None:
    """Put the visitor in its consent state: write the cookie, or click the banner."""
    if writer is not None:
        await context.add_cookies([cast("SetCookieParam", writer.cookie(granted, first_page))])
        return
    await page.goto(first_page, wait_until="load", timeout=options.timeout * 1000)
    banner = page.locator("#consentkit-banner")
    try:
        await banner.wait_for(state="visible", timeout=options.timeout * 1000)
        optional = [c.key for c in categories if not c.required]
        if granted == frozenset(optional):
            await banner.locator("button[value=accept_all]").click()
        elif not granted:
            await banner.locator("button[value=reject_all]").click()
        else:
            # Customize: the switches as a person would set them, then Save (the form's own
            # submission, which the snippet handles like a click).
            await banner.evaluate(
                """(banner, granted) => {
                    const details = banner.querySelector("details");
                    if (details) details.open = true;
                    for (const box of banner.querySelectorAll("input[name=category]")) {
                        if (!box.disabled) box.checked = granted.includes(box.value);
                    }
                    const save = banner.querySelector("button[value=custom]");
                    save.form.requestSubmit(save);
                }""",
                sorted(granted),
            )
        await banner.wait_for(state="hidden", timeout=options.timeout * 1000)
    except Exception as exc:
        raise ScanError(
            f"could not decide on the banner of {page_path(first_page)} ({_first_line(exc)});"
            " name the site's configuration with --config MODULE:ATTR so the scanner writes"
            " the consent cookie itself"
        ) from None


@dataclass(frozen=True)
class ConsentWriter:
    """Signs a visitor's consent cookie with the site's keys, as the middleware would."""

    secret_keys: tuple[str, ...]
    policy_version: str
    required: frozenset[str]
    known: frozenset[str]
    cookie_name: str = "consentkit"
    lifetime: int = 182 * 86400
    domain: str | None = None
    path: str = "/"
    secure: bool | None = None

    @classmethod
    def from_config(cls, config: ConsentConfig) -> ConsentWriter:
        """Everything from the site's `ConsentConfig`."""
        from consentkit.declaration import effective_categories

        categories = effective_categories(config)
        return cls(
            tuple(config.secret_keys),
            config.policy_version,
            frozenset(c.key for c in categories if c.required),
            frozenset(c.key for c in categories),
            config.cookie_name,
            int(config.consent_lifetime.total_seconds()),
            config.cookie_domain,
            config.cookie_path,
            config.cookie_secure,
        )

    def cookie(self, granted: frozenset[str], url: str) -> dict[str, Any]:
        """The cookie (Playwright's form) of a visitor who granted ``granted``."""
        from consentkit.consent import ConsentCodec

        codec = ConsentCodec(
            self.secret_keys,
            self.policy_version,
            required=self.required,
            known=self.known,
            max_age=self.lifetime,
            cache_size=0,
        )
        now = time.time()
        consent_id = "scan-" + "-".join(sorted(granted) or ["none"])
        cookie: dict[str, Any] = {
            "name": self.cookie_name,
            "value": codec.encode(granted, consent_id[:64], now),
            "httpOnly": True,
            "sameSite": "Lax",
            "expires": now + self.lifetime,
        }
        parts = urlsplit(url)
        if self.domain:
            cookie.update(domain=self.domain, path=self.path)
        else:
            cookie["url"] = f"{parts.scheme}://{parts.netloc}{self.path}"
        if parts.scheme == "https" and self.secure is not False:
            cookie["secure"] = True
        return cookie


async def _withdraw(page: Page, prefix: str, timeout: float) -> None:
    answer = page.evaluate(
        """async (prefix) => {
            const answer = await fetch(prefix, {method: "POST", credentials: "same-origin",
                headers: {"content-type": "application/json"},
                body: JSON.stringify({action: "reject_all"})});
            return answer.status;
        }""",
        prefix,
    )
    try:
        status = await asyncio.wait_for(answer, timeout)
    except Exception as exc:
        raise ScanError(f"the withdrawal at {prefix} failed: {_first_line(exc)}") from None
    if status != 200:
        raise ScanError(f"the site's consent endpoint {prefix} refused the withdrawal ({status})")
    await page.wait_for_timeout(100)


async def _screenshot(page: Page, evidence: Path, visitor: str, result: ScanResult) -> None:
    (evidence / "screenshots").mkdir(parents=True, exist_ok=True)
    relative = f"screenshots/{visitor}.png"
    try:
        await page.screenshot(path=str(evidence / relative))
    except Exception as exc:
        result.errors.append({"visitor": visitor, "page": "screenshot", "error": _first_line(exc)})
        return
    result.screenshots[visitor] = relative


async def _load_storage_state(context: BrowserContext, path: Path) -> None:
    import json

    try:
        state = json.loads(path.read_text("utf-8"))
        cookies = state["cookies"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ScanError(
            f"--storage-state {str(path)!r}: not a Playwright storage state ({exc})"
        ) from None
    if cookies:
        await context.add_cookies(cast("list[SetCookieParam]", cookies))
