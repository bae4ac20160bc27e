"""`make lab` in a real browser: JupyterLab on a chapter's jupytext source, run on the smoke
profile, with its explorer driven by a click.

1. A copy of one chapter (``notebooks/<stem>.py`` and ``notebooks/jupytext.toml``, with
   ``profile = "smoke"`` in its parameters cell) goes to a temporary folder, which JupyterLab
   serves on 127.0.0.1 (a free port, a random token) with the flags of ``make lab`` (passed
   after ``--``), its own settings, workspaces and results folders, and the chapters' data cache
   ($PERSONALITY_UTILS_CACHE: the smoke data is made there in seconds on first use).
2. The contents API must return the ``.py`` as a notebook (jupytext's contents manager).
3. Headless Chromium (Debian's, driven by Playwright, as .ci/check_browser.py) opens
   ``/lab/tree/notebooks/<stem>.py``: it must open as a notebook (the Jupytext Notebook viewer),
   run every cell, end with no error output, and show the clip explorer with a drawn plotly
   figure. Then a different clip is picked in the explorer's dropdown: the figure's title and the
   explorer's numbers must change to name the new clip.
4. Saving from Lab must write the ``.py`` back unchanged (outputs and execution metadata are not
   part of the text form) and create no ``.ipynb``.
5. No request may leave the machine: every browser request to another origin is aborted and
   reported (as in .ci/check_browser.py), and so is any websocket elsewhere.

The server (and its kernels) is stopped at the end, also on failure. Exits 1 with the problems
when anything fails, 2 when it cannot run at all. ``--screenshots DIR`` keeps a PNG of the page
before and after the click.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from check_browser import CHROMIUM_FLAGS, counted, find_chromium

try:
    from playwright.sync_api import sync_playwright
except ImportError:  # reported by main()
    sync_playwright = None

ROOT = Path(__file__).resolve().parents[1]
PYTHON = Path(sys.executable)

# The notebook's state, from the page: every code cell's execution count and output types.
CELLS_JS = """() => {
  const panel = window.jupyterapp.shell.currentWidget;
  if (!panel || !panel.content || !panel.content.widgets) return null;
  return {
    path: panel.context.path,
    kernel: panel.sessionContext.kernelDisplayStatus,
    cells: panel.content.widgets
      .filter((cell) => cell.model.type === 'code')
      .map((cell) => ({
        count: cell.model.executionCount,
        outputs: cell.model.outputs.toJSON().map((o) => o.output_type),
        errors: cell.model.outputs.toJSON()
          .filter((o) => o.output_type === 'error')
          .map((o) => o.ename + ': ' + o.evalue),
      })),
  };
}"""

# The explorer as drawn: its figure's title, its numbers, whether the figure has a trace drawn.
EXPLORER_JS = """() => {
  const box = document.querySelector('.personality-explorer');
  if (!box) return null;
  const plot = box.querySelector('.js-plotly-plot');
  const title = plot ? plot.querySelector('.gtitle') : null;
  const numbers = box.querySelector('.explorer-numbers .widget-html-content');
  return {
    title: title ? title.textContent : '',
    numbers: numbers ? numbers.textContent : '',
    svg: plot ? plot.querySelector('svg.main-svg') !== null : false,
    drawn: plot ? plot.querySelectorAll('g.trace, g.im, image, g.layer-above image').length : 0,
    selects: box.querySelectorAll('select').length,
  };
}"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def smoke_copy(stem: str, folder: Path) -> Path:
    """The chapter and the jupytext config in ``folder/notebooks``, on the smoke profile."""
    target = folder / "notebooks"
    target.mkdir(parents=True)
    source = (ROOT / "notebooks" / f"{stem}.py").read_text()
    smoke, count = re.subn(r'^profile = "[^"]*"', 'profile = "smoke"', source, flags=re.M)
    if count != 1:
        raise SystemExit(f"check_lab: no `profile = ...` line in notebooks/{stem}.py")
    (target / f"{stem}.py").write_text(smoke)
    shutil.copy(ROOT / "notebooks" / "jupytext.toml", target / "jupytext.toml")
    return target / f"{stem}.py"


