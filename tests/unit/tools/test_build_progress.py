"""The progress reporter of `make setup`: estimates, the per-user table of times, terminal vs plain output."""

from __future__ import annotations

import io
import json
import re

import pytest
import yaml
from support.paths import REPO

from tools.build_progress import CLEAR_LINE, BuildTimes, Progress, fmt_about, fmt_duration, last_lines

# The cold `make setup` measured on a 2-core machine (empty per-user, Go build and module caches), the
# real node's tools included: 1 min 43 s for the Python environment, then 18 min 35 s for the tools.
MEASURED_COLD_SETUP = 103 + 18 * 60 + 35


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def reporter(tty: bool, jobs: int = 1, width: int = 200, heartbeat: float = 120.0):
    clock, out = Clock(), io.StringIO()
    progress = Progress(out, tty=tty, jobs=jobs, clock=clock, width=width, heartbeat=heartbeat)
    return progress, clock, out


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.42, "0.4 s"), (42.4, "42 s"), (59.6, "1 min"), (151, "2 min 31 s"), (3900, "1 h 5 min")],
)
def test_durations_read_like_a_person_would_say_them(seconds, text):
    assert fmt_duration(seconds) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(30, "under a minute"), (60, "about 1 minute"), (89, "about 1 minute"), (1025, "about 17 minutes")],
)
def test_estimates_are_whole_minutes(seconds, text):
    assert fmt_about(seconds) == text


def test_the_table_prefers_this_machines_time_then_the_documented_one(tmp_path):
    times = BuildTimes(tmp_path / "build-times.json")
    assert times.estimate("kube", 390, 120.0) == (390.0, "documented")
    assert times.estimate("new-tool", None, 120.0) == (120.0, "guessed")

    times.record("kube", "1.32.5-go1.26.8", 512.34, jobs=1)
    BuildTimes(tmp_path / "build-times.json").record("etcd", "3.5.24-go1.26.8", 70, jobs=1)
    again = BuildTimes(tmp_path / "build-times.json")
    assert again.estimate("kube", 390, 120.0) == (512.3, "measured")
    assert again.estimate("etcd", 65, 120.0) == (70.0, "measured"), "one run's record keeps the other's"
    entry = json.loads((tmp_path / "build-times.json").read_text())["kube"]
    assert entry["version"] == "1.32.5-go1.26.8"
    assert entry["jobs"] == 1


@pytest.mark.parametrize("content", ["not json", "[1, 2]", '{"kube": 5}', '{"kube": {"seconds": -3}}'])
def test_a_damaged_table_falls_back_to_the_documented_times(tmp_path, content):
    path = tmp_path / "build-times.json"
    path.write_text(content)
    assert BuildTimes(path).estimate("kube", 390, 120.0) == (390.0, "documented")


def test_time_left_is_the_unfinished_estimates_less_the_work_done_shared_by_the_jobs():
    progress, clock, _unused = reporter(tty=False)
    progress.add("kube", "kube 1.32.5", 600)
    progress.add("etcd", "etcd 3.5.24", 300)
    assert progress.left() == 900

    progress.start("kube", "building")
    clock.advance(100)
    assert progress.left() == 800

    # Waiting for a build slot is not work: the estimate does not shrink meanwhile.
    progress.activity("kube", "waiting for a build slot", active=False)
    clock.advance(50)
    assert progress.left() == 800
    progress.activity("kube", "building")
    clock.advance(500)
    assert progress.left() == 300
    assert progress.finish("kube", "built") == pytest.approx(600)
    assert progress.left() == 300

    two_jobs, _clock, _out = reporter(tty=False, jobs=2)
    two_jobs.add("kube", "kube 1.32.5", 400)
    two_jobs.add("etcd", "etcd 3.5.24", 300)
    two_jobs.add("kwok", "kwok 0.8.0", 200)
    assert two_jobs.left() == 450
    two_jobs.add("pachctl", "pachctl 2.12.2", 1000)
    assert two_jobs.left() == 1000, "two jobs do not split one build"


def test_a_tool_over_its_estimate_says_so_rather_than_under_a_minute():
    progress, clock, _unused = reporter(tty=False)
    progress.add("kube", "kube 1.32.5", 120)
    progress.start("kube", "building")
    clock.advance(30)
    assert progress.left_text() == "about 2 minutes left"
    clock.advance(200)
    assert progress.left_text() == "taking longer than estimated"


def test_plain_output_is_one_line_per_start_and_finish_with_count_and_time_left():
    progress, clock, out = reporter(tty=False)
    progress.add("kube", "kube 1.32.5", 600, "measured")
    progress.add("etcd", "etcd 3.5.24", 300)
    progress.start("kube", "building")
    progress.tick()
    clock.advance(151)
    progress.finish("kube", "built")
    progress.start("etcd", "building")
    clock.advance(20)
    progress.finish("etcd", "built")
    progress.close()

    assert out.getvalue().splitlines() == [
        "[tools] kube 1.32.5: started (about 10 minutes, as last time)",
        "[tools] kube 1.32.5: built in 2 min 31 s; 1 of 2 tools, about 5 minutes left",
        "[tools] etcd 3.5.24: started (about 5 minutes, first-run estimate)",
        "[tools] etcd 3.5.24: built in 20 s; 2 of 2 tools",
    ]
    assert "\x1b" not in out.getvalue()
    assert "\r" not in out.getvalue()


