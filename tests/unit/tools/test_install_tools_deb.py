"""`deb` tools: pinned Debian packages unpacked into one tree, verified, without dpkg."""

from __future__ import annotations

import hashlib
import io
import tarfile
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest

from tools import install_tools


def deb(files: dict[str, bytes]) -> bytes:
    """A minimal .deb: an ar archive with debian-binary, control.tar.gz and data.tar.xz."""
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w:xz") as tar:
        for name, content in files.items():
            info = tarfile.TarInfo("./" + name)
            info.size = len(content)
            info.mode = 0o755
            tar.addfile(info, io.BytesIO(content))
    members = [("debian-binary", b"2.0\n"), ("control.tar.gz", b""), ("data.tar.xz", data.getvalue())]
    out = io.BytesIO()
    out.write(b"!<arch>\n")
    for name, content in members:
        out.write(f"{name:<16}{0:<12}{0:<6}{0:<6}{100644:<8}{len(content):<10}`\n".encode())
        out.write(content + (b"\n" if len(content) % 2 else b""))
    return out.getvalue()


class FakeBuild(SimpleNamespace):
    def start(self, activity):
        self.steps.append(activity)

    def step(self, activity, active=True):
        self.steps.append(activity)


def test_packages_unpack_into_one_tree_with_the_links_update_alternatives_would_make(tmp_path, monkeypatch):
    one = deb({"usr/sbin/xtables-nft-multi": b"multi"})
    two = deb({"usr/lib/libx.so.1": b"lib"})
    pool = tmp_path / "mirror"
    for name, blob in (("pool/a/one.deb", one), ("pool/b/two.deb", two)):
        (pool / name).parent.mkdir(parents=True, exist_ok=True)
        (pool / name).write_bytes(blob)
    monkeypatch.setenv("ONEPORT_DEBIAN_MIRROR", pool.as_uri())
    tool = {
        "version": "1",
        "packages": [
            {"file": "pool/a/one.deb", "sha256": hashlib.sha256(one).hexdigest()},
            {"file": "pool/b/two.deb", "sha256": hashlib.sha256(two).hexdigest()},
        ],
        "links": {"usr/sbin/iptables": "xtables-nft-multi"},
    }
    target = tmp_path / "tools" / "runtime" / "1" / "runtime"
    target.parent.mkdir(parents=True)
    build = FakeBuild(steps=[], fetch_slots=threading.Semaphore(1))
    install_tools.install_deb_tool("runtime", tool, target, tmp_path, build)
    assert (target / "usr/sbin/iptables").resolve() == (target / "usr/sbin/xtables-nft-multi").resolve()
    assert (target / "usr/lib/libx.so.1").read_bytes() == b"lib"
    assert install_tools.is_installed("runtime", {**tool, "source": "deb"}, target)


def test_a_package_whose_sha256_differs_is_refused_and_names_the_mirror_variable(tmp_path, monkeypatch):
    pool = tmp_path / "mirror"
    (pool / "pool").mkdir(parents=True)
    (pool / "pool/x.deb").write_bytes(deb({"x": b"x"}))
    monkeypatch.setenv("ONEPORT_DEBIAN_MIRROR", pool.as_uri())
    build = FakeBuild(steps=[], fetch_slots=threading.Semaphore(1))
    with pytest.raises(SystemExit, match="sha256 mismatch"):
        install_tools.fetch_deb({"file": "pool/x.deb", "sha256": "0" * 64}, tmp_path, build)
    monkeypatch.setenv("ONEPORT_DEBIAN_MIRROR", (tmp_path / "nowhere").as_uri())
    with pytest.raises(SystemExit, match="ONEPORT_DEBIAN_MIRROR"):
        install_tools.fetch_deb({"file": "pool/x.deb", "sha256": "0" * 64}, tmp_path / "dl", build)


def test_something_that_is_not_a_deb_is_named():
    with pytest.raises(SystemExit, match="not a Debian package"):
        install_tools.deb_data(b"PK\x03\x04", "pool/x.deb")


def test_every_deb_tool_in_the_manifest_pins_each_package():
    import yaml

    manifest = yaml.safe_load(Path(install_tools.MANIFEST).read_text())["tools"]
    debs = {name: tool for name, tool in manifest.items() if tool["source"] == "deb"}
    assert debs
    for tool in debs.values():
        for package in tool["packages"]:
            assert package["file"].startswith("pool/") and package["file"].endswith(".deb")
            assert len(package["sha256"]) == 64
