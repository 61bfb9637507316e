"""What the banner costs a page in Chromium: layout shift, main-thread time, first paint, INP.

The demo site (``examples/seed_site``) is served three times by uvicorn on loopback: with
``ConsentMiddleware``, the same site without it, and the site without it plus an empty
``defer`` script (what any deferred script costs, the floor). Debian's Chromium loads them
round by round (interleaved, so machine noise hits them alike; differences are paired by
round), each load in a fresh browser context (an undecided first-time visitor with a cold
cache, a 412 x 915 phone viewport), with the CPU throttled 4x through the DevTools protocol
(``Emulation.setCPUThrottlingRate``).

Per load it reads, from the Performance APIs and a DevTools trace:

- **CLS**: the sum of ``layout-shift`` entries (none excluded) from navigation until the
  page is idle, then while the preferences dialog is opened and closed and "Accept all"
  is clicked (the consentkit page only: the bare page has nothing to click);
- **the script's main-thread time**: the union, on the page's main thread, of the trace
  events that compile, evaluate or call into ``consentkit.js`` (with the style and layout
  work they force), i.e. script evaluation plus its own tasks; and the thread's CPU time
  inside them (``tdur``), which other processes on a busy machine do not inflate;
- **FCP** (``first-contentful-paint``) and ``DOMContentLoaded``; with ``--latency MS`` the
  network gets that round-trip time (``Network.emulateNetworkConditions``), so a blocking
  stylesheet would show in FCP;
- the Resource Timing ``renderBlockingStatus`` of consentkit's files.

Interaction to Next Paint for "Accept all", "Reject all" and opening the preferences comes
from Event Timing (``event`` entries with ``durationThreshold: 16`` and ``first-input``,
the largest duration of the interaction's events: Chromium rounds them to 8 ms), each on
a fresh page. "dialog shown" is the time from the click to the dialog being open (the
snippet fetches the texts from ``GET /consent`` first).

Run: ``make bench`` (or ``python benchmarks/bench_frontend.py [--loads 20] [--latency 0]``).
Needs ``/usr/bin/chromium`` and Playwright (``pip install -e '.[test]'``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from examples.seed_site.app import LanguageMiddleware, create_app, site  # noqa: E402
from tests.live import serve  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
VIEWPORT = {"width": 412, "height": 915}
THROTTLE = 4
TRACE_CATEGORIES = [
    "devtools.timeline",
    "disabled-by-default-devtools.timeline",
    "v8",
    "v8.execute",
]
#: Trace events that belong to a script when their ``args.data.url`` (or ``args.fileName``) is it.
SCRIPT_EVENTS = {"EvaluateScript", "v8.compile", "v8.produceCache", "FunctionCall", "TimerFire"}

COLLECT = """async () => {
  const fcp = await new Promise((found) => new PerformanceObserver((list) => {
    for (const e of list.getEntries()) if (e.name === 'first-contentful-paint') found(e);
  }).observe({type: 'paint', buffered: true}));
  const nav = performance.getEntriesByType('navigation')[0];
  const ours = performance.getEntriesByType('resource')
    .filter((r) => /\\/consent\\/consentkit\\./.test(r.name))
    .map((r) => [r.name.split('/').pop(), r.renderBlockingStatus]);
  return {
    cls: window.__ck.shifts.reduce((sum, s) => sum + s.value, 0),
    fcp: fcp.startTime,
    dcl: nav.domContentLoadedEventEnd,
    blocking: ours,
  };
}"""

OBSERVE = """
window.__ck = {shifts: [], events: []};
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) window.__ck.shifts.push({
    value: e.value, input: e.hadRecentInput, at: Math.round(e.startTime),
    nodes: e.sources.map((s) => [s.node && s.node.nodeName, s.previousRect.y, s.currentRect.y]),
  });
}).observe({type: 'layout-shift', buffered: true});
const timing = (list) => {
  for (const e of list.getEntries()) {
    if (e.interactionId || e.entryType === 'first-input') window.__ck.events.push(e.duration);
  }
};
new PerformanceObserver(timing).observe({type: 'event', durationThreshold: 16, buffered: true});
new PerformanceObserver(timing).observe({type: 'first-input', buffered: true});
"""

VARIANTS = ("bare", "empty script", "consentkit")
CLS_ALL = "every layout shift, load + dialog + Accept all"
IDLE = "() => new Promise((r) => requestIdleCallback(r, {timeout: 2000}))"
FRAME = "() => new Promise((r) => requestAnimationFrame(() => setTimeout(r)))"


def _script_time(trace: dict[str, Any], needle: str) -> tuple[float, float]:
    """Main-thread time (ms) of the events that run the script ``needle``: wall-clock (the
    union of their intervals) and the thread's CPU time inside them (``tdur``)."""
    events = trace["traceEvents"]
    main = {
        (e["pid"], e["tid"])
        for e in events
        if e.get("name") == "thread_name" and e["args"].get("name") == "CrRendererMain"
    }
    found = []
    for e in events:
        if e.get("ph") != "X" or e.get("name") not in SCRIPT_EVENTS:
            continue
        if (e["pid"], e["tid"]) not in main:
            continue
        args = e.get("args", {})
        data = args.get("data") or {}
        url = data.get("url") or args.get("fileName") or data.get("scriptName") or ""
        if needle in url:
            start = e["ts"] / 1000
            found.append((start, start + e.get("dur", 0) / 1000, e.get("tdur", 0) / 1000))
    wall = cpu = 0.0
    end = float("-inf")
    for start, stop, thread in sorted(found):
        if stop <= end:  # nested in one already counted
            continue
        wall += stop - max(start, end)
        cpu += thread
        end = stop
    return wall, cpu


