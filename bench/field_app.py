"""Benchmark: the field app on a phone (issue 18), in headless Chromium at 390×844.

    git clone /work/main /tmp/field-bench && cd /tmp/field-bench
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/daihou_helper_b \\
    REDIS_URL=redis://127.0.0.1:6379/12 \\
        /work/main/.venv/bin/python bench/field_app.py [--runs 10] [--slow-runs 5] [--port 8020] \\
        [--storage compressed|manifest]

Run it from a clone: it writes collectstatic's output into the checkout's staticfiles/. It
loads the demo book and users (`manage.py setup_demo --migrate --allow-production`, what
`make run` does; nothing happens when they are there), collects the static files and
serves the portal as production does, gunicorn with DEBUG off and whitenoise serving the
gzip files collectstatic wrote (on 127.0.0.1 only; cookies not marked secure, as under
`make run`, since this is plain http). `--storage manifest` is production's storage
(hashed names); `compressed`, the default, the same compression without the hashed names,
because the service worker answers 500 under the manifest storage (see docs/benchmarks.md).
Then, logged in as the demo officer (the form, Enter in the password field):

  * offline: the day taken along and the page controlled by the service worker, the
    network cut (`context.set_offline(True)`), the agenda opened --runs times: `page.goto`
    to domcontentloaded plus the agenda's list visible;
  * slow 3G: a fresh context (the session cookie only: no HTTP cache, no service worker),
    Chromium's network emulation (CDP `Network.emulateNetworkConditions`: latency 400 ms,
    download and upload 50,000 bytes/s = 400 kbit/s), the agenda from navigation start to
    `load` (the Navigation Timing entry's loadEventEnd), --slow-runs times; once, also the
    time until the phone has kept the day (window.DaihouField.ready);
  * bytes: the agenda and a report form, first visit (a fresh context) and repeat visit (the
    day kept, the service worker in control, online), the sum of the CDP
    `Network.loadingFinished` events' encodedDataLength (bytes over the wire, compressed
    where the server compressed) of the page's own requests until `load`, each response
    listed; the service worker's own requests (its install, stale-while-revalidate's
    refreshes) are counted apart, from the worker's target. Pages are not compressed by the
    portal (no GZipMiddleware; whitenoise compresses static files only): for each HTML
    response the gzip size of its body (level 6, computed here) is printed beside it.

Prints each figure; the medians and maxima are over the runs.
"""

from __future__ import annotations

import argparse
import gzip
import os
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
PHONE = {"width": 390, "height": 844}
OFFICER, PASSWORD = "officer", os.environ.get("DAIHOU_DEMO_PASSWORD", "daihou-demo-2026")
AGENDA = "/risk/agenda/"
# Chrome DevTools' "Slow 3G" preset since Chrome 119 (and Lighthouse's mobile throttling
# rounded): 400 kbit/s both ways, 400 ms round trip.
SLOW_3G = {
    "offline": False,
    "latency": 400,
    "downloadThroughput": 50_000,
    "uploadThroughput": 50_000,
}
STORAGES = {
    "compressed": "whitenoise.storage.CompressedStaticFilesStorage",
    "manifest": "whitenoise.storage.CompressedManifestStaticFilesStorage",
}


def _portal_environment(storage: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DEBUG="0",
        SECRET_KEY=env.get("SECRET_KEY", "bench-field-app-" + "x" * 40),
        SESSION_COOKIE_SECURE="0",
        CSRF_COOKIE_SECURE="0",
        SECURE_HSTS_SECONDS="0",
        SECURE_HSTS_PRELOAD="0",
        STATICFILES_STORAGE=STORAGES[storage],
        MEDIA_ROOT=env.get("MEDIA_ROOT", "/tmp/daihou-bench-field-media"),
    )
    return env


def _prepare(env: dict[str, str]) -> None:
    manage = [PYTHON, str(ROOT / "manage.py")]
    subprocess.run(
        [*manage, "setup_demo", "--migrate", "--allow-production", "--logins-file", os.devnull],
        env=env,
        check=True,
        cwd=ROOT,
    )
    subprocess.run(
        [*manage, "collectstatic", "--noinput", "--clear", "-v", "0"], env=env, check=True, cwd=ROOT
    )


