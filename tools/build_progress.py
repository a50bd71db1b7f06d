"""Progress of `make setup`'s tool installs: a line as each tool starts and finishes, time estimates.

Estimates are the durations this machine measured last time (a small JSON table in the per-user
cache), else the first-run times documented in tools/tools.yml. On a terminal one status line is
redrawn in place under the lines; elsewhere (CI, a pipe) output is plain lines without control codes.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, TextIO

CLEAR_LINE = "\r\x1b[K"
ESTIMATE_SOURCES = {"measured": "as last time", "documented": "first-run estimate"}


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def fmt_duration(seconds: float) -> str:
    """A measured time: "0.4 s", "42 s", "2 min 31 s", "1 h 5 min"."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    whole = int(seconds + 0.5)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        minutes, secs = divmod(whole, 60)
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    hours, rest = divmod(whole, 3600)
    return f"{hours} h {rest // 60} min"


def fmt_about(seconds: float) -> str:
    """An estimate, rounded to whole minutes: "under a minute", "about 1 minute", "about 17 minutes"."""
    if seconds < 60:
        return "under a minute"
    minutes = int(seconds / 60 + 0.5)
    return f"about {minutes} minute{'s' if minutes != 1 else ''}"


def fmt_clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}:{secs:02d}"


class BuildTimes:
    """The per-user table of measured install times: {tool: {version, seconds, jobs, recorded}}.

    Concurrent `make setup` runs may both record: callers hold a file lock around record().
    """

    def __init__(self, path: Path):
        self.path = path
        self.entries = self._read()

    def _read(self) -> dict:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}  # no table yet, or a damaged one: the documented times serve until the next build
        return data if isinstance(data, dict) else {}

    def measured(self, name: str) -> Optional[float]:
        entry = self.entries.get(name)
        seconds = entry.get("seconds") if isinstance(entry, dict) else None
        return float(seconds) if isinstance(seconds, (int, float)) and seconds > 0 else None

    def estimate(self, name: str, documented: Optional[float], fallback: float) -> tuple[float, str]:
        """(seconds, where from): this machine's last time, else the documented one, else fallback."""
        measured = self.measured(name)
        if measured is not None:
            return measured, "measured"
        if documented:
            return float(documented), "documented"
        return fallback, "guessed"

    def record(self, name: str, version: str, seconds: float, jobs: int) -> None:
        """Store one measured duration; the file is re-read first so other runs' entries survive."""
        self.entries = self._read()
        self.entries[name] = {
            "version": version,
            "seconds": round(seconds, 1),
            "jobs": jobs,
            "recorded": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".build-times-")
        with os.fdopen(fd, "w") as fh:
            json.dump(self.entries, fh, indent=1, sort_keys=True)
            fh.write("\n")
        os.replace(tmp, self.path)


@dataclass
class Task:
    """One tool being installed; `work` counts the seconds it was active, not queued."""

    name: str
    label: str
    estimate: float
    source: str = "documented"
    state: str = "pending"  # pending, active, queued, done, failed, skipped
    activity: str = ""
    worked: float = 0.0
    active_since: Optional[float] = None

    def work(self, now: float) -> float:
        return self.worked + (now - self.active_since if self.active_since is not None else 0.0)

    def left(self, now: float) -> float:
        if self.state in ("done", "failed", "skipped"):
            return 0.0
        return max(self.estimate - self.work(now), 0.0)

    def overdue(self, now: float) -> bool:
        return self.state in ("active", "queued") and self.work(now) > self.estimate