def test_plain_output_says_it_is_still_working_after_a_long_silence():
    progress, clock, out = reporter(tty=False, heartbeat=120)
    progress.add("kube", "kube 1.32.5", 600)
    progress.start("kube", "building")
    clock.advance(119)
    progress.tick()
    assert out.getvalue().count("\n") == 1
    clock.advance(1)
    progress.tick()
    assert out.getvalue().splitlines()[-1] == (
        "[tools] still working: 0 of 1 tool, about 8 minutes left | kube: building 2:00"
    )
    assert "\x1b" not in out.getvalue()


def test_a_terminal_gets_one_status_line_redrawn_in_place_under_the_lines():
    progress, clock, out = reporter(tty=True, width=60)
    progress.add("kube", "kube 1.32.5", 600)
    progress.add("etcd", "etcd 3.5.24", 300)
    progress.start("kube", "building")
    progress.start("etcd", "downloading modules")
    progress.activity("etcd", "waiting for a build slot", active=False)
    clock.advance(65)
    out.truncate(0)
    out.seek(0)
    progress.tick()
    status = out.getvalue()
    assert status.startswith(CLEAR_LINE)
    assert "\n" not in status
    assert progress.status() == (
        "0 of 2 tools, about 14 minutes left | kube: building 1:05 | waiting for a build slot: etcd"
    )
    assert status == CLEAR_LINE + ("[tools] " + progress.status())[:59], "cut to the width: it never wraps"

    # A permanent line clears the status line, is printed, and the status line comes back under it.
    out.truncate(0)
    out.seek(0)
    progress.finish("kube", "built")
    written = out.getvalue()
    assert written.startswith(CLEAR_LINE + "[tools] kube 1.32.5: built in 1 min 5 s; 1 of 2 tools")
    assert written.split("\n")[1].startswith(CLEAR_LINE + "[tools] 1 of 2 tools")

    out.truncate(0)
    out.seek(0)
    progress.close()
    assert out.getvalue() == CLEAR_LINE


def test_a_failure_shows_the_logs_last_lines_and_its_path(tmp_path):
    log = tmp_path / "kaputt-1.0.log"
    log.write_text("".join(f"line {n}\n" for n in range(1, 101)) + "\n./main.go:4:2: undefined: nope\n")
    progress, clock, out = reporter(tty=False)
    progress.add("kaputt", "kaputt 1.0", 60)
    progress.start("kaputt", "building")
    clock.advance(3)
    progress.fail("kaputt", "go build exited with status 1", log, tail=5)

    lines = out.getvalue().splitlines()
    assert lines[1] == "[tools] kaputt 1.0: FAILED after 3.0 s: go build exited with status 1"
    assert lines[2] == f"[tools] last 5 lines of {log}:"
    assert lines[3:8] == [f"[tools]   | {text}" for text in ("line 97", "line 98", "line 99", "line 100")] + [
        "[tools]   | ./main.go:4:2: undefined: nope"
    ]
    assert lines[8] == f"[tools] the whole log: {log}"


def test_last_lines_reads_only_the_end_of_a_long_log(tmp_path):
    log = tmp_path / "big.log"
    log.write_text("x" * 200_000 + "\nlast\n")
    assert last_lines(log, 3) == ["last"]
    assert last_lines(tmp_path / "missing.log", 3) == []


def test_the_readme_first_run_time_is_the_measured_cold_run_and_the_documented_build_times():
    readme = " ".join((REPO / "README.md").read_text().split())
    match = re.search(
        r"cold `make setup` measured on a 2-core machine took ([\d.]+) minutes, about ([\d.]+) creating "
        r"the Python environment and ([\d.]+) fetching and compiling tools",
        readme,
    )
    assert match, "README.md states the first-run time of `make setup` and its two parts"
    total, venv, tools = (float(group) for group in match.groups())
    assert total == round(MEASURED_COLD_SETUP / 60, 1)
    assert total == pytest.approx(venv + tools, abs=0.15)
    manifest = yaml.safe_load((REPO / "tools" / "tools.yml").read_text())["tools"]
    # Builds take turns for the build slot, each recorded with its module downloads, which ran alongside
    # the others; Debian unpacks only fetch and unpack, beside the builds, so they add no time of their own.
    built = sum(tool["build_seconds"] for tool in manifest.values() if tool["source"] != "deb")
    assert tools <= built / 60 <= tools * 1.2, "tools.yml's build_seconds are that cold run's"