def api(origin: str, token: str, path: str, method: str = "GET"):
    request = urllib.request.Request(
        f"{origin}{path}", method=method, headers={"Authorization": f"token {token}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        body = response.read()
    return json.loads(body) if body else None


def start_server(folder: Path, lab_flags: list[str], log) -> tuple[subprocess.Popen, str, str]:
    token, port = secrets.token_hex(16), free_port()
    env = {
        **os.environ,
        "PERSONALITY_UTILS_RESULTS": str(folder / "results"),
        "JUPYTER_RUNTIME_DIR": str(folder / "runtime"),
        "PYDEVD_DISABLE_FILE_VALIDATION": "1",
    }
    env.pop("PERSONALITY_UTILS_LIVE", None)  # the explorer must find the live kernel itself
    command = [
        str(PYTHON),
        "-m",
        "jupyterlab",
        *lab_flags,
        "--no-browser",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--ServerApp.root_dir={folder}",
        f"--IdentityProvider.token={token}",
        "--LabApp.expose_app_in_browser=True",
        f"--LabApp.user_settings_dir={folder / 'settings'}",
        f"--LabApp.workspaces_dir={folder / 'workspaces'}",
    ]
    server = subprocess.Popen(
        command, cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    origin = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"JupyterLab exited with {server.returncode} while starting")
        try:
            api(origin, token, "/api/status")
            return server, origin, token
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.5)
    stop_server(server, origin, token)
    raise RuntimeError("JupyterLab did not answer in 60 s")


def stop_server(server: subprocess.Popen, origin: str, token: str) -> None:
    """Shut its kernels down through the API, then the server (its process group)."""
    if server.poll() is None:
        try:
            for kernel in api(origin, token, "/api/kernels"):
                api(origin, token, f"/api/kernels/{kernel['id']}", "DELETE")
        except Exception:
            pass  # the server is stopped below anyway
        try:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=5)
        except ProcessLookupError:
            pass


