"""Helpers for browser tests: serve the real app on a free port and drive headless Chromium.

Reuse from any test module::

    from tests.browser import serve_app, chromium_browser, open_page

    server = serve_app(kb)                  # the real build_app + launch, in this process
    with chromium_browser() as browser:     # fails (not skips) with a clear message without chromium
        page = open_page(browser, server.url + "/?card=some-id")
    server.close()

The conftest-style session fixtures built on these live in tests/test_browser_app.py; copy the
pattern (one server per session) rather than starting a server per test: the machine has 2 cores.
"""
from __future__ import annotations

import contextlib
import os
import socket
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("KB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PAGE_TIMEOUT_MS = 30_000


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_http(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except OSError as exc:
            last = exc
        time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer within {timeout}s ({last})")


@dataclass
class AppServer:
    url: str
    demo: object

    def close(self) -> None:
        self.demo.close()


def serve_app(kb, **services) -> AppServer:
    """build_app(kb, **services) launched on a free port in this process (prevent_thread_lock)."""
    from kb.ui.app import build_app, launch

    demo = build_app(kb, **services)
    port = free_port()
    launch(demo, host="127.0.0.1", port=port, prevent_thread_lock=True)
    url = f"http://127.0.0.1:{port}"
    wait_http(url + "/")
    return AppServer(url, demo)


def require_chromium() -> str:
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"Chromium is missing at {CHROMIUM}: browser tests need it. Install it "
            "(`sudo apt-get install chromium`, or `bash scripts/test.sh` does it) or set KB_CHROMIUM."
        )
    return CHROMIUM


@contextlib.contextmanager
def chromium_browser():
    """A headless Chromium driven by playwright; closed on exit."""
    from playwright.sync_api import sync_playwright

    executable = require_chromium()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def open_page(browser, url: str, width: int = 1280, height: int = 900):
    """A new page at `url`, waited until the Gradio app has rendered its tabs."""
    page = browser.new_page(viewport={"width": width, "height": height})
    page.set_default_timeout(PAGE_TIMEOUT_MS)
    page.goto(url)
    page.get_by_role("tab", name="Search").wait_for()
    return page
