# Copyright: oneport.pachyderm contributors
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Where a role's Helm chart comes from: one verified local archive per chart version.

A chart is named by three variables of the role (``<role>_chart_ref``, ``_chart_repo_url``,
``_chart_version``) and optionally pinned by digest (``_chart_sha256``). It is either a local chart
(a directory or a packaged ``.tgz``) or a chart in a repository (``helm pull --repo``, or an
``oci://`` reference). Repository charts are pulled once into a per-user cache keyed by repository,
name and version, so a rerun reads the chart from disk. The archive's sha256 is checked before the
chart is used, and the chart's own ``Chart.yaml`` must agree with the pinned version.

Every refusal names the variable, the bad value and the fix. Plain Python, no Ansible imports:
``run`` is any callable taking an argv list and returning ``(rc, stdout, stderr)``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tarfile
import tempfile

from ansible_collections.oneport.pachyderm.plugins.module_utils import inputs as check
from ansible_collections.oneport.pachyderm.plugins.module_utils.inputs import InputError

REPO_SCHEMES = ("https://", "http://", "file://")
CHART_FILES = ("Chart.yaml", "values.yaml", "values.schema.json")


class ChartError(InputError):
    """A chart that cannot be used as named; the message names the variable and the fix."""


def sha256_file(path):
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _scalar(text, key):
    """A top-level scalar of a Chart.yaml (no YAML library needed on the target)."""
    match = re.search(rf"^{key}:\s*['\"]?([^'\"\n#]+?)['\"]?\s*(#.*)?$", text, re.MULTILINE)
    return match.group(1).strip() if match else ""


def read_archive(path):
    """{file name: text} of Chart.yaml, values.yaml and values.schema.json at the chart's top level."""
    found = {}
    try:
        with tarfile.open(path, "r:gz") as archive:
            for member in archive.getmembers():
                parts = member.name.split("/")
                if len(parts) == 2 and parts[1] in CHART_FILES and member.isfile():
                    found.setdefault(parts[1], archive.extractfile(member).read().decode("utf-8"))
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ChartError(
            f"{path}: not a packaged Helm chart (.tgz) ({exc}); give a chart archive as helm package makes it"
        ) from exc
    return found


def read_cached_archive(path, digest):
    """``read_archive`` for an archive in the per-user cache, read once per archive.

    The three files are kept beside the archive (``<archive>.files.json``, with the archive's sha256),
    so later runs read the contract without unpacking the chart again. A side file of another digest
    (the archive was replaced) or one that cannot be read is rebuilt; a cache that cannot be written
    only costs the unpacking.
    """
    side = path + ".files.json"
    try:
        with open(side, encoding="utf-8") as handle:
            kept = json.load(handle)
        if kept.get("sha256") == digest and isinstance(kept.get("files"), dict):
            return kept["files"]
    except (OSError, ValueError, AttributeError):
        pass
    files = read_archive(path)
    try:
        descriptor, scratch = tempfile.mkstemp(prefix=".files-", dir=os.path.dirname(path))
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            json.dump({"sha256": digest, "files": files}, handle)
        os.replace(scratch, side)
    except OSError:
        pass
    return files


def read_directory(path):
    """The same files from an unpacked chart directory."""
    found = {}
    for name in CHART_FILES:
        full = os.path.join(path, name)
        if os.path.isfile(full):
            with open(full, encoding="utf-8") as handle:
                found[name] = handle.read()
    return found


def check_inputs(prefix, ref, repo_url, version, sha256):
    """Refuse malformed variables before anything is read or pulled."""
    if not ref or not str(ref).strip():
        raise ChartError(
            f"{prefix}_chart_ref: {ref!r} is empty; name the chart in its repository (for example "
            f"{prefix.replace('_', '-')}) or give a local chart directory or .tgz"
        )
    if sha256:
        check.sha256(
            sha256,
            f"{prefix}_chart_sha256",
            ChartError,
            fix="write the 64 lower-case hex digits of the .tgz (sha256sum) or leave it empty",
        )
    if repo_url and not str(repo_url).startswith(REPO_SCHEMES):
        raise ChartError(
            f"{prefix}_chart_repo_url: {repo_url!r} is not an http://, https:// or file:// chart "
            f"repository URL; set it to the repository (or a site mirror) that serves index.yaml, "
            f'or to "" with a local {prefix}_chart_ref'
        )
    if version and not re.match(r"^v?[0-9A-Za-z.+-]+$", str(version)):
        raise ChartError(f"{prefix}_chart_version: {version!r} is not a chart version; write e.g. 2.12.0")


def _check_digest(prefix, path, expected, where):
    actual = sha256_file(path)
    if expected and actual != expected:
        raise ChartError(
            f"{prefix}_chart_sha256: the chart {where} has sha256 {actual}, not {expected}; the archive "
            f"is not the one pinned. Check {prefix}_chart_repo_url/{prefix}_chart_ref point at the "
            f"chart you trust, then set {prefix}_chart_sha256 to the digest it publishes"
        )
    return actual


def _check_chart_yaml(prefix, files, version, where):
    chart_yaml = files.get("Chart.yaml")
    if chart_yaml is None:
        raise ChartError(
            f"{prefix}_chart_ref: {where} has no Chart.yaml at its top level, so it is not a Helm chart; "
            "point it at a chart directory or .tgz"
        )
    name = _scalar(chart_yaml, "name")
    found = _scalar(chart_yaml, "version")
    if version and found.lstrip("v") != str(version).lstrip("v"):
        raise ChartError(
            f"{prefix}_chart_version: {version!r} but the chart {where} is {name} {found!r}; set "
            f"{prefix}_chart_version: {found!r} to install it, or point {prefix}_chart_ref at {version}"
        )
    return name, found


def _cache_path(cache_dir, repo_url, ref, version):
    key = hashlib.sha256(f"{repo_url}\n{ref}".encode()).hexdigest()[:16]
    base = ref.rstrip("/").rsplit("/", 1)[-1]
    return os.path.join(cache_dir, key, f"{base}-{version}.tgz")


def _pull_error(prefix, ref, repo_url, version, stderr):
    text = " ".join(stderr.split())
    where = repo_url or ref
    missing = r"version .* not found|no chart version found|not found in .* repository|failed to fetch"
    if re.search(missing, text):
        return ChartError(
            f"{prefix}_chart_version: chart {ref!r} version {version!r} is not in {where} ({text}); "
            f"set {prefix}_chart_version to a version the repository lists (helm search repo --versions), "
            f"or point {prefix}_chart_repo_url (or oneport_chart_repo_url) at a mirror that holds it"
        )
    if re.search(
        r"not a valid chart repository|cannot be reached|connection refused|no such host|"
        r"i/o timeout|no route to host|404 Not Found",
        text,
        re.IGNORECASE,
    ):
        return ChartError(
            f"{prefix}_chart_repo_url: the chart repository {where!r} cannot be read ({text}); check the URL "
            f"and that this host reaches it, or set {prefix}_chart_repo_url (or oneport_chart_repo_url for "
            f"every chart) to a mirror, or {prefix}_chart_ref to a local .tgz"
        )
    return ChartError(
        f"{prefix}_chart_ref: helm could not pull {ref!r} {version!r} from {where!r} ({text}); check "
        f"{prefix}_chart_ref and {prefix}_chart_version name a chart that repository serves"
    )


def fetch(prefix, ref, repo_url, version, sha256, cache_dir, helm, run):
    """Resolve the chart to a local path, verified; return what was found.

    Returns ``{chart_path, sha256, name, version, source, pulled, files}`` where ``source`` is
    ``directory``, ``archive`` or ``repository`` and ``files`` holds the chart's Chart.yaml,
    values.yaml and values.schema.json texts (those it has).
    """
    ref = str(ref or "").strip()
    repo_url = str(repo_url or "").strip()
    version = str(version or "").strip()
    sha256 = str(sha256 or "").strip().lower()
    check_inputs(prefix, ref, repo_url, version, sha256)
    local = os.path.expanduser(ref)
    is_oci = ref.startswith("oci://")

    if not repo_url and not is_oci:
        if os.path.isdir(local):
            if sha256:
                raise ChartError(
                    f"{prefix}_chart_sha256: {sha256!r} is set but {prefix}_chart_ref {ref!r} is a "
                    f"directory, and a digest pins a packaged chart; point {prefix}_chart_ref at the .tgz "
                    f"(helm package) or clear {prefix}_chart_sha256"
                )
            files = read_directory(local)
            name, found = _check_chart_yaml(prefix, files, version, f"in {ref}")
            return {
                "chart_path": os.path.abspath(local),
                "sha256": "",
                "name": name,
                "version": found,
                "source": "directory",
                "pulled": False,
                "files": files,
            }
        if os.path.isfile(local):
            digest = _check_digest(prefix, local, sha256, ref)
            files = read_archive(local)
            name, found = _check_chart_yaml(prefix, files, version, ref)
            return {
                "chart_path": os.path.abspath(local),
                "sha256": digest,
                "name": name,
                "version": found,
                "source": "archive",
                "pulled": False,
                "files": files,
            }
        raise ChartError(
            f"{prefix}_chart_ref: {ref!r} is not a local chart directory or .tgz and "
            f"{prefix}_chart_repo_url is empty; give the repository URL (or oneport_chart_repo_url) "
            f"or a path that exists on this host"
        )

    if not version:
        raise ChartError(
            f"{prefix}_chart_version: {version!r} is empty; a chart from a repository is pinned to a version "
            f"(for example the role's default), so every run installs the same chart"
        )
    target = _cache_path(cache_dir, repo_url, ref, version)
    pulled = False
    if not os.path.isfile(target):
        os.makedirs(os.path.dirname(target), mode=0o700, exist_ok=True)
        scratch = tempfile.mkdtemp(prefix=".pull-", dir=os.path.dirname(target))
        try:
            argv = [helm, "pull", ref, "--version", version, "--destination", scratch]
            if repo_url:
                argv += ["--repo", repo_url]
            rc, _out, err = run(argv)
            if rc != 0:
                raise _pull_error(prefix, ref, repo_url, version, err)
            archives = [f for f in os.listdir(scratch) if f.endswith(".tgz")]
            if len(archives) != 1:
                raise ChartError(
                    f"{prefix}_chart_ref: helm pull of {ref!r} left {archives!r}, not one .tgz; check what "
                    f"{prefix}_chart_repo_url serves for it"
                )
            # Verify before the archive enters the cache: a wrong download is never kept.
            downloaded = os.path.join(scratch, archives[0])
            _check_digest(prefix, downloaded, sha256, f"pulled from {repo_url or ref}")
            os.replace(downloaded, target)
            pulled = True
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    digest = _check_digest(prefix, target, sha256, f"cached at {target}")
    files = read_cached_archive(target, digest)
    name, found = _check_chart_yaml(prefix, files, version, f"{ref} from {repo_url or ref}")
    return {
        "chart_path": target,
        "sha256": digest,
        "name": name,
        "version": found,
        "source": "repository",
        "pulled": pulled,
        "files": files,
    }


def contract(files):
    """The chart's values.yaml (as text) and values.schema.json (parsed, or None)."""
    schema = files.get("values.schema.json")
    return {"values_yaml": files.get("values.yaml", ""), "schema": json.loads(schema) if schema else None}
