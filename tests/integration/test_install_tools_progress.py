"""tools/install_tools.py on a tiny manifest of its own: a failed build shows its log, a good one is timed.

Each test uses a temporary ONEPORT_CACHE and a tools.yml with Go wrapper modules written here (no
dependencies, built offline), so the real cache is never touched.
"""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support.paths import REPO

INSTALL_TOOLS = REPO / "tools" / "install_tools.py"

MANIFEST = """\
tools:
  kaputt:
    version: 0.0.1
    build_seconds: 30
    source: go
    package: .
  hello:
    version: 1.0.0
    build_seconds: 30
    source: go
    package: .
"""

# A type error: `go list` (the download step) parses imports only, so it is `go build` that fails.
KAPUTT = 'package main\n\nfunc main() {\n\tnosuchfunction("the build fails here")\n}\n'
HELLO = "package main\n\nfunc main() {}\n"

pytestmark = pytest.mark.skipif(
    subprocess.run(["go", "version"], capture_output=True, check=False).returncode != 0,
    reason="needs go on PATH",
)


@pytest.fixture
def workspace(tmp_path) -> Path:
    (tmp_path / "tools.yml").write_text(MANIFEST)
    for name, source in (("kaputt", KAPUTT), ("hello", HELLO)):
        module = tmp_path / "go" / name
        module.mkdir(parents=True)
        (module / "go.mod").write_text(f"module example.com/{name}\n\ngo 1.21\n")
        (module / "main.go").write_text(source)
    return tmp_path


def environment(workspace: Path) -> dict:
    env = dict(os.environ, ONEPORT_CACHE=str(workspace / "cache"), GOPROXY="off", GOTOOLCHAIN="local")
    env.pop("ONEPORT_TOOL_JOBS", None)
    return env


def install(workspace: Path, *names: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(INSTALL_TOOLS), *install_args(workspace), *names],
        env=environment(workspace),
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )


def install_args(workspace: Path) -> list:
    return [
        "--manifest",
        str(workspace / "tools.yml"),
        "--bin-dir",
        str(workspace / "bin"),
        "--helm-plugins",
        str(workspace / "plugins"),
    ]


def go_version() -> str:
    return subprocess.run(
        ["go", "env", "GOVERSION"], capture_output=True, text=True, check=True
    ).stdout.strip()


def test_a_failed_build_shows_the_last_lines_of_its_log_and_the_path(workspace):
    result = install(workspace, "kaputt")
    out = result.stdout + result.stderr
    log = workspace / "cache" / "logs" / f"kaputt-0.0.1-{go_version()}.log"

    assert result.returncode != 0, out
    assert log.is_file(), out
    assert "undefined: nosuchfunction" in log.read_text()
    assert "[tools] kaputt 0.0.1: FAILED after" in out
    assert "go build exited with status 1" in out
    assert "[tools] last " in out and f" lines of {log}:" in out
    assert any(
        line.startswith("[tools]   | ") and "undefined: nosuchfunction" in line for line in out.splitlines()
    )
    assert f"the whole log: {log}" in out
    assert "FAILED: kaputt" in out.splitlines()[-1]
    # The compiler's output went to the log, not to the terminal, except as the tail shown above.
    assert "# example.com/kaputt" not in [line.strip() for line in out.splitlines()]
    assert "\x1b" not in out, "not a terminal: plain lines without control codes"
    assert not (workspace / "bin" / "kaputt").exists()
    times = workspace / "cache" / "tools" / "build-times.json"
    assert not times.exists() or "kaputt" not in json.loads(times.read_text()), "a failure is not a time"


def test_a_build_records_its_time_for_the_next_estimate_and_is_cached_after(workspace):
    first = install(workspace, "hello")
    assert first.returncode == 0, first.stdout + first.stderr
    assert (
        "1 of 1 tool to download or build, under a minute from the documented first-run times" in first.stdout
    )
    assert "1 Go build at a time" in first.stdout or "2 Go builds at a time" in first.stdout
    assert f"build output goes to one log per tool in {workspace / 'cache' / 'logs'}" in first.stdout
    assert "[tools] hello 1.0.0: started (under a minute, first-run estimate)" in first.stdout
    assert f"[tools] hello 1.0.0: built with {go_version()} (modules verified by go.sum) in " in first.stdout
    assert (workspace / "bin" / "hello").resolve().is_file()

    recorded = json.loads((workspace / "cache" / "tools" / "build-times.json").read_text())["hello"]
    assert recorded["version"] == f"1.0.0-{go_version()}"
    assert recorded["seconds"] > 0

    started = time.monotonic()
    second = install(workspace, "hello")
    assert second.returncode == 0, second.stdout + second.stderr
    assert second.stdout.splitlines() == [second.stdout.splitlines()[0]], "a warm run says one line"
    assert second.stdout.startswith(
        f"[tools] nothing to build: 1 tool cached in {workspace / 'cache' / 'tools'}"
    )
    assert time.monotonic() - started < 30


def test_on_a_terminal_one_status_line_is_redrawn_in_place(workspace):
    controller, terminal = pty.openpty()
    env = environment(workspace)
    env["TERM"] = "xterm"
    with subprocess.Popen(
        [sys.executable, str(INSTALL_TOOLS), *install_args(workspace), "hello"],
        env=env,
        stdout=terminal,
        stderr=terminal,
        stdin=subprocess.DEVNULL,
    ) as proc:
        os.close(terminal)
        chunks = []
        while True:
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # EIO: the process closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        rc = proc.wait(timeout=600)
    os.close(controller)
    out = b"".join(chunks).decode()

    assert rc == 0, out
    assert "\r\x1b[K[tools] 0 of 1 tool, " in out, "the status line, drawn over itself"
    assert "hello: " in out
    assert "[tools] hello 1.0.0: built with" in out