def _serve(env: dict[str, str], port: int) -> subprocess.Popen:
    gunicorn = Path(PYTHON).with_name("gunicorn")
    server = subprocess.Popen(
        [
            str(gunicorn),
            "config.wsgi:application",
            f"--bind=127.0.0.1:{port}",
            "--workers=3",
            "--timeout=60",
            "--log-level=warning",
        ],
        env=env,
        cwd=ROOT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2)
            return server
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                server.terminate()
                raise SystemExit("gunicorn did not answer /healthz") from None
            time.sleep(0.3)


def _login(context):
    page = context.new_page()
    page.goto("/accounts/login/")
    page.fill("input[name=username]", OFFICER)
    page.fill("input[name=password]", PASSWORD)
    with page.expect_navigation():
        page.press("input[name=password]", "Enter")
    assert "/accounts/login/" not in page.url, "the officer's login failed"
    return page


def _session_cookies(browser, base_url: str) -> list[dict]:
    """Log in once in a throwaway context: a 'fresh' context then starts with the session
    cookie and nothing else (no HTTP cache, no service worker, no kept day)."""
    context = browser.new_context(viewport=PHONE, base_url=base_url, service_workers="block")
    _login(context)
    cookies = context.cookies()
    context.close()
    return cookies


def _fresh(browser, base_url: str, cookies: list[dict]):
    context = browser.new_context(
        viewport=PHONE, base_url=base_url, storage_state={"cookies": cookies, "origins": []}
    )
    return context, context.new_page()


def _take_the_day_along(page) -> dict:
    """As the browser tests do: open the agenda, wait for the day kept, reload under the
    service worker's control."""
    page.goto(AGENDA)
    page.wait_for_function("window.DaihouField && window.DaihouField.ready !== undefined")
    page.evaluate("window.DaihouField.ready")
    day = page.evaluate("DaihouQueue.day()")
    assert day, "the day was not kept"
    page.evaluate("navigator.serviceWorker.ready")
    page.reload()
    page.wait_for_function("!!navigator.serviceWorker.controller")
    return day


class Wire:
    """Bytes over the wire of one page's requests (CDP on the page's target) and of the
    context's service worker (a CDP session on the worker's target, attached as it appears)."""

    def __init__(self, context, page):
        self.responses: dict[str, dict] = {}
        self.finished: list[tuple[str, str, int]] = []  # (target, request id, bytes)
        self._sessions = []
        self._watch("page", context.new_cdp_session(page))
        context.on("requestfinished", self._from_the_worker)

    def _from_the_worker(self, request) -> None:
        # Playwright reports the worker's requests (PW_EXPERIMENTAL_SERVICE_WORKER_NETWORK_
        # EVENTS, set in main); its sizes are CDP's encodedDataLength split into headers
        # and body (0 in all when the HTTP cache answered).
        if request.service_worker is None:
            return
        sizes = request.sizes()
        response = request.response()
        headers = response.headers if response else {}
        self.finished.append(
            (
                "worker",
                request.url,
                max(0, sizes["responseBodySize"] + sizes["responseHeadersSize"]),
            )
        )
        self.responses[("worker", request.url)] = {
            "url": request.url,
            "status": response.status if response else 0,
            "mime": headers.get("content-type", "").split(";")[0],
            "encoding": headers.get("content-encoding", ""),
            "from_sw": False,
            "from_cache": False,
            "worker": True,
        }

    def _watch(self, target: str, session) -> None:
        session.send("Network.enable")

        def received(event):
            response = event["response"]
            headers = {k.lower(): v for k, v in response["headers"].items()}
            self.responses[(target, event["requestId"])] = {
                "url": response["url"],
                "status": response["status"],
                "type": event.get("type", ""),
                "mime": response.get("mimeType", ""),
                "encoding": headers.get("content-encoding", ""),
                "from_sw": bool(response.get("fromServiceWorker")),
                "from_cache": bool(response.get("fromDiskCache")),
            }

        session.on("Network.responseReceived", received)
        session.on(
            "Network.loadingFinished",
            lambda e: self.finished.append((target, e["requestId"], int(e["encodedDataLength"]))),
        )
        self._sessions.append(session)

    def take(self) -> list[dict]:
        rows = []
        for target, request_id, size in self.finished:
            row = dict(self.responses.get((target, request_id), {"url": "?"}))
            row.update(target=target, bytes=size)
            rows.append(row)
        self.finished.clear()
        return rows