class Bench:
    """One Chromium and the two servers (with and without consentkit)."""

    def __init__(self, browser: Any, urls: dict[str, str]) -> None:
        self.browser = browser
        self.urls = urls

    def page(self, variant: str, latency: float = 0) -> tuple[Any, Any]:
        """A fresh context (no cookies, cold cache) and page, CPU throttled."""
        context = self.browser.new_context(
            base_url=self.urls[variant], viewport=VIEWPORT, locale="en-US"
        )
        page = context.new_page()
        cdp = context.new_cdp_session(page)
        cdp.send("Emulation.setCPUThrottlingRate", {"rate": THROTTLE})
        if latency:
            cdp.send("Network.enable")
            conditions = {"offline": False, "latency": latency}
            cdp.send(
                "Network.emulateNetworkConditions",
                {**conditions, "downloadThroughput": -1, "uploadThroughput": -1},
            )
        page.add_init_script(OBSERVE)
        page.set_default_timeout(20000)
        return context, page

    def load(self, variant: str, latency: float) -> dict[str, Any]:
        """One cold load of the home page; on the consentkit page, then open the preferences,
        close them with Escape and click "Accept all", counting every layout shift."""
        context, page = self.page(variant, latency)
        try:
            if not latency:
                self.browser.start_tracing(page=page, categories=TRACE_CATEGORIES)
            page.goto("/", wait_until="load")
            page.evaluate(IDLE)
            result: dict[str, Any] = page.evaluate(COLLECT)
            if not latency:
                trace = json.loads(self.browser.stop_tracing())
                script = "/empty.js" if variant == "empty script" else "/consent/consentkit."
                wall, cpu = _script_time(trace, script)
                result["script_ms"], result["script_cpu"] = wall, cpu
            if variant == "consentkit":
                page.locator("#consentkit-banner summary").click()
                page.locator("dialog.ck-dialog[open]").wait_for()
                page.evaluate(FRAME)
                page.keyboard.press("Escape")
                page.locator("#consentkit-banner .ck-btn[value=accept_all]").click()
                page.locator("#consentkit-banner").wait_for(state="detached")
            page.evaluate(FRAME)
            shifts = page.evaluate("window.__ck.shifts")
            result["cls_all"] = sum(s["value"] for s in shifts)
            for shift in shifts:
                print(f"  layout shift on {variant}: {shift}", file=sys.stderr)
            return result
        finally:
            context.close()

    def interaction(self, what: str) -> dict[str, float]:
        """INP of one interaction on a fresh consentkit page."""
        context, page = self.page("consentkit")
        try:
            page.goto("/", wait_until="load")
            page.wait_for_function("window.consentkit")
            page.evaluate(IDLE)
            if what == "open preferences":
                page.evaluate(
                    "() => { window.__t0 = performance.now(); new MutationObserver(() => {"
                    " if (!window.__t1 && document.querySelector('dialog.ck-dialog[open]'))"
                    " window.__t1 = performance.now(); })"
                    ".observe(document.body, {subtree: true, childList: true, attributes: true}); }"
                )
                page.locator("#consentkit-banner summary").click()
                page.locator("dialog.ck-dialog[open]").wait_for()
            else:
                value = "accept_all" if what == "Accept all" else "reject_all"
                page.locator(f"#consentkit-banner .ck-btn[value={value}]").click()
                page.locator("#consentkit-banner").wait_for(state="detached")
            # Event Timing entries are queued after the next paint.
            page.evaluate(FRAME)
            page.wait_for_timeout(200)
            durations = page.evaluate("window.__ck.events")
            out = {"inp": max(durations) if durations else float("nan")}
            if what == "open preferences":
                out["shown"] = page.evaluate("window.__t1 - window.__t0")
            return out
        finally:
            context.close()


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))] if ordered else float("nan")


