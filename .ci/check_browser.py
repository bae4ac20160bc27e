"""After `make book`: open every page of the built book in headless Chromium and check what a
reader would see.

For each page listed in _toc.yml (the root and every chapter, in order) the built HTML under
_build/html is served from a local http.server on 127.0.0.1 (a free port, in a thread) and opened
with Playwright driving Debian's Chromium (/usr/bin/chromium; Playwright never downloads a
browser here). A page passes when

* every plotly figure drew: each `div.plotly-graph-div` has an `svg.main-svg`, its `data`
  property holds at least one trace, and the SVG holds at least one drawn trace group
  (`g.trace`, `g.im` for images, `g.hm` for heatmaps, `g.contour`) or a WebGL canvas; and as many
  figures rendered as the HTML source contains;
* no JavaScript error: no uncaught exception (`pageerror`) and no console message of type
  'error', except the few listed in BENIGN_CONSOLE_ERRORS below (each with its reason; they are
  still printed, as "ignored"). "Failed to load resource" messages for a request that is already
  reported as external or as an HTTP error are not counted twice;
* nothing is requested from anywhere but the local server: every request is routed; one to
  any other origin is aborted at once (so nothing waits on a network that isn't there) and
  reported. data:, blob: and about: URLs never leave the browser and are allowed;
* every local request succeeds (no HTTP status >= 400 from the local server).

A chapter page without any figure is only reported (a note), not a failure.

Run `make check-browser` (installs Chromium with apt-get and Playwright into .venv when missing),
or `.venv/bin/python .ci/check_browser.py [--book DIR] [--html DIR] [--chromium PATH]
[--timeout S] [--screenshots DIR]`.
Exits 1 with the list of problems when anything fails, 2 when it cannot run at all.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import os
import re
import shutil
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

try:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright
except ImportError:  # reported by main()
    sync_playwright = None
    PlaywrightTimeout = TimeoutError

ROOT = Path(__file__).resolve().parents[1]

# The flags this workplace's machines need for a headless Chromium with no network but loopback
# (without the background-networking ones Chromium keeps trying to reach Google's hosts).
# (--headless is Playwright's default anyway; it also gives Chromium a new, empty --user-data-dir
# of its own for each launch, so none is passed here: Playwright refuses one in `args`.)
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# console.error messages that are not errors of the page, each with the reason it is ignored.
BENIGN_CONSOLE_ERRORS = [
    (
        re.compile(r"^Got invalid theme mode: .*Resetting to auto\.$"),
        (
            "pydata-sphinx-theme logs this with console.error when html_context.default_mode "
            "is unset and no mode is saved in localStorage; it then uses 'auto', as intended"
        ),
    ),
]

# Runs in the page: one record per plotly figure.
FIGURES_JS = """() => {
  const divs = new Set(document.querySelectorAll('div.plotly-graph-div, .js-plotly-plot'));
  return Array.from(divs).map((el) => {
    const svg = el.querySelector('svg.main-svg');
    return {
      id: el.id || '(no id)',
      svg: svg !== null,
      data: Array.isArray(el.data) ? el.data.length : 0,
      drawn: el.querySelectorAll(
        'svg.main-svg g.trace, svg.main-svg g.im, svg.main-svg g.hm, svg.main-svg g.contour'
      ).length,
      gl: el.querySelectorAll('canvas.gl-canvas, .gl-container canvas').length,
      width: el.clientWidth,
      height: el.clientHeight,
    };
  });
}"""

# True once every figure div has its SVG (or there are none).
FIGURES_DRAWN_JS = """() => Array.from(document.querySelectorAll('div.plotly-graph-div'))
  .every((el) => el.querySelector('svg.main-svg') !== null)"""


def toc_pages(root: Path) -> list[str]:
    """Docnames of every page of _toc.yml, in order: the root, then each entry that names a
    `file` (chapters, parts, sections, any depth); `glob` entries are expanded; `url` entries
    are external links, not pages."""
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    names: list[str] = []

    def add(name: str) -> None:
        name = re.sub(r"\.(md|ipynb|rst|py|txt)$", "", str(name).strip().lstrip("/"))
        if name not in names:
            names.append(name)

    def walk(node) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item)
        elif isinstance(node, dict):
            if "file" in node:
                add(node["file"])
            if "glob" in node:
                for path in sorted(root.glob(node["glob"])):
                    if path.suffix in {".md", ".ipynb", ".rst"}:
                        add(path.relative_to(root).with_suffix("").as_posix())
            for key in ("parts", "chapters", "sections", "entries", "subtrees"):
                if key in node:
                    walk(node[key])

    add(toc["root"])
    walk(toc)
    return names


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # the base class's signature
        pass


def serve(directory: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    handler = functools.partial(QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


@dataclass
class PageResult:
    name: str
    expected_figures: int = 0
    figures: list[dict] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    external: list[str] = field(default_factory=list)
    http_errors: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def traces(self) -> int:
        return sum(figure["data"] for figure in self.figures)


def wait_network_idle(page, in_flight: set, timeout_s: float, quiet_s: float = 0.5) -> bool:
    """Wait until no request of the page has been in flight for quiet_s seconds."""
    deadline = time.monotonic() + timeout_s
    quiet_since = time.monotonic()
    while time.monotonic() < deadline:
        page.wait_for_timeout(100)  # lets Playwright deliver the page's events
        if in_flight:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since >= quiet_s:
            return True
    return False


def check_page(
    browser, origin: str, html_dir: Path, name: str, timeout_s: float, screenshots: Path | None
) -> PageResult:
    result = PageResult(name)
    path = html_dir / f"{name}.html"
    if not path.is_file():
        result.problems.append(f"missing page {path}")
        return result
    result.expected_figures = len(re.findall(r'class="plotly-graph-div"', path.read_text()))
    start = time.monotonic()

    context = browser.new_context(service_workers="block", viewport={"width": 1280, "height": 900})
    context.set_default_timeout(timeout_s * 1000)

    def route(route) -> None:
        url = route.request.url
        if url.startswith(origin + "/"):
            route.continue_()
        else:
            result.external.append(url)
            route.abort("blockedbyclient")

    context.route("**/*", route)
    page = context.new_page()
    page.on(
        "pageerror", lambda error: result.errors.append(f"uncaught {error.name}: {error.message}")
    )

    def on_console(message) -> None:
        if message.type != "error":
            return
        text, where = message.text, message.location.get("url", "")
        if text.startswith("Failed to load resource") and (
            where in result.external or any(where in line for line in result.http_errors)
        ):
            return  # already reported as an external request or an HTTP error
        for pattern, _reason in BENIGN_CONSOLE_ERRORS:
            if pattern.search(text):
                result.ignored.append(text)
                return
        result.errors.append(f"console.error: {text}" + (f" ({where})" if where else ""))

    def on_response(response) -> None:
        if response.url.startswith(origin + "/") and response.status >= 400:
            result.http_errors.append(f"HTTP {response.status} {response.url}")

    def on_websocket(socket) -> None:
        if not socket.url.startswith(origin.replace("http", "ws", 1) + "/"):
            result.external.append(socket.url)

    in_flight: set = set()
    page.on("request", lambda request: in_flight.add(request))
    page.on("requestfinished", lambda request: in_flight.discard(request))
    page.on("requestfailed", lambda request: in_flight.discard(request))
    page.on("console", on_console)
    page.on("response", on_response)
    page.on("websocket", on_websocket)

    try:
        page.goto(f"{origin}/{name}.html", wait_until="load")
        # Then no request in flight for 0.5 s. Not Playwright's "networkidle": Chromium fires it
        # while a long page still runs its inline figure scripts, before "load", and
        # wait_for_load_state("networkidle") after "load" then never returns (Playwright 1.65).
        if not wait_network_idle(page, in_flight, timeout_s):
            result.notes.append(f"the network did not go idle in {timeout_s:g} s")
        try:  # (without plotly.js nothing will draw: no point in waiting)
            if page.evaluate("() => typeof window.Plotly !== 'undefined'"):
                page.wait_for_function(FIGURES_DRAWN_JS, timeout=timeout_s * 1000)
        except PlaywrightTimeout:
            pass  # the figures without an SVG are reported below
        result.figures = page.evaluate(FIGURES_JS)
        if screenshots is not None:
            target = screenshots / f"{name.replace('/', '_')}.png"
            target.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(target), full_page=True)
    except Exception as error:
        result.problems.append(f"could not load: {type(error).__name__}: {error}".splitlines()[0])
    finally:
        context.close()
    result.seconds = time.monotonic() - start

    for figure in result.figures:
        what = []
        if not figure["svg"]:
            what.append("no svg.main-svg")
        if figure["data"] < 1:
            what.append("no traces in its data")
        if figure["drawn"] < 1 and figure["gl"] < 1:
            what.append("no trace drawn in the SVG")
        if what:
            result.problems.append(f"figure {figure['id']}: {', '.join(what)}")
    if len(result.figures) != result.expected_figures:
        result.problems.append(
            f"{len(result.figures)} figures rendered, the HTML has {result.expected_figures}"
        )
    result.problems += counted(result.errors)
    result.problems += counted(f"external request (aborted): {url}" for url in result.external)
    result.problems += counted(result.http_errors)
    return result


def counted(lines) -> list[str]:
    """Each distinct line once, in order, with how many times it came when more than once."""
    counts: dict[str, int] = {}
    for line in lines:
        counts[line] = counts.get(line, 0) + 1
    return [line if n == 1 else f"{line} (x{n})" for line, n in counts.items()]


def find_chromium(given: str | None) -> str | None:
    for candidate in (given, os.environ.get("CHROMIUM"), "/usr/bin/chromium"):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    for name in ("chromium", "chromium-browser"):
        if found := shutil.which(name):
            return found
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--book",
        type=Path,
        default=ROOT,
        help="the book's folder, with _toc.yml (default: this repository)",
    )
    parser.add_argument("--html", type=Path, help="the built book (default: BOOK/_build/html)")
    parser.add_argument("--chromium", help="the browser (default: $CHROMIUM or /usr/bin/chromium)")
    parser.add_argument(
        "--timeout",
        type=float,
        default=20,
        help="seconds to wait for a page's network and figures (default 20)",
    )
    parser.add_argument("--screenshots", type=Path, help="save a full-page PNG of each page here")
    args = parser.parse_args(argv)

    book = args.book.resolve()
    html_dir = (args.html or book / "_build" / "html").resolve()
    if not html_dir.is_dir():
        print(f"check_browser: no built book at {html_dir}; run `make book` first")
        return 2
    chromium = find_chromium(args.chromium)
    if chromium is None:
        print(
            "check_browser: no Chromium (looked at --chromium, $CHROMIUM, /usr/bin/chromium, "
            "PATH); `make browser-deps` installs Debian's"
        )
        return 2
    if sync_playwright is None:
        print(
            "check_browser: Playwright is not installed; `make browser-deps` installs it "
            "(pip install -e '.[browser]')"
        )
        return 2

    pages = toc_pages(book)
    server, origin = serve(html_dir)
    started = time.monotonic()
    results: list[PageResult] = []
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
            print(
                f"check_browser: {len(pages)} pages of {book / '_toc.yml'} served from {origin}, "
                f"Chromium {browser.version} ({chromium})"
            )
            try:
                for name in pages:
                    results.append(
                        check_page(browser, origin, html_dir, name, args.timeout, args.screenshots)
                    )
            finally:
                browser.close()
    finally:
        server.shutdown()
        server.server_close()

    width = max(len(f"{r.name}.html") for r in results)
    print(f"{'page':<{width}}  figures  traces  errors  external  seconds")
    for r in results:
        figures = f"{len(r.figures)}/{r.expected_figures}"
        print(
            f"{r.name + '.html':<{width}}  {figures:>7}  {r.traces:>6}  "
            f"{len(r.errors) + len(r.http_errors):>6}  {len(r.external):>8}  {r.seconds:>7.1f}"
        )
    root_page = pages[0] if pages else None
    for r in results:
        if r.name != root_page and not r.figures and not r.problems:
            r.notes.append("no plotly figure on this chapter page")
        for line in r.problems:
            print(f"  FAIL {r.name}.html: {line}")
        for line in counted(r.ignored):
            print(f"  ignored {r.name}.html: console.error: {line}")
        for line in r.notes:
            print(f"  note {r.name}.html: {line}")
    for pattern, reason in BENIGN_CONSOLE_ERRORS:
        if any(pattern.search(line) for r in results for line in r.ignored):
            print(f"  (ignored /{pattern.pattern}/: {reason})")

    failed = [r for r in results if r.problems]
    figures = sum(len(r.figures) for r in results)
    traces = sum(r.traces for r in results)
    verdict = f"FAILED ({len(failed)} of {len(results)} pages)" if failed else "ok"
    print(
        f"check_browser: {len(results)} pages, {figures} figures, {traces} traces, "
        f"{time.monotonic() - started:.1f} s: {verdict}"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