class Progress:
    """Reports the installs of one run; every method is safe to call from worker threads."""

    def __init__(
        self,
        stream: TextIO,
        *,
        tty: bool,
        jobs: int,
        clock: Callable[[], float] = time.monotonic,
        width: Optional[int] = None,
        heartbeat: float = 120.0,
        prefix: str = "[tools] ",
    ):
        self.stream = stream
        self.tty = tty
        self.jobs = max(jobs, 1)
        self.clock = clock
        self.width = width
        self.heartbeat = heartbeat
        self.prefix = prefix
        self.tasks: dict[str, Task] = {}
        self._lock = threading.RLock()
        self._status_shown = False
        self._last_output = clock()

    # -- the plan ---------------------------------------------------------------------------
    def add(self, name: str, label: str, estimate: float, source: str = "documented") -> None:
        with self._lock:
            self.tasks[name] = Task(name, label, estimate, source)

    def left(self) -> float:
        """Seconds left: the unfinished tasks' estimates less their work so far, shared by the jobs.

        Never less than the longest one left: parallel jobs do not split a single build.
        """
        now = self.clock()
        lefts = [task.left(now) for task in self.tasks.values()]
        longest = max(lefts, default=0.0)
        return max(sum(lefts) / self.jobs, longest)

    def left_text(self) -> str:
        now = self.clock()
        left = self.left()
        if left < 60 and any(task.overdue(now) for task in self.tasks.values()):
            return "taking longer than estimated"
        return f"{fmt_about(left)} left" if left >= 60 else "under a minute left"

    def counts(self) -> str:
        done = sum(task.state == "done" for task in self.tasks.values())
        return f"{done} of {plural(len(self.tasks), 'tool')}"

    def sources(self) -> str:
        """Where the estimates come from, for the first line."""
        kinds = {task.source for task in self.tasks.values()}
        names = [
            text
            for kind, text in (
                ("measured", "this machine's previous builds"),
                ("documented", "the documented first-run times"),
                ("guessed", "a guess for tools with neither"),
            )
            if kind in kinds
        ]
        return "from " + " and ".join(names)

    # -- events -----------------------------------------------------------------------------
    def start(self, name: str, activity: str) -> None:
        with self._lock:
            task = self.tasks[name]
            task.state, task.activity, task.active_since = "active", activity, self.clock()
            where = ESTIMATE_SOURCES.get(task.source, "a guess")
            self.line(f"{task.label}: started ({fmt_about(task.estimate)}, {where})")

    def activity(self, name: str, activity: str, active: bool = True) -> None:
        """What a task does now; `active=False` while it waits (for a build slot), which is not work."""
        with self._lock:
            task = self.tasks[name]
            now = self.clock()
            if task.active_since is not None:
                task.worked += now - task.active_since
            task.active_since = now if active else None
            task.state, task.activity = ("active" if active else "queued"), activity
            self._draw()

    def finish(self, name: str, outcome: str) -> float:
        """Mark a task done with its outcome ("built", ...); returns the seconds it worked."""
        with self._lock:
            task = self.tasks[name]
            took = task.work(self.clock())
            task.state, task.worked, task.active_since = "done", took, None
            unfinished = any(t.state in ("pending", "active", "queued") for t in self.tasks.values())
            left = f", {self.left_text()}" if unfinished else ""
            self.line(f"{task.label}: {outcome} in {fmt_duration(took)}; {self.counts()}{left}")
            return took

    def fail(self, name: str, message: str, log_path: Optional[Path] = None, tail: int = 25) -> None:
        """Mark a task failed and show its log's last lines and path."""
        with self._lock:
            task = self.tasks[name]
            took = task.work(self.clock())
            task.state, task.worked, task.active_since = "failed", took, None
            self.line(f"{task.label}: FAILED after {fmt_duration(took)}: {message}")
            if log_path is None:
                return
            lines = last_lines(log_path, tail)
            if lines:
                self.line(f"last {len(lines)} lines of {log_path}:")
                for text in lines:
                    self.line(f"  | {text}")
            self.line(f"the whole log: {log_path}")

    def skip(self, name: str, reason: str = "") -> None:
        """A task left for the next run (another one failed, or an interrupt): no longer counted."""
        with self._lock:
            task = self.tasks[name]
            task.state, task.worked, task.active_since = "skipped", task.work(self.clock()), None
            if reason:
                self.line(f"{task.label}: {reason} after {fmt_duration(task.worked)}")
            self._draw()

    def line(self, msg: str) -> None:
        """A permanent line (above the status line on a terminal)."""
        with self._lock:
            if self.tty and self._status_shown:
                self.stream.write(CLEAR_LINE)
                self._status_shown = False
            self.stream.write(f"{self.prefix}{msg}\n")
            self._last_output = self.clock()
            self._draw()

    # -- the status line --------------------------------------------------------------------
    def status(self) -> str:
        now = self.clock()
        busy = [t for t in self.tasks.values() if t.state in ("active", "queued")]
        parts = [f"{self.counts()}, {self.left_text()}"]
        # Longest-running first: that is the build, the one worth seeing when the line is cut.
        active = sorted((t for t in busy if t.state == "active"), key=lambda t: -t.work(now))
        parts += [f"{t.name}: {t.activity} {fmt_clock(t.work(now))}" for t in active]
        queued = [t.name for t in busy if t.state == "queued"]
        if queued:
            parts.append(f"waiting for a build slot: {', '.join(queued)}")
        return " | ".join(parts)

    def _draw(self) -> None:
        if not self.tty or not any(t.state in ("active", "queued") for t in self.tasks.values()):
            return
        width = self.width or shutil.get_terminal_size((100, 24)).columns
        # A wrapped line cannot be redrawn in place: cut it to the terminal's width.
        text = (self.prefix + self.status())[: max(width - 1, 10)]
        self.stream.write(CLEAR_LINE + text)
        self.stream.flush()
        self._status_shown = True

    def tick(self) -> None:
        """Redraw the status line (terminal), or after a long silence print it as a line (plain)."""
        with self._lock:
            busy = any(t.state in ("active", "queued") for t in self.tasks.values())
            if self.tty:
                self._draw()
            elif busy and self.clock() - self._last_output >= self.heartbeat:
                # CI systems stop jobs that print nothing for minutes; a long build is not stuck.
                self.line(f"still working: {self.status()}")
            else:
                self.stream.flush()

    def close(self) -> None:
        with self._lock:
            if self.tty and self._status_shown:
                self.stream.write(CLEAR_LINE)
                self._status_shown = False
            self.stream.flush()

    @contextmanager
    def ticking(self, interval: float = 1.0):
        """Tick from a background thread while the block runs; clear the status line after."""
        stop = threading.Event()

        def loop() -> None:
            while not stop.wait(interval):
                self.tick()

        thread = threading.Thread(target=loop, name="progress", daemon=True)
        thread.start()
        try:
            yield self
        finally:
            stop.set()
            thread.join()
            self.close()


def last_lines(path: Path, count: int) -> list[str]:
    """The last `count` non-empty lines of a log (read from its end: a build log can be long)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            start = max(size - 64 * 1024, 0)
            fh.seek(start)
            text = fh.read().decode("utf-8", errors="replace")
    except OSError:
        return []
    lines = text.splitlines()
    if start:
        lines = lines[1:]  # begun mid-line
    lines = [line.rstrip() for line in lines if line.strip()]
    return lines[-count:]
