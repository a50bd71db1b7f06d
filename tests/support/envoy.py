"""The pinned Envoy: start it on a bootstrap, wait until it is ready, stop it, keep its log; validate."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import ClassVar

import requests

from support.paths import bin_tool

MISSING = "envoy not found: run `make setup` (it links the pinned Envoy into bin/)"


def find_envoy() -> str:
    """The pinned Envoy from `make setup` (bin/envoy), else the one on PATH, else ''."""
    pinned = bin_tool("envoy")
    return str(pinned) if pinned.exists() else (shutil.which("envoy") or "")


def envoy_binary() -> str:
    """The pinned Envoy from `make setup` (bin/envoy), else the one on PATH; missing, an error says so."""
    found = find_envoy()
    if not found:
        raise RuntimeError(MISSING)
    return found


def validate(config_path: Path, *extra: str) -> subprocess.CompletedProcess:
    """`envoy --mode validate` on a bootstrap file: everything a server would load, nothing bound."""
    return subprocess.run(
        [envoy_binary(), "--mode", "validate", "--disable-hot-restart", *extra, "-c", str(config_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def wait_ready(admin_url: str, timeout: float, process=None, log=lambda: "") -> None:
    """Poll Envoy's admin /ready until it answers LIVE; a dead process or the deadline raise with its log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise EnvoyFailed(f"envoy exited with {process.returncode}:\n{log()}")
        try:
            if requests.get(admin_url + "/ready", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise EnvoyFailed(f"envoy not ready after {timeout}s:\n{log()}")


class EnvoyFailed(RuntimeError):
    """Envoy exited or never became ready; the message carries its log."""


class Envoy:
    """One Envoy process on one bootstrap.

    Every run gets its own base id (`--use-dynamic-base-id`), so Envoys started by parallel test runs
    never share hot-restart memory. The admin interface is moved to an ephemeral loopback port that
    Envoy reports through `--admin-address-path`.
    """

    # Envoys running now, so a failing test can show their logs.
    running: ClassVar[set] = set()

    def __init__(self, bootstrap: dict, workdir: Path, name: str = "envoy"):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.bootstrap = bootstrap
        self.config_path = self.workdir / f"{name}.json"
        self.log_path = self.workdir / f"{name}.log"
        self.admin_address_path = self.workdir / f"{name}.admin"
        self.process: subprocess.Popen | None = None
        self.admin_url = ""

    def start(self, timeout: float = 60.0) -> Envoy:
        self.config_path.write_text(json.dumps(self.bootstrap, indent=1))
        self.admin_address_path.unlink(missing_ok=True)
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [
                envoy_binary(),
                "--config-path",
                str(self.config_path),
                "--concurrency",
                "1",
                "--use-dynamic-base-id",
                "--base-id-path",
                str(self.workdir / f"{name_safe(self.name)}.base-id"),
                "--admin-address-path",
                str(self.admin_address_path),
                "--log-level",
                "warning",
                "--drain-time-s",
                "1",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        Envoy.running.add(self)
        self._wait_ready(timeout)
        return self

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not self.admin_url and time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise EnvoyFailed(f"envoy exited with {self.process.returncode}:\n{self.log()}")
            if self.admin_address_path.exists():
                address = self.admin_address_path.read_text().strip()
                if address:
                    self.admin_url = f"http://{address}"
            time.sleep(0.1)
        wait_ready(self.admin_url, max(deadline - time.monotonic(), 0.1), self.process, self.log)

    def admin(self, path: str) -> str:
        response = requests.get(self.admin_url + path, timeout=10)
        response.raise_for_status()
        return response.text

    def listener_ports(self) -> dict[str, int]:
        """Listener name -> the port it is bound to (ports given as 0 are resolved by Envoy)."""
        data = json.loads(self.admin("/listeners?format=json"))
        ports = {}
        for status in data.get("listener_statuses", []):
            ports[status["name"]] = status["local_address"]["socket_address"]["port_value"]
        return ports

    def log(self, tail: int = 6000) -> str:
        """The end of Envoy's log, without the deprecation warnings the reference config causes."""
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(line for line in lines if "Deprecated field" not in line)[-tail:]

    def stop(self) -> None:
        Envoy.running.discard(self)
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=15)

    def __enter__(self) -> Envoy:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def name_safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)
