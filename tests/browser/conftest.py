"""The product started as the README starts it, and Debian's Chromium driven by Playwright."""

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = ROOT / "test-artifacts"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class RunningProduct:
    base: str
    demo: str
    log: Path


class ProductProcess:
    """`manage.py serve --fake-llm` on embedded defaults (its own SQLite file), on fixed ports,
    so it can be stopped and started again under the same address."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port, self.demo_port = free_port(), free_port()
        self.log = folder / "serve.log"
        self.process: subprocess.Popen | None = None

    @property
    def running(self) -> RunningProduct:
        return RunningProduct(
            base=f"http://127.0.0.1:{self.port}",
            demo=f"http://127.0.0.1:{self.demo_port}",
            log=self.log,
        )

    def start(self) -> RunningProduct:
        keep = ("PATH", "HOME", "LANG", "SYSTEMROOT", "TMPDIR")
        env = {key: value for key, value in os.environ.items() if key in keep}
        env.update(
            DJANGO_SETTINGS_MODULE="helpdesk.settings.local",
            DATABASE_URL=f"sqlite:///{self.folder / 'db.sqlite3'}",
            PYTHONUNBUFFERED="1",
        )
        command = [
            sys.executable,
            "manage.py",
            "serve",
            "--fake-llm",
            "--port",
            str(self.port),
            "--demo-port",
            str(self.demo_port),
        ]
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=self.log.open("ab"), stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{self.running.base}/healthz", timeout=2) as response:
                    if response.status == 200:
                        return self.running
            except OSError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.process.kill()
                pytest.fail(
                    "the product did not start:\n" + self.log.read_text(errors="replace")[-4000:]
                )
            time.sleep(0.3)

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None


@pytest.fixture(scope="module")
def product(tmp_path_factory) -> Iterator[RunningProduct]:
    server = ProductProcess(tmp_path_factory.mktemp("product"))
    yield server.start()
    server.stop()


@pytest.fixture
def restartable_product(tmp_path) -> Iterator[ProductProcess]:
    server = ProductProcess(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    page = new_page(browser, width=1280, height=860)
    yield page
    page.context.close()


def new_page(browser, *, width: int, height: int, locale: str = "en-US"):
    """A page in its own browser context (own cookies and storage) that records JS errors.

    Errors and console messages (the iframes' too) are also printed: pytest shows them
    with a failing test, which is how a widget that never started can be told apart
    from a slow server.
    """
    context = browser.new_context(viewport={"width": width, "height": height}, locale=locale)
    page = context.new_page()
    errors: list[str] = []

    def page_error(exc) -> None:
        errors.append(str(exc))
        print(f"browser page error: {exc}")

    page.on("pageerror", page_error)
    page.on("console", lambda message: print(f"browser console {message.type}: {message.text}"))
    page.js_errors = errors  # type: ignore[attr-defined]
    return page
