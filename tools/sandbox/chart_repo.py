"""The sandbox's chart repository: the real published charts, served over HTTP on loopback.

The roles install every chart from it exactly as a site installs from its own chart mirror
(`oneport_chart_repo_url`). The charts come from, in order:

1. `$ONEPORT_REFERENCE_DIR/charts` (a folder of packaged charts with a Helm `index.yaml`);
2. `../shared/reference/charts` beside the checkout;
3. the per-user cache (`$ONEPORT_CACHE/chart-repository`), filled once with `helm pull` from each
   chart's publisher (the repository URL and version the roles default to) and indexed with
   `helm repo index`.

When none of these can be had, `ChartSourceError` says so once, naming the variable and the URLs.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent.parent
# Chart name -> the role that installs it (its defaults pin the version and the publisher's URL).
CHART_ROLES = {"metallb": "metallb", "cert-manager": "cert_manager", "pachyderm": "pachyderm"}


class ChartSourceError(RuntimeError):
    """No chart repository content could be found or fetched; the message says what to set."""


def cache_root() -> Path:
    explicit = os.environ.get("ONEPORT_CACHE")
    if explicit:
        return Path(explicit)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "oneport"


def pinned_charts() -> list[dict]:
    """[{name, version, publisher}] as the roles' defaults pin them (decided there, read here)."""
    charts = []
    for name, role in CHART_ROLES.items():
        defaults_text = (REPO / "roles" / role / "defaults" / "main.yml").read_text()
        defaults = yaml.safe_load(defaults_text)
        publisher = re.search(r"or '(https://[^']+)'", str(defaults[f"{role}_chart_repo_url"]))
        charts.append(
            {
                "name": name,
                "version": str(defaults[f"{role}_chart_version"]),
                "publisher": publisher.group(1) if publisher else "",
            }
        )
    return charts


def reference_dir() -> Path | None:
    """ONEPORT_REFERENCE_DIR, else ../shared/reference beside the checkout, else None."""
    explicit = os.environ.get("ONEPORT_REFERENCE_DIR")
    if explicit:
        if not (Path(explicit) / "charts" / "index.yaml").is_file():
            raise ChartSourceError(
                f"ONEPORT_REFERENCE_DIR is {explicit}, but {explicit}/charts/index.yaml does not exist; "
                "point it at the folder whose charts/ holds the packaged charts and their Helm index.yaml, "
                "or unset it"
            )
        return Path(explicit)
    beside = REPO.parent / "shared" / "reference"
    return beside if (beside / "charts" / "index.yaml").is_file() else None


def archive(charts: Path, name: str, version: str) -> tuple[Path, str]:
    """(path, sha256) of one packaged chart as the folder's index.yaml lists it."""
    index = yaml.safe_load((charts / "index.yaml").read_text()) or {}
    for entry in (index.get("entries") or {}).get(name, []):
        if str(entry.get("version")) == version:
            return charts / entry["urls"][0], entry["digest"]
    raise ChartSourceError(f"{charts}/index.yaml lists no {name} {version}")


def _indexed(directory: Path) -> dict:
    index = yaml.safe_load((directory / "index.yaml").read_text()) or {}
    return {
        (name, str(entry.get("version")))
        for name, entries in (index.get("entries") or {}).items()
        for entry in entries
    }


def missing_from(directory: Path, charts: list[dict]) -> list[str]:
    """The pinned charts the folder's index.yaml does not list (as name-version)."""
    if not (directory / "index.yaml").is_file():
        return [f"{c['name']}-{c['version']}" for c in charts]
    present = _indexed(directory)
    return [f"{c['name']}-{c['version']}" for c in charts if (c["name"], c["version"]) not in present]


def _helm() -> str:
    candidate = REPO / "bin" / "helm"
    return str(candidate) if candidate.exists() else (shutil.which("helm") or "helm")


def fetch_from_publishers(
    dest: Path, charts: list[dict], helm: str | None = None, timeout: float = 60
) -> None:
    """helm pull every pinned chart from its publisher into dest, then index it (atomically)."""
    helm = helm or _helm()
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".chart-repository.", dir=dest.parent))
    failures = []
    try:
        for chart in charts:
            argv = [helm, "pull", chart["name"], "--repo", chart["publisher"], "--version", chart["version"]]
            try:
                result = subprocess.run(
                    [*argv, "--destination", str(staging)],
                    capture_output=True,
                    text=True,
                    timeout=timeout,
                    check=False,
                )
                if result.returncode != 0:
                    failures.append(
                        f"{chart['name']} {chart['version']} from {chart['publisher']}: "
                        f"{' '.join(result.stderr.split())[:300]}"
                    )
            except (OSError, subprocess.TimeoutExpired) as exc:
                failures.append(f"{chart['name']} {chart['version']} from {chart['publisher']}: {exc}")
        if failures:
            raise ChartSourceError(
                "no chart repository content: ONEPORT_REFERENCE_DIR is not set, no "
                "../shared/reference/charts lies beside the checkout, and helm could not pull the charts "
                "from their publishers (" + "; ".join(failures) + "). Set ONEPORT_REFERENCE_DIR to a folder "
                "whose charts/ holds the packaged charts and a Helm index.yaml, or make these repositories "
                "reachable (or set oneport_chart_repo_url to a mirror that serves them)"
            )
        subprocess.run(
            [helm, "repo", "index", str(staging)], check=True, capture_output=True, timeout=timeout
        )
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(staging, dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def charts_source(log=print, helm: str | None = None) -> Path:
    """The folder the sandbox serves as its chart repository (found or fetched once)."""
    charts = pinned_charts()
    found = reference_dir()
    reference = found / "charts" if found is not None else None
    if reference is not None:
        missing = missing_from(reference, charts)
        if missing:
            raise ChartSourceError(
                f"{reference}/index.yaml does not list {', '.join(missing)}, the versions the roles pin; "
                "add them (helm package, then helm repo index) or point ONEPORT_REFERENCE_DIR elsewhere"
            )
        return reference
    cached = cache_root() / "chart-repository"
    if not missing_from(cached, charts):
        return cached
    log(f"fetching the pinned charts from their publishers into {cached}")
    fetch_from_publishers(cached, charts, helm)
    return cached


def serve_command(directory: Path, port: int) -> list[str]:
    """A read-only HTTP server for the folder, on loopback only."""
    return [
        sys.executable,
        "-m",
        "http.server",
        str(port),
        "--bind",
        "127.0.0.1",
        "--directory",
        str(directory),
    ]
