"""The prerequisites role installs verified tools from a local mirror, over file:// and http://.

The mirror is built from the pinned binaries in the checkout's bin/ (helm, kubectl, helm-diff and
pachctl when present), packed in the upstream archive layouts, with a checksum table computed here.
The role runs for real with ansible-playbook against localhost into temporary folders.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import os
import re
import shutil
import subprocess
import tarfile
import threading
from pathlib import Path

import pytest
from support.paths import REPO
from support.playbook_runs import changed, run_playbook

BIN = REPO / "bin"
pytestmark = pytest.mark.slow


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def add(tar: tarfile.TarFile, source: Path, name: str, mode: int = 0o755) -> None:
    info = tar.gettarinfo(str(source.resolve()), arcname=name)
    info.mode = mode
    with open(source.resolve(), "rb") as fh:
        tar.addfile(info, fh)


@pytest.fixture(scope="module")
def mirror(tmp_path_factory):
    """A mirror in the documented layout (<mirror>/<tool>/<upstream path>) and its checksum table."""
    for tool in ("helm", "kubectl", "helm-diff"):
        if not (BIN / tool).exists():
            pytest.skip(f"bin/{tool} missing: run `make setup`")
    root = tmp_path_factory.mktemp("mirror")
    files = {}

    helm = root / "helm" / "helm-v3.17.2-linux-amd64.tar.gz"
    helm.parent.mkdir(parents=True)
    with tarfile.open(helm, "w:gz") as tar:
        add(tar, BIN / "helm", "linux-amd64/helm")
    files["helm"] = ("3.17.2", helm)

    kubectl = root / "kubectl" / "v1.32.3" / "bin" / "linux" / "amd64" / "kubectl"
    kubectl.parent.mkdir(parents=True)
    shutil.copyfile(BIN / "kubectl", kubectl)
    files["kubectl"] = ("1.32.3", kubectl)

    diff = root / "helm-diff" / "v3.9.14" / "helm-diff-linux-amd64.tgz"
    diff.parent.mkdir(parents=True)
    manifest = root / "plugin.yaml"
    manifest.write_text(
        'name: "diff"\nversion: "3.9.14"\nusage: "diff"\ncommand: "$HELM_PLUGIN_DIR/bin/diff"\n'
    )
    with tarfile.open(diff, "w:gz") as tar:
        add(tar, manifest, "diff/plugin.yaml", 0o644)
        add(tar, BIN / "helm-diff", "diff/bin/diff")
    files["helm-diff"] = ("3.9.14", diff)

    if (BIN / "pachctl").exists():
        pachctl = root / "pachctl" / "v2.12.2" / "pachctl_2.12.2_linux_amd64.tar.gz"
        pachctl.parent.mkdir(parents=True)
        with tarfile.open(pachctl, "w:gz") as tar:
            add(tar, BIN / "pachctl", "pachctl_2.12.2_linux_amd64/pachctl")
        files["pachctl"] = ("2.12.2", pachctl)

    checksums = {tool: {version: {"amd64": sha256(path)}} for tool, (version, path) in files.items()}
    return {"root": root, "tools": list(files), "checksums": checksums}


@pytest.fixture(scope="module")
def http_mirror(mirror):
    """The same mirror served by a loopback HTTP server on a free port."""
    handler = functools.partial(QuietHandler, directory=str(mirror["root"]))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def run_role(tmp: Path, mirror_url: str, tools, checksums, *extra) -> subprocess.CompletedProcess:
    # The mirror serves the versions the checkout builds; the versions follow from its checksum table.
    versions = {tool: next(iter(by_version)) for tool, by_version in checksums.items()}
    variables = {
        "prerequisites_versions": versions,
        "prerequisites_install_tools": True,
        "prerequisites_mirror_url": mirror_url,
        "prerequisites_bin_dir": str(tmp / "bin"),
        "prerequisites_cache_dir": str(tmp / "cache"),
        "prerequisites_helm_plugins_dir": str(tmp / "plugins"),
        "prerequisites_tools": tools,
        "prerequisites_checksums": checksums,
        "prerequisites_architecture": "x86_64",
        "prerequisites_check_cluster": False,
    }
    return run_playbook("playbooks/prerequisites.yml", variables, tmp, *extra)


def assert_tools_run(bin_dir: Path, plugins: Path, tools) -> None:
    for tool in ("helm", "kubectl", "pachctl"):
        if tool in tools:
            assert (bin_dir / tool).stat().st_mode & 0o777 == 0o755
    version = subprocess.run(
        [bin_dir / "helm", "version", "--short"], capture_output=True, text=True, check=True
    )
    assert version.stdout.startswith("v3.17.2")
    kubectl = subprocess.run(
        [bin_dir / "kubectl", "version", "--client"], capture_output=True, text=True, check=True
    )
    assert "v1.32.3" in kubectl.stdout
    plugin_list = subprocess.run(
        [bin_dir / "helm", "plugin", "list"],
        env=dict(os.environ, HELM_PLUGINS=str(plugins)),
        capture_output=True,
        text=True,
        check=True,
    )
    assert re.search(r"^diff\s+3\.9\.14", plugin_list.stdout, re.MULTILINE), plugin_list.stdout
    if "pachctl" in tools:
        pachctl = subprocess.run(
            [bin_dir / "pachctl", "version", "--client-only"], capture_output=True, text=True, check=False
        )
        assert pachctl.returncode == 0, pachctl.stderr


@pytest.fixture(scope="module")
def file_install(mirror, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("file-install")
    first = run_role(tmp, f"file://{mirror['root']}", mirror["tools"], mirror["checksums"])
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-2000:]
    return tmp, first


def test_file_mirror_installs_tools_that_run(file_install, mirror):
    tmp, first = file_install
    assert changed(first) > 0
    assert_tools_run(tmp / "bin", tmp / "plugins", mirror["tools"])


def test_second_run_changes_nothing(file_install, mirror):
    tmp = file_install[0]
    again = run_role(tmp, f"file://{mirror['root']}", mirror["tools"], mirror["checksums"])
    assert again.returncode == 0, again.stdout[-4000:]
    assert changed(again) == 0


def test_check_mode_after_install_changes_nothing(file_install, mirror):
    tmp = file_install[0]
    check = run_role(
        tmp, f"file://{mirror['root']}", mirror["tools"], mirror["checksums"], "--check", "--diff"
    )
    assert check.returncode == 0, check.stdout[-4000:]
    assert changed(check) == 0


def test_http_mirror_installs_tools_that_run(http_mirror, mirror, tmp_path):
    result = run_role(tmp_path, http_mirror, mirror["tools"], mirror["checksums"])
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert_tools_run(tmp_path / "bin", tmp_path / "plugins", mirror["tools"])


def test_checksum_mismatch_fails_before_install_naming_the_entry(mirror, tmp_path):
    checksums = {**mirror["checksums"], "kubectl": {"1.32.3": {"amd64": "0" * 64}}}
    result = run_role(tmp_path, f"file://{mirror['root']}", ["kubectl"], checksums)
    assert result.returncode != 0
    assert "prerequisites_checksums['kubectl']['1.32.3']['amd64']" in result.stdout
    assert not (tmp_path / "bin" / "kubectl").exists()
    assert not (tmp_path / "cache" / "kubectl" / "1.32.3" / "amd64" / "kubectl").exists()


def test_check_mode_on_a_fresh_host_writes_nothing(mirror, tmp_path):
    result = run_role(tmp_path, f"file://{mirror['root']}", mirror["tools"], mirror["checksums"], "--check")
    assert result.returncode == 0, result.stdout[-4000:]
    assert not (tmp_path / "bin").exists()
    assert not (tmp_path / "cache").exists()


def test_check_only_mode_accepts_the_tools_already_installed(file_install, mirror):
    tmp = file_install[0]
    variables = {
        "prerequisites_install_tools": False,
        "prerequisites_bin_dir": str(tmp / "bin"),
        "prerequisites_helm_plugins_dir": str(tmp / "plugins"),
        "prerequisites_tools": mirror["tools"],
        "prerequisites_check_cluster": False,
    }
    result = run_playbook("playbooks/prerequisites.yml", variables, tmp)
    assert result.returncode == 0, result.stdout[-4000:]
    assert changed(result) == 0


def test_check_only_mode_names_the_missing_tools(tmp_path):
    variables = {
        "prerequisites_install_tools": False,
        "prerequisites_bin_dir": str(tmp_path / "empty"),
        "prerequisites_tools": ["kubectl"],
        "prerequisites_check_cluster": False,
    }
    result = run_playbook("playbooks/prerequisites.yml", variables, tmp_path)
    assert result.returncode != 0
    assert f"prerequisites_bin_dir: {tmp_path / 'empty'} has no kubectl" in result.stdout