class EmptyScript:
    """The site without consentkit plus an empty deferred script: the floor any script costs."""

    TAG = b'<script src="/empty.js" defer></script></body>'

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == "/empty.js":
            headers = [(b"content-type", b"text/javascript"), (b"content-length", b"0")]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start: dict[str, Any] = {}
        body = bytearray()

        async def buffer(message: Any) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
                return
            body.extend(message.get("body", b""))
            if message.get("more_body"):
                return
            page = bytes(body).replace(b"</body>", self.TAG, 1)
            headers = [(k, v) for k, v in start["headers"] if k.lower() != b"content-length"]
            headers.append((b"content-length", str(len(page)).encode()))
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": page})

        await self.app(scope, receive, buffer)


def _servers(stack: ExitStack, tmp: str) -> dict[str, str]:
    demo = create_app(storage=f"sqlite:///{tmp}/bench.db")
    return {
        "bare": stack.enter_context(serve(LanguageMiddleware(site()))),
        "consentkit": stack.enter_context(serve(demo.app)),
        "empty script": stack.enter_context(serve(EmptyScript(LanguageMiddleware(site())))),
    }


Loads = dict[tuple[str, float], list[dict[str, Any]]]


def _markdown(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    """A Markdown table, first column left-aligned, the others right-aligned."""
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    lines = ["| " + " | ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in
                                enumerate(zip(row, widths, strict=True))) + " |"
             for row in (header, *rows)]  # fmt: skip
    rule = "|" + "|".join("-" * (w + 2) if i == 0 else "-" * (w + 1) + ":"
                          for i, w in enumerate(widths)) + "|"  # fmt: skip
    return "\n".join([lines[0], rule, *lines[1:]])


