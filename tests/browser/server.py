"""JupyterLab on loopback for the browser tests: started in a scratch folder, stopped with its kernels.

The server serves copies of the notebooks (so nothing the browser does can touch the checkout),
reads its configuration and settings from scratch folders (so a user's own Jupyter set-up cannot
change what is tested) and passes its environment to the kernels: ``DDPM_FAST=1`` and this
checkout first on ``PYTHONPATH``, so the kernel imports the ``helpers`` being tested.
"""
from __future__ import annotations

import ctypes
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[2]

# JupyterLab settings a new user would click away: no news pop-up, and never autosave (the copies are scratch).
SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false",
                                                                       "checkForUpdates": False},
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
}


def _die_with_parent() -> None:
    """In the server's process, before it starts: ask Linux to end it when the test process ends,
    even if that is killed without a chance to clean up (the kernels then follow their server)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)    # PR_SET_PDEATHSIG
    except OSError:
        pass


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LabServer:
    """``jupyter lab`` serving ``scratch/root`` on 127.0.0.1 with a random token; a context manager."""

    def __init__(self, scratch: Path, startup_s: float = 180):
        self.scratch, self.startup_s = scratch, startup_s
        self.root = scratch / "root"
        self.port, self.token = free_port(), secrets.token_hex(16)
        self.log = scratch / "jupyterlab.log"
        self.process: subprocess.Popen | None = None

    def _env(self) -> dict[str, str]:
        """The server's (and so the kernels') environment."""
        dirs = {name: self.scratch / name for name in ("config", "data", "runtime", "settings", "workspaces")}
        for folder in dirs.values():
            folder.mkdir(parents=True, exist_ok=True)
        for rel, values in SETTINGS.items():
            path = dirs["settings"] / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values))
        return {**os.environ, "DDPM_FAST": "1",
                "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
                "JUPYTER_CONFIG_DIR": str(dirs["config"]), "JUPYTER_DATA_DIR": str(dirs["data"]),
                "JUPYTER_RUNTIME_DIR": str(dirs["runtime"]), "JUPYTERLAB_SETTINGS_DIR": str(dirs["settings"]),
                "JUPYTERLAB_WORKSPACES_DIR": str(dirs["workspaces"])}

    def __enter__(self) -> "LabServer":
        self.root.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root",
                   "--LabApp.expose_app_in_browser=True",            # window.jupyterapp: the test reads cells
                   "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={self.port}", "--ServerApp.port_retries=0",
                   f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={self.root}"]
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(command, env=self._env(), stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True, preexec_fn=_die_with_parent)
        try:
            self._wait_until_up()
        except BaseException:
            self.__exit__()
            raise
        return self

    def _wait_until_up(self) -> None:
        """Poll the REST API until it answers; fail with the server's log if it dies or stays silent."""
        deadline = time.monotonic() + self.startup_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"JupyterLab exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                self.api("GET", "status")
                return
            except OSError:
                time.sleep(0.5)
        raise RuntimeError(f"JupyterLab did not answer within {self.startup_s:.0f} s:\n{self.log_tail()}")

    def __exit__(self, *exc) -> None:
        """Stop the server and every kernel it started. Kernels run in sessions of their own, so they
        are shut down through the API first and any that remain are killed by process id."""
        if self.process is None or self.process.poll() is not None:
            return
        try:
            self.shutdown_kernels()
        except OSError:
            pass
        children = psutil.Process(self.process.pid).children(recursive=True)
        for sig, wait_s in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
            try:
                os.killpg(self.process.pid, sig)
                self.process.wait(wait_s)
                break
            except subprocess.TimeoutExpired:
                continue
            except ProcessLookupError:
                break
        for child in children:
            try:
                child.kill()
            except psutil.NoSuchProcess:
                pass

    def log_tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else "(no log)"

    def url(self, path: str) -> str:
        """The browser address of ``path`` (e.g. ``lab/workspaces/w1/tree/a.ipynb``), token included."""
        return f"http://127.0.0.1:{self.port}/{path}?token={self.token}"

    def api(self, method: str, path: str) -> object:
        """One REST call to the server (``/api/<path>``); returns the decoded JSON, or None."""
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}/api/{path}", method=method,
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=30) as response:
            body = response.read()
        return json.loads(body) if body else None

    def shutdown_kernels(self) -> None:
        """Delete every kernel session, so that each notebook's kernel is gone before the next opens."""
        for session in self.api("GET", "sessions"):
            self.api("DELETE", f"sessions/{session['id']}")
