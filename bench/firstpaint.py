"""The request form on an emulated slow 3G connection: when does the driver first see something useful?

    python -m bench.firstpaint --url http://127.0.0.1:3000/ [--runs 3] [--kbps 400] [--latency-ms 300]

Drives Debian's Chromium through Playwright with Chromium's own network throttling (CDP
`Network.emulateNetworkConditions`: 400 kbps down and up, 300 ms latency; cache disabled, so every run is a
first visit). Prints per run, and the median:
- first paint and first contentful paint (the browser's paint timings);
- "useful": the form's heading and the "Use my location" button visible (the driver can act);
- "form": the name field visible (both: no earlier than first contentful paint);
- "hydrated": React has taken over the form, so "Send for help" works;
- the bytes of the requests finished before first contentful paint, and in all until the page settled.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _run(browser, url: str, kbps: int, latency_ms: int) -> dict[str, float]:  # type: ignore[no-untyped-def]
    ctx = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = ctx.new_page()
    cdp = ctx.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
    rate = kbps * 1000 / 8  # bytes per second
    cdp.send("Network.emulateNetworkConditions", {"offline": False, "latency": latency_ms,
                                                  "downloadThroughput": rate, "uploadThroughput": rate})
    # Bytes per finished request, on the browser's own clock (seconds), from the document's request on.
    started: list[float] = []
    finished: list[tuple[float, int]] = []
    cdp.on("Network.requestWillBeSent",
           lambda e: started.append(e["timestamp"]) if e.get("type") == "Document" and not started else None)
    cdp.on("Network.loadingFinished", lambda e: finished.append((e["timestamp"], int(e.get("encodedDataLength", 0)))))
    t0 = time.monotonic()
    page.goto(url, wait_until="commit", timeout=120_000)
    page.get_by_role("heading", name="Flat tyre? We come to you.").wait_for(timeout=120_000)
    page.locator("#use-location").wait_for(state="visible", timeout=120_000)
    useful_dom = time.monotonic() - t0
    page.locator("#customer_name").wait_for(state="visible", timeout=120_000)
    form = time.monotonic() - t0
    # Usable: React has taken over the form (hydrated: its nodes carry React's fiber keys), so "Send" works.
    page.wait_for_function("() => { const b = document.getElementById('submit');"
                           " return !!b && Object.keys(b).some(k => k.startsWith('__reactFiber')); }",
                           timeout=120_000, polling=100)
    live = time.monotonic() - t0
    try:
        page.wait_for_load_state("networkidle", timeout=60_000)
    except Exception:  # noqa: BLE001 - a page that keeps polling has no idle moment; count what came
        pass
    paints = page.evaluate(
        "() => Object.fromEntries(performance.getEntriesByType('paint').map(e => [e.name, e.startTime]))")
    fcp_s = paints.get("first-contentful-paint", float("nan")) / 1000
    total = sum(n for _, n in finished)
    # Bytes of the requests complete before first contentful paint (the document's request ~ navigation start).
    before_fcp = sum(n for t, n in finished if started and t - started[0] <= fcp_s)
    ctx.close()
    # The markup can be in the page before the browser may paint it (a render-blocking stylesheet): what the
    # driver sees useful is the later of the two.
    return {"first_paint_s": paints.get("first-paint", float("nan")) / 1000, "fcp_s": fcp_s,
            "useful_s": max(useful_dom, fcp_s), "form_s": max(form, fcp_s), "hydrated_s": live,
            "kb_before_fcp": before_fcp / 1024, "kb_total": total / 1024}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", default="http://127.0.0.1:3000/")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--kbps", type=int, default=400)
    ap.add_argument("--latency-ms", type=int, default=300)
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        _run(browser, args.url, 100_000, 0)  # warm the server (compiled pages, first connections), unthrottled
        runs = [_run(browser, args.url, args.kbps, args.latency_ms) for _ in range(args.runs)]
        browser.close()
    keys = list(runs[0])
    print(f"{args.url} at {args.kbps} kbps, {args.latency_ms} ms latency, cache off, {args.runs} runs")
    print("| run | " + " | ".join(keys) + " |")
    print("|---|" + "---|" * len(keys))
    for i, r in enumerate(runs, 1):
        print(f"| {i} | " + " | ".join(f"{r[k]:.2f}" for k in keys) + " |")
    print("| median | " + " | ".join(f"{statistics.median(r[k] for r in runs):.2f}" for k in keys) + " |")


if __name__ == "__main__":
    main()