def _short(url: str) -> str:
    return "/" + url.split("//", 1)[-1].split("/", 1)[-1]


def _print_rows(label: str, rows: list[dict], gzip_sizes: dict[str, int]) -> int:
    total = sum(r["bytes"] for r in rows)
    print(
        f"  {label}: {total:,} bytes over the wire, {len(rows)} responses (those of 0 bytes,"
        " answered by the service worker or the HTTP cache, not listed)"
    )
    for r in sorted((r for r in rows if r["bytes"]), key=lambda r: -r["bytes"]):
        how = []
        if r.get("encoding"):
            how.append(r["encoding"])
        if r.get("from_sw"):
            how.append("from the service worker")
        if r.get("from_cache"):
            how.append("HTTP cache")
        if r.get("worker"):
            how.append("the worker's own request")
        gz = gzip_sizes.get(r["url"])
        extra = f"; body gzipped: {gz:,}" if gz is not None else ""
        print(
            f"    {r['bytes']:>9,}  {r.get('status', '')} {_short(r['url'])}"
            f" [{', '.join(how) or 'identity'}]{extra}"
        )
    return total


def _kind(url: str) -> str:
    path = _short(url)
    if "/risk/field/inspections/" in path:
        return "blank report forms"
    if "/risk/field/loans/" in path:
        return "loan cards"
    return path


def _print_kinds(label: str, rows: list[dict], gzip_sizes: dict[str, int]) -> None:
    """What follows a first visit, by kind of page: the day's report forms and loan cards
    are a hundred rows each."""
    kinds: dict[str, list[dict]] = {}
    for r in rows:
        if r["bytes"]:
            kinds.setdefault(_kind(r["url"]), []).append(r)
    total = sum(r["bytes"] for r in rows)
    zipped = sum(gzip_sizes.get(r["url"], r["bytes"]) for r in rows)
    print(
        f"  {label}: {total:,} bytes over the wire, {len(rows)} responses "
        f"({zipped:,} with the pages gzipped)"
    )
    for kind, group in sorted(kinds.items(), key=lambda item: -sum(r["bytes"] for r in item[1])):
        size = sum(r["bytes"] for r in group)
        gz = sum(gzip_sizes.get(r["url"], r["bytes"]) for r in group)
        worker = " (the worker's own)" if all(r.get("worker") for r in group) else ""
        print(f"    {size:>11,}  {len(group):>3} × {kind}{worker}; gzipped: {gz:,}")


def _gzip_sizes(context, rows: list[dict]) -> dict[str, int]:
    """The gzip size of each HTML response's body, as GZipMiddleware or a proxy would send it."""
    sizes = {}
    for r in rows:
        if r.get("mime") == "text/html" and r.get("status") == 200 and not r.get("encoding"):
            body = context.request.get(r["url"]).body()
            sizes[r["url"]] = len(gzip.compress(body, compresslevel=6))
    return sizes


def measure_offline(browser, base_url: str, runs: int) -> list[float]:
    context = browser.new_context(viewport=PHONE, base_url=base_url)
    page = _login(context)
    _take_the_day_along(page)
    context.set_offline(True)
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        page.goto(AGENDA, wait_until="domcontentloaded")
        page.locator("[data-testid=agenda]").first.wait_for(state="visible")
        samples.append(time.perf_counter() - started)
    assert page.evaluate("!!navigator.serviceWorker.controller")
    context.close()
    return samples