def drive(browser, origin: str, token: str, stem: str, timeout_s: float, shots: Path | None):
    """Open, run, click; returns (what was seen, problems, requests sent elsewhere)."""
    seen: dict = {}
    problems: list[str] = []
    external: list[str] = []
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(timeout_s * 1000)

    def route(route) -> None:
        if route.request.url.startswith(origin + "/"):
            route.continue_()
        else:
            external.append(route.request.url)
            route.abort("blockedbyclient")

    context.route("**/*", route)
    page = context.new_page()
    page.on(
        "websocket",
        lambda socket: (
            external.append(socket.url)
            if not socket.url.startswith(origin.replace("http", "ws", 1) + "/")
            else None
        ),
    )
    page.on("pageerror", lambda error: problems.append(f"uncaught {error.name}: {error.message}"))
    step = "opening the chapter"
    try:
        start = time.monotonic()
        page.goto(f"{origin}/lab/tree/notebooks/{stem}.py?token={token}", wait_until="load")
        page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell")
        page.wait_for_selector(".jp-NotebookPanel .jp-Cell", state="attached")
        page.wait_for_function(
            "() => { const p = window.jupyterapp.shell.currentWidget;"
            " return p && p.sessionContext && p.sessionContext.kernelDisplayStatus === 'idle'; }"
        )
        state = page.evaluate(CELLS_JS)
        seen["opened"] = f"{state['path']} as a notebook of {len(state['cells'])} code cells"
        seen["open_s"] = time.monotonic() - start

        step = "running every cell"
        start = time.monotonic()
        page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
        page.wait_for_function(
            "() => { const p = window.jupyterapp.shell.currentWidget;"
            " return p.content.widgets.filter((c) => c.model.type === 'code')"
            " .every((c) => c.model.executionCount !== null)"
            " && p.sessionContext.kernelDisplayStatus === 'idle'; }",
            polling=500,
        )
        seen["run_s"] = time.monotonic() - start
        state = page.evaluate(CELLS_JS)
        errors = [error for cell in state["cells"] for error in cell["errors"]]
        problems += [f"cell error: {error}" for error in errors]
        seen["cells"] = len(state["cells"])
        seen["outputs"] = sum(len(cell["outputs"]) for cell in state["cells"])

        step = "waiting for the explorer's figure"
        page.wait_for_function(
            "() => { const b = document.querySelector('.personality-explorer');"
            " return b && b.querySelector('.js-plotly-plot svg.main-svg'); }"
        )
        page.locator(".personality-explorer").scroll_into_view_if_needed()
        page.wait_for_timeout(500)
        before = page.evaluate(EXPLORER_JS)
        seen["before"] = before
        if shots:
            page.locator(".personality-explorer").screenshot(path=str(shots / "before.png"))
        clip_select = page.locator(".personality-explorer select").nth(1)
        options = clip_select.locator("option").all_text_contents()
        chosen = options[1] if len(options) > 1 else options[0]
        seen["picked"] = chosen
        step = "waiting for the figure to follow the click"
        start = time.monotonic()
        clip_select.select_option(label=chosen)
        page.wait_for_function(
            "(clip) => { const b = document.querySelector('.personality-explorer');"
            " const t = b && b.querySelector('.js-plotly-plot .gtitle');"
            " return t && t.textContent.includes(clip); }",
            arg=chosen,
        )
        page.wait_for_timeout(300)
        seen["click_s"] = time.monotonic() - start
        after = page.evaluate(EXPLORER_JS)
        seen["after"] = after
        if shots:
            page.locator(".personality-explorer").screenshot(path=str(shots / "after.png"))
            page.screenshot(path=str(shots / "page.png"))
        if not (before["svg"] and before["drawn"]):
            problems.append(f"the explorer's figure did not draw: {before}")
        if after["title"] == before["title"] or chosen not in after["title"]:
            problems.append(f"the figure did not follow the click: {before} -> {after}")
        if after["numbers"] == before["numbers"] or chosen not in after["numbers"]:
            problems.append("the explorer's numbers did not follow the click")

        step = "saving"
        page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
        page.wait_for_function(
            "() => !window.jupyterapp.shell.currentWidget.context.model.dirty", polling=200
        )
    except Exception as error:
        problems.append(f"{step}: {type(error).__name__}: {error}".splitlines()[0])
        if shots:
            page.screenshot(path=str(shots / "failure.png"))
    finally:
        context.close()
    return seen, problems, external


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    lab_flags = argv[argv.index("--") + 1 :] if "--" in argv else []
    own = argv[: argv.index("--")] if "--" in argv else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chapter", default="01_data", help="the chapter (default 01_data)")
    parser.add_argument("--chromium", help="the browser (default: $CHROMIUM or /usr/bin/chromium)")
    parser.add_argument("--timeout", type=float, default=300, help="seconds per step (300)")
    parser.add_argument("--screenshots", type=Path, help="save PNGs of the explorer here")
    args = parser.parse_args(own)

    chromium = find_chromium(args.chromium)
    if chromium is None or sync_playwright is None:
        print("check_lab: needs Chromium and Playwright; `make browser-deps` installs both")
        return 2
    if shutil.which("jupyter-lab", path=str(PYTHON.parent)) is None:
        print("check_lab: JupyterLab is not installed; `make lab-deps` installs it")
        return 2
    if args.screenshots:
        args.screenshots.mkdir(parents=True, exist_ok=True)

    started = time.monotonic()
    problems: list[str] = []
    seen: dict = {}
    with tempfile.TemporaryDirectory(prefix="check-lab-") as temporary:
        folder = Path(temporary)
        source = smoke_copy(args.chapter, folder)
        text = source.read_text()
        log_path = folder / "server.log"
        with open(log_path, "w") as log:
            server, origin, token = start_server(folder, lab_flags, log)
            try:
                content = api(origin, token, f"/api/contents/notebooks/{source.name}?type=notebook")
                if content["type"] != "notebook" or not content["content"]["cells"]:
                    problems.append(f"the contents API did not read {source.name} as a notebook")
                with sync_playwright() as playwright:
                    browser = playwright.chromium.launch(
                        executable_path=chromium, args=CHROMIUM_FLAGS
                    )
                    print(
                        f"check_lab: JupyterLab at {origin} on a smoke copy of "
                        f"notebooks/{source.name}, Chromium {browser.version}"
                    )
                    try:
                        seen, found, external = drive(
                            browser, origin, token, args.chapter, args.timeout, args.screenshots
                        )
                    finally:
                        browser.close()
                problems += found
                problems += counted(f"external request (aborted): {url}" for url in external)
            finally:
                stop_server(server, origin, token)
        if source.read_text() != text:
            diff = difflib.unified_diff(
                text.splitlines(), source.read_text().splitlines(), "before", "after", lineterm=""
            )
            problems.append(
                f"saving from Lab changed {source.name}:\n" + "\n".join(list(diff)[:40])
            )
        written = sorted(p.name for p in source.parent.iterdir() if p.suffix == ".ipynb")
        if written:
            problems.append(f"saving from Lab wrote {written}")
        if problems:
            print(log_path.read_text()[-3000:])

    for key in ("opened", "cells", "outputs", "picked"):
        if key in seen:
            print(f"  {key}: {seen[key]}")
    for key in ("before", "after"):
        if key in seen:
            shown = seen[key]
            print(f"  {key} the click: title {shown['title']!r}; numbers {shown['numbers']!r}")
    timings = ", ".join(
        f"{k[:-2]} {seen[k]:.1f} s" for k in ("open_s", "run_s", "click_s") if k in seen
    )
    if timings:
        print(f"  times: {timings}")
    for line in problems:
        print(f"  FAIL: {line}")
    verdict = "FAILED" if problems else "ok"
    print(f"check_lab: {time.monotonic() - started:.1f} s: {verdict}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