def _table(loads: Loads, latencies: tuple[float, ...]) -> list[tuple[str, ...]]:
    """Rows: measure, then one cell per variant, then consentkit's paired difference."""

    def col(variant: str, key: str, latency: float = 0) -> list[float]:
        return [r[key] for r in loads[variant, latency]]

    def paired(key: str, latency: float) -> float:
        """Median over rounds of consentkit minus the bare site in the same round."""
        pairs = zip(col("consentkit", key, latency), col("bare", key, latency), strict=True)
        return _median([ours - bare for ours, bare in pairs])

    rows: list[tuple[str, ...]] = []
    for key, label in (("cls", "CLS of the load"), ("cls_all", CLS_ALL)):
        worst = [max(x for lat in latencies for x in col(v, key, lat)) for v in VARIANTS]
        rows.append((label + ", worst load", *(f"{x:.4f}" for x in worst), ""))
    for key, label in (("script_ms", "main-thread time"), ("script_cpu", "CPU time")):
        cells = [f"{_median(col(v, key)):.2f}" if v != "bare" else "-" for v in VARIANTS]
        rows.append((f"the script's {label}, median (ms)", *cells, ""))
    cells = [f"{_p90(col(v, 'script_ms')):.2f}" if v != "bare" else "-" for v in VARIANTS]
    rows.append(("the script's main-thread time, p90 (ms)", *cells, ""))
    for latency in latencies:
        net = f"{latency:.0f} ms round trip" if latency else "loopback"
        for key, label in (("fcp", "First Contentful Paint"), ("dcl", "DOMContentLoaded")):
            cells = [f"{_median(col(v, key, latency)):.0f}" for v in VARIANTS]
            rows.append((f"{label}, median (ms), {net}", *cells, f"{paired(key, latency):+.0f}"))
    statuses = sorted(
        {f"{name.rsplit('.', 1)[-1]}: {status}" for lat in latencies
         for r in loads["consentkit", lat] for name, status in r["blocking"]}
    )  # fmt: skip
    rows.append(("renderBlockingStatus of consentkit's files", "-", "-", ", ".join(statuses), ""))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--loads", type=int, default=20, help="cold loads per variant")
    parser.add_argument(
        "--latency", type=float, default=150, help="a second network: round-trip time, ms (0: none)"
    )
    args = parser.parse_args(argv)
    if not Path(CHROMIUM).exists():
        print(f"bench_frontend: {CHROMIUM} is missing (make browser)", file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright

    latencies = (0.0, args.latency) if args.latency else (0.0,)
    load_before = _load()
    kinds = ("Accept all", "Reject all", "open preferences")
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        urls = _servers(stack, tmp)
        pw = stack.enter_context(sync_playwright())
        browser = pw.chromium.launch(
            executable_path=CHROMIUM, args=["--disable-gpu", "--disable-quic"]
        )
        stack.callback(browser.close)
        version = browser.version
        bench = Bench(browser, urls)
        for variant in VARIANTS:  # warm-up: Python, uvicorn, Chromium
            bench.load(variant, 0)
        loads: Loads = {(v, lat): [] for v in VARIANTS for lat in latencies}
        for _ in range(args.loads):
            for latency in latencies:
                for variant in VARIANTS:
                    loads[variant, latency].append(bench.load(variant, latency))
        inp: dict[str, list[dict[str, float]]] = {kind: [] for kind in kinds}
        for _ in range(max(5, args.loads // 2)):
            for kind in kinds:
                inp[kind].append(bench.interaction(kind))

    print(
        f"load average of the machine: {load_before} before, {_load()} after the run\n"
        f"Chromium {version}, CPU throttled {THROTTLE}x, viewport {VIEWPORT['width']}x"
        f"{VIEWPORT['height']}, {args.loads} cold loads per variant and network, interleaved\n"
    )
    header = (
        "measure",
        "without consentkit",
        "an empty deferred script",
        "with consentkit",
        "consentkit - without, paired",
    )
    print(_markdown(header, _table(loads, latencies)))
    runs = len(inp[kinds[0]])
    print(f"\nInteractions on the consentkit page ({runs} of each, each on a fresh page):\n")
    rows = []
    for kind, results in inp.items():
        values = [r["inp"] for r in results]
        shown = [r["shown"] for r in results if "shown" in r]
        rows.append(
            (
                kind,
                f"{_median(values):.0f} ms",
                f"{max(values):.0f} ms",
                f"{_median(shown):.0f} ms" if shown else "-",
            )
        )
    print(_markdown(("interaction", "INP, median", "INP, worst", "dialog open after"), rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