def measure_slow_3g(browser, base_url: str, cookies: list[dict], runs: int) -> tuple[list, float]:
    loads, kept = [], None
    for run in range(runs):
        context, page = _fresh(browser, base_url, cookies)
        cdp = context.new_cdp_session(page)
        cdp.send("Network.enable")
        cdp.send("Network.emulateNetworkConditions", SLOW_3G)
        page.goto(AGENDA, wait_until="load", timeout=120_000)
        timing = page.evaluate(
            "(() => { const n = performance.getEntriesByType('navigation')[0];"
            " return [n.domContentLoadedEventEnd, n.loadEventEnd]; })()"
        )
        loads.append(timing[1] / 1000)
        if run == 0:
            started = time.perf_counter()
            page.wait_for_function("window.DaihouField && window.DaihouField.ready !== undefined")
            page.evaluate("window.DaihouField.ready")
            kept = timing[1] / 1000 + time.perf_counter() - started
        context.close()
    return loads, kept


def measure_bytes(browser, base_url: str, cookies: list[dict]) -> None:
    # first visit: a fresh context per page
    context, page = _fresh(browser, base_url, cookies)
    day = _take_the_day_along(page)
    report = next(p for p in day["pages"] if p.endswith("/report/"))
    context.close()

    figures = {}
    for path in (AGENDA, report):
        context, page = _fresh(browser, base_url, cookies)
        wire = Wire(context, page)
        page.goto(path, wait_until="load")
        rows = wire.take()
        figures[(path, "first")] = _print_rows(
            f"first visit {path}, until load", rows, _gzip_sizes(context, rows)
        )
        # what follows the page: the worker's install, the day taken along
        page.wait_for_function("window.DaihouField && window.DaihouField.ready !== undefined")
        page.evaluate("window.DaihouField.ready")
        page.evaluate("navigator.serviceWorker.ready")
        page.wait_for_timeout(1000)
        after = wire.take()
        _print_kinds("then, until the day is kept", after, _gzip_sizes(context, after))
        context.close()

    context = browser.new_context(viewport=PHONE, base_url=base_url)
    page = _login(context)
    _take_the_day_along(page)
    page.wait_for_timeout(1000)
    wire = Wire(context, page)
    for path in (AGENDA, report):
        wire.take()
        page.goto(path, wait_until="load")
        page.wait_for_timeout(500)
        rows = wire.take()
        figures[(path, "repeat")] = _print_rows(
            f"repeat visit {path}, until load + 0.5 s", rows, _gzip_sizes(context, rows)
        )
    context.close()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10, help="offline openings of the agenda")
    parser.add_argument("--slow-runs", type=int, default=5, help="first loads over slow 3G")
    parser.add_argument("--port", type=int, default=8020)
    parser.add_argument("--storage", choices=sorted(STORAGES), default="compressed")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    # The service worker's own requests reach Playwright's events only with this set.
    os.environ["PW_EXPERIMENTAL_SERVICE_WORKER_NETWORK_EVENTS"] = "1"
    from playwright.sync_api import sync_playwright

    env = _portal_environment(args.storage)
    _prepare(env)
    server = _serve(env, args.port)
    base_url = f"http://127.0.0.1:{args.port}"
    try:
        try:
            urllib.request.urlopen(f"{base_url}/sw.js", timeout=10)
        except urllib.error.HTTPError as error:
            raise SystemExit(
                f"/sw.js answers {error.code} with the {args.storage} storage: no service "
                "worker, nothing to measure offline"
            ) from None
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=args.chromium, args=["--no-sandbox"]
            )
            cookies = _session_cookies(browser, base_url)

            print(f"bytes ({args.storage} static storage):")
            measure_bytes(browser, base_url, cookies)

            samples = measure_offline(browser, base_url, args.runs)
            print(
                f"offline agenda from the warm cache, {args.runs} runs: median "
                f"{statistics.median(samples) * 1000:.0f} ms, max {max(samples) * 1000:.0f} ms "
                f"({', '.join(f'{s * 1000:.0f}' for s in samples)})"
            )

            loads, kept = measure_slow_3g(browser, base_url, cookies, args.slow_runs)
            print(
                f"first load of the agenda over slow 3G, {args.slow_runs} runs, to load: median "
                f"{statistics.median(loads):.2f} s, max {max(loads):.2f} s "
                f"({', '.join(f'{s:.2f}' for s in loads)}); the day kept after {kept:.1f} s"
            )
            browser.close()
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=20)


if __name__ == "__main__":
    main()
