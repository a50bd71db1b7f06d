"""`gomod` tools: a directory of a Go module's source copied into a tree, at the wrapper module's version."""

from __future__ import annotations

import json
import os
import re
import stat
import sys
import threading
import zipfile
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from tools import install_tools

REPO = Path(__file__).resolve().parents[3]
MODULE = "example.test/app/v2"


class FakeBuild(SimpleNamespace):
    def start(self, activity):
        self.steps.append(activity)

    def step(self, activity, active=True):
        self.steps.append(activity)


def fake_go(tmp_path: Path, monkeypatch, version: str) -> Path:
    """A `go` on PATH that records its calls and downloads MODULE at `version` as a module zip."""
    root = f"{MODULE}@{version}/"
    zip_path = tmp_path / "gomodcache" / "cache" / "download" / f"{version}.zip"
    zip_path.parent.mkdir(parents=True)
    with zipfile.ZipFile(zip_path, "w") as zf:
        zf.writestr(root + "assets/templates/login.html", "<form>")
        zf.writestr(root + "assets/run.sh", "#!/bin/sh\n")
        zf.writestr(root + "main.go", "package main")
    calls = tmp_path / "go-calls.jsonl"
    listing = {"Path": MODULE, "Version": version, "Zip": str(zip_path)}
    script = tmp_path / "fake-bin" / "go"
    script.parent.mkdir()
    script.write_text(
        f"#!{sys.executable}\n"
        "import json, os, sys\n"
        f"with open({str(calls)!r}, 'a') as fh:\n"
        "    fh.write(json.dumps([sys.argv[1:], os.getcwd(), os.environ.get('GOFLAGS')]) + '\\n')\n"
        "if sys.argv[1:4] == ['mod', 'download', '-json']:\n"
        f"    print(json.dumps({listing!r}))\n"
    )
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{script.parent}{os.pathsep}{os.environ['PATH']}")
    return calls


def install(tmp_path: Path, version: str) -> Path:
    tool = {"version": version, "source": "gomod", "module": f"{MODULE}@v{version}", "tree": "assets"}
    target = tmp_path / "tools" / "assets" / version / "assets"
    target.parent.mkdir(parents=True)
    wrapper = tmp_path / "wrapper"
    wrapper.mkdir(exist_ok=True)
    build = FakeBuild(steps=[], fetch_slots=threading.Semaphore(1), log_path=tmp_path / "assets.log")
    install_tools.install_gomod_tool("assets", tool, target, wrapper, build)
    assert install_tools.is_installed("assets", tool, target)
    return target


def test_the_module_directory_becomes_a_tree_any_user_reads_and_its_owner_can_replace(tmp_path, monkeypatch):
    calls = fake_go(tmp_path, monkeypatch, "v2.1.0")
    previous = os.umask(0o077)  # a strict umask must not leave the tree unreadable to the image's user
    try:
        target = install(tmp_path, "2.1.0")
    finally:
        os.umask(previous)
    assert (target / "templates" / "login.html").read_text() == "<form>"
    modes = {
        str(path.relative_to(target)): stat.S_IMODE(path.stat().st_mode)
        for path in [target, *target.rglob("*")]
    }
    assert modes == {
        ".": 0o755,
        "templates": 0o755,
        "templates/login.html": 0o644,
        "run.sh": 0o644,
        ".complete": 0o644,
    }
    ran = [json.loads(line) for line in calls.read_text().splitlines()]
    # The module comes from the wrapper module's go.mod and go.sum, never resolved anew.
    assert [args for args, _cwd, _flags in ran] == [["mod", "download", "-json", MODULE]]
    assert {(cwd, flags) for _args, cwd, flags in ran} == {(str(tmp_path / "wrapper"), "-mod=readonly")}
    assert not (target / "main.go").exists()  # only the tree asked for


def test_a_version_other_than_the_one_the_wrapper_module_requires_is_refused(tmp_path, monkeypatch):
    fake_go(tmp_path, monkeypatch, "v2.0.9")
    with pytest.raises(
        SystemExit,
        match=r"assets is from example\.test/app/v2@v2\.1\.0, but .* requires example\.test/app/v2 v2\.0\.9",
    ):
        install(tmp_path, "2.1.0")
    assert not (tmp_path / "tools" / "assets" / "2.1.0" / "assets").exists()


def test_every_gomod_tool_is_the_version_its_wrapper_module_requires():
    tools = yaml.safe_load((REPO / "tools" / "tools.yml").read_text())["tools"]
    gomod = {name: tool for name, tool in tools.items() if tool["source"] == "gomod"}
    assert gomod, "tools.yml has gomod tools (dex-assets for pachd's image)"
    for name, tool in gomod.items():
        go_mod = (REPO / "tools" / "go" / tool["module_dir"] / "go.mod").read_text()
        path, version = tool["module"].split("@")
        required = re.search(rf"^\s*(?:require\s+)?{re.escape(path)} (\S+)", go_mod, re.M)
        assert required and required.group(1) == version == f"v{tool['version']}", name
