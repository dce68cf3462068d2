"""Fixtures of the browser test: one JupyterLab server and one headless Chromium for the session.

These tests run only under ``make test-browser`` (which sets ``DDPM_BROWSER_TEST=1``): they need
JupyterLab and Playwright (the browser extra: ``pip install -e '.[browser]'``) and a Chromium, which ``make test`` does not.
Chromium is Debian's (``apt-get install chromium``), or the one ``CHROMIUM`` names: Playwright's own
browser download is not used.
"""
from __future__ import annotations

import os
import shutil

import pytest

if os.environ.get("DDPM_BROWSER_TEST") != "1":
    collect_ignore_glob = ["test_*.py"]          # `pytest tests` (make test) leaves the browser alone


def chromium_path() -> str:
    """The Chromium to drive: $CHROMIUM, else the first of chromium / chromium-browser on PATH."""
    for candidate in (os.environ.get("CHROMIUM"), "chromium", "chromium-browser"):
        path = candidate and shutil.which(candidate)
        if path:
            return path
    pytest.exit("no Chromium found: install it with `apt-get install -y chromium`, or set CHROMIUM=/path/to/it",
                returncode=4)


@pytest.fixture(scope="session")
def lab(tmp_path_factory):
    """A JupyterLab server on 127.0.0.1 serving a scratch folder; stopped with its kernels at the end."""
    from .server import LabServer

    with LabServer(tmp_path_factory.mktemp("jupyterlab")) as server:
        yield server


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=chromium_path(),
                                              args=["--no-sandbox", "--disable-dev-shm-usage"])
        yield chromium
        chromium.close()


@pytest.fixture
def page(lab, browser):
    """A fresh browser page (own cookies and downloads); its kernels are shut down afterwards.
    (``lab`` comes first: the server is forked before Playwright starts its threads.)"""
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    yield context.new_page()
    context.close()
    lab.shutdown_kernels()
