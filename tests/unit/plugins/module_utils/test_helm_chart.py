"""Resolving a role's chart to one verified local archive (plugins/module_utils/helm_chart.py)."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import tarfile
from pathlib import Path

import pytest

from ansible_collections.oneport.pachyderm.plugins.module_utils import helm_chart


def package(path: Path, name: str = "demo", version: str = "1.2.3", schema: str | None = "{}") -> Path:
    """A packaged chart as helm package lays it out: <name>/Chart.yaml, values.yaml, templates/."""
    files = {
        f"{name}/Chart.yaml": f"apiVersion: v2\nname: {name}\nversion: {version}\n",
        f"{name}/values.yaml": "replicas: 1\n",
        f"{name}/templates/cm.yaml": "kind: ConfigMap\n",
        f"{name}/charts/sub/Chart.yaml": "apiVersion: v2\nname: sub\nversion: 9.9.9\n",
    }
    if schema is not None:
        files[f"{name}/values.schema.json"] = schema
    with tarfile.open(path, "w:gz") as archive:
        for member, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(member)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class FakeHelm:
    """`helm pull` as seen from outside: copies a packaged chart into --destination, or fails."""

    def __init__(self, archive: Path | None = None, rc: int = 0, stderr: str = ""):
        self.archive, self.rc, self.stderr, self.calls = archive, rc, stderr, []

    def __call__(self, argv):
        self.calls.append(argv)
        if self.rc == 0:
            dest = Path(argv[argv.index("--destination") + 1])
            shutil.copy(self.archive, dest / self.archive.name)
        return self.rc, "", self.stderr


def fetch(ref, repo="", version="", sha="", cache=None, run=None, prefix="metallb"):
    return helm_chart.fetch(prefix, ref, repo, version, sha, str(cache or "/nonexistent"), "helm", run)


def test_a_local_archive_is_used_in_place_with_its_digest_and_version(tmp_path):
    tgz = package(tmp_path / "demo-1.2.3.tgz")
    found = fetch(str(tgz), version="1.2.3", sha=digest(tgz))
    assert found["chart_path"] == str(tgz)
    assert (found["source"], found["name"], found["version"], found["sha256"]) == (
        "archive",
        "demo",
        "1.2.3",
        digest(tgz),
    )


def test_a_local_archive_with_another_digest_is_refused_naming_the_variable(tmp_path):
    tgz = package(tmp_path / "demo-1.2.3.tgz")
    pattern = r"^metallb_chart_sha256: .* has sha256 [0-9a-f]{64}, not 0{63}1"
    with pytest.raises(helm_chart.ChartError, match=pattern):
        fetch(str(tgz), sha="0" * 63 + "1")


def test_a_chart_of_another_version_than_pinned_is_refused(tmp_path):
    tgz = package(tmp_path / "demo-1.2.3.tgz")
    pattern = r"metallb_chart_version: '2.0.0' but the chart .* '1.2.3'"
    with pytest.raises(helm_chart.ChartError, match=pattern):
        fetch(str(tgz), version="2.0.0")


def test_a_v_prefixed_version_matches_either_spelling(tmp_path):
    tgz = package(tmp_path / "cm.tgz", version="v1.21.1")
    assert fetch(str(tgz), version="v1.21.1")["version"] == "v1.21.1"


def test_a_chart_directory_is_read_in_place_and_cannot_be_pinned_by_digest(tmp_path):
    chart = tmp_path / "demo"
    chart.mkdir()
    (chart / "Chart.yaml").write_text("name: demo\nversion: 1.2.3\n")
    (chart / "values.yaml").write_text("a: 1\n")
    found = fetch(str(chart))
    assert (found["source"], found["files"]["values.yaml"]) == ("directory", "a: 1\n")
    with pytest.raises(helm_chart.ChartError, match=r"metallb_chart_sha256: '.*' is set but .* is a dir"):
        fetch(str(chart), sha="a" * 64)


def test_a_missing_local_path_without_a_repository_names_both_variables(tmp_path):
    with pytest.raises(helm_chart.ChartError, match=r"metallb_chart_ref: .* metallb_chart_repo_url is empty"):
        fetch(str(tmp_path / "nothing.tgz"))


def test_a_repository_chart_is_pulled_once_into_the_cache(tmp_path):
    tgz = package(tmp_path / "demo-1.2.3.tgz")
    helm = FakeHelm(tgz)
    cache = tmp_path / "cache"
    first = fetch("demo", "http://127.0.0.1:1/charts", "1.2.3", digest(tgz), cache, helm)
    second = fetch("demo", "http://127.0.0.1:1/charts", "1.2.3", digest(tgz), cache, helm)
    assert (first["pulled"], second["pulled"], len(helm.calls)) == (True, False, 1)
    assert first["chart_path"] == second["chart_path"] and Path(first["chart_path"]).is_relative_to(cache)
    assert helm.calls[0][:2] == ["helm", "pull"] and "--repo" in helm.calls[0]


def test_a_cached_chart_is_unpacked_once_per_archive(tmp_path):
    tgz = package(tmp_path / "demo-1.2.3.tgz")
    cache = tmp_path / "cache"
    first = fetch("demo", "http://127.0.0.1:1/charts", "1.2.3", "", cache, FakeHelm(tgz))
    side = Path(first["chart_path"] + ".files.json")
    kept = json.loads(side.read_text())
    assert kept == {"sha256": digest(tgz), "files": first["files"]}

    # A later run reads the contract from the side file, not from the archive.
    kept["files"]["values.yaml"] = "replicas: 7\n"
    side.write_text(json.dumps(kept))
    assert (
        fetch("demo", "http://127.0.0.1:1/charts", "1.2.3", "", cache)["files"]["values.yaml"]
        == "replicas: 7\n"
    )

    # A side file of another archive (the cache entry was replaced) is read again from the archive.
    kept["sha256"] = "0" * 64
    side.write_text(json.dumps(kept))
    again = fetch("demo", "http://127.0.0.1:1/charts", "1.2.3", "", cache)
    assert again["files"]["values.yaml"] == "replicas: 1\n"
    assert json.loads(side.read_text())["sha256"] == digest(tgz)

    # An unreadable side file is rebuilt the same way.
    side.write_text("{not json")
    assert (
        fetch("demo", "http://127.0.0.1:1/charts", "1.2.3", "", cache)["files"]["values.yaml"]
        == "replicas: 1\n"
    )


def test_a_pulled_chart_with_another_digest_never_enters_the_cache(tmp_path):
    tgz = package(tmp_path / "demo-1.2.3.tgz")
    cache = tmp_path / "cache"
    with pytest.raises(helm_chart.ChartError, match="metallb_chart_sha256: the chart pulled from"):
        fetch("demo", "http://127.0.0.1:1", "1.2.3", "b" * 64, cache, FakeHelm(tgz))
    assert list(cache.rglob("*.tgz")) == []


def test_a_version_the_repository_lacks_names_the_version_variable(tmp_path):
    helm = FakeHelm(rc=1, stderr='Error: chart "demo" version "9.9.9" not found in http://x repository\n')
    pattern = r"^metallb_chart_version: chart 'demo' version '9.9.9' is not in"
    with pytest.raises(helm_chart.ChartError, match=pattern):
        fetch("demo", "http://x", "9.9.9", cache=tmp_path, run=helm)


def test_an_unreachable_repository_names_the_repository_variables(tmp_path):
    helm = FakeHelm(
        rc=1,
        stderr='Error: looks like "http://127.0.0.1:1" is not a valid chart repository or cannot be reached',
    )
    with pytest.raises(helm_chart.ChartError, match=r"^metallb_chart_repo_url: .*oneport_chart_repo_url"):
        fetch("demo", "http://127.0.0.1:1", "1.0.0", cache=tmp_path, run=helm)


def test_a_repository_chart_must_be_pinned_to_a_version(tmp_path):
    with pytest.raises(helm_chart.ChartError, match="metallb_chart_version: '' is empty"):
        fetch("demo", "http://127.0.0.1:1", "", cache=tmp_path, run=FakeHelm())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"ref": ""}, "metallb_chart_ref: '' is empty"),
        ({"ref": "demo", "sha": "xyz"}, "metallb_chart_sha256: 'xyz' is not a sha256"),
        ({"ref": "demo", "repo": "ftp://mirror"}, "metallb_chart_repo_url: 'ftp://mirror' is not an http"),
        ({"ref": "demo", "repo": "http://m", "version": "1 2"}, "metallb_chart_version: '1 2' is not a"),
    ],
)
def test_malformed_variables_are_refused_before_anything_is_read(kwargs, message, tmp_path):
    helm = FakeHelm()
    with pytest.raises(helm_chart.ChartError, match=message):
        fetch(cache=tmp_path, run=helm, **kwargs)
    assert helm.calls == []


def test_the_contract_reads_values_and_schema_from_the_chart_top_level_only(tmp_path):
    tgz = package(tmp_path / "demo.tgz", schema='{"type": "object"}')
    found = fetch(str(tgz))
    contract = helm_chart.contract(found["files"])
    assert contract == {"values_yaml": "replicas: 1\n", "schema": {"type": "object"}}
    no_schema = fetch(str(package(tmp_path / "plain.tgz", schema=None)))
    assert helm_chart.contract(no_schema["files"])["schema"] is None


def test_a_file_that_is_not_a_chart_archive_is_named(tmp_path):
    bogus = tmp_path / "bogus.tgz"
    bogus.write_bytes(b"not gzip")
    with pytest.raises(helm_chart.ChartError, match="not a packaged Helm chart"):
        fetch(str(bogus))
