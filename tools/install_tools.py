"""Install the pinned tool binaries listed in tools/tools.yml.

Binaries are unpacked or built once into a per-user cache and linked into the checkout's bin/, so a
fresh clone on the same machine reuses them. Every binary is verified: wheel-shipped ones by sha256
(wheel and binary), Go-built ones through go.sum with -mod=readonly.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import io
import os
import platform
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from contextlib import contextmanager
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = ROOT / "tools" / "tools.yml"


def cache_dir() -> Path:
    """The per-user cache shared by every checkout (ONEPORT_CACHE moves it)."""
    explicit = os.environ.get("ONEPORT_CACHE")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "oneport"


def log(msg: str) -> None:
    print(f"[tools] {msg}", flush=True)


def sha256_of(data_or_path) -> str:
    h = hashlib.sha256()
    if isinstance(data_or_path, (bytes, bytearray)):
        h.update(data_or_path)
    else:
        with open(data_or_path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


@contextmanager
def locked(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def open_member(blob: bytes, member: str) -> bytes:
    """Read one member out of a zip (wheels too) or gzipped tar held in memory."""
    if zipfile.is_zipfile(io.BytesIO(blob)):
        with zipfile.ZipFile(io.BytesIO(blob)) as zf:
            return zf.read(member)
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r:*") as tf:
        extracted = tf.extractfile(member)
        if extracted is None:
            raise SystemExit(f"{member} is not a regular file in the archive")
        return extracted.read()


def fetch_wheel(spec: dict, downloads: Path) -> bytes:
    wheel_path = downloads / spec["wheel"]
    if not wheel_path.exists() or sha256_of(wheel_path) != spec["wheel_sha256"]:
        log(f"downloading {spec['requirement']} from the package index")
        with tempfile.TemporaryDirectory(dir=downloads) as tmp:
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "download",
                    "--quiet",
                    "--no-deps",
                    "--only-binary=:all:",
                    "--dest",
                    tmp,
                    spec["requirement"],
                ],
                check=True,
            )
            got = Path(tmp) / spec["wheel"]
            if not got.exists():
                raise SystemExit(f"pip did not fetch {spec['wheel']} (got {os.listdir(tmp)})")
            os.replace(got, wheel_path)
    blob = wheel_path.read_bytes()
    actual = sha256_of(blob)
    if actual != spec["wheel_sha256"]:
        wheel_path.unlink()
        raise SystemExit(
            f"sha256 mismatch for {spec['wheel']}: expected {spec['wheel_sha256']}, got {actual}"
        )
    return blob


def install_wheel_tool(name: str, tool: dict, spec: dict, target: Path, cache: Path) -> None:
    downloads = cache / "downloads"
    downloads.mkdir(parents=True, exist_ok=True)
    blob = fetch_wheel(spec, downloads)
    for member in spec["extract"]:
        blob = open_member(blob, member)
    actual = sha256_of(blob)
    if actual != spec["sha256"]:
        raise SystemExit(
            f"sha256 mismatch for {name} {tool['version']}: expected {spec['sha256']}, got {actual}"
        )
    write_executable(target, blob)


def go_version() -> str:
    out = subprocess.run(["go", "env", "GOVERSION"], check=True, capture_output=True, text=True)
    return out.stdout.strip()


def install_go_tool(name: str, tool: dict, target: Path) -> None:
    module_dir = ROOT / "tools" / "go" / tool.get("module_dir", name)
    ldflags = " ".join(tool.get("ldflags", []))
    env = dict(os.environ, GOFLAGS="-mod=readonly -buildvcs=false", CGO_ENABLED=str(tool.get("cgo", 0)))
    log(f"building {name} {tool['version']} with {go_version()} (first build only; cached after)")
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        out = Path(tmp) / name
        cmd = ["go", "build", "-trimpath", "-ldflags", ldflags, "-o", str(out), tool["package"]]
        subprocess.run(cmd, cwd=module_dir, env=env, check=True)
        os.chmod(out, 0o755)  # noqa: S103 - an executable for every user
        os.replace(out, target)


def write_executable(target: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=target.parent)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.chmod(tmp, 0o755)  # noqa: S103 - an executable for every user
    os.replace(tmp, target)


def cached_path(name: str, tool: dict, cache: Path) -> Path:
    version = tool["version"]
    if tool["source"] == "go":
        # A different Go toolchain may build different bytes: keep its output apart.
        version = f"{version}-{go_version()}"
    return cache / "tools" / name / version / name


def install(name: str, tool: dict, bin_dir: Path, cache: Path) -> Path:
    target = cached_path(name, tool, cache)
    target.parent.mkdir(parents=True, exist_ok=True)
    with locked(target.parent / ".lock"):
        if target.exists() and (
            tool["source"] != "wheel" or sha256_of(target) == arch_spec(name, tool)["sha256"]
        ):
            log(f"{name} {tool['version']}: cached")
        elif tool["source"] == "wheel":
            install_wheel_tool(name, tool, arch_spec(name, tool), target, cache)
            log(f"{name} {tool['version']}: installed (sha256 verified)")
        elif tool["source"] == "go":
            install_go_tool(name, tool, target)
            log(f"{name} {tool['version']}: built (modules verified by go.sum)")
        else:
            raise SystemExit(f"tools.yml: {name} has unknown source {tool['source']!r}")
    link = bin_dir / name
    if link.is_symlink() or link.exists():
        if link.is_symlink() and os.readlink(link) == str(target):
            return target
        link.unlink()
    link.symlink_to(target)
    return target


def helm_plugins_dir() -> Path:
    """Where helm looks for plugins: $HELM_PLUGINS (the Makefile sets it), else the checkout's."""
    return Path(os.environ.get("HELM_PLUGINS") or ROOT / ".build" / "helm" / "plugins")


def install_helm_plugin(name: str, tool: dict, binary: Path, plugins: Path) -> None:
    """Register a built binary as a helm plugin: <plugins>/<plugin>/plugin.yaml + bin/<plugin>.

    No install hooks: the binary is already built and verified, helm only has to find it.
    """
    plugin = tool["helm_plugin"]
    plugin_dir = plugins / plugin["name"]
    (plugin_dir / "bin").mkdir(parents=True, exist_ok=True)
    manifest = (
        f'name: "{plugin["name"]}"\n'
        f'version: "{plugin["version"]}"\n'
        f'usage: "{name} {tool["version"]} (built by tools/install_tools.py)"\n'
        f'description: "{name} {tool["version"]} (built by tools/install_tools.py)"\n'
        "useTunnel: true\n"
        f'command: "$HELM_PLUGIN_DIR/bin/{plugin["name"]}"\n'
    )
    manifest_path = plugin_dir / "plugin.yaml"
    if not manifest_path.exists() or manifest_path.read_text() != manifest:
        fd, tmp = tempfile.mkstemp(dir=plugin_dir)
        with os.fdopen(fd, "w") as fh:
            fh.write(manifest)
        os.chmod(tmp, 0o644)
        os.replace(tmp, manifest_path)
    link = plugin_dir / "bin" / plugin["name"]
    if link.is_symlink() and os.readlink(link) == str(binary):
        log(f"{name}: helm plugin {plugin['name']} {plugin['version']} in {plugins}: present")
        return
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(binary)
    log(f"{name}: helm plugin {plugin['name']} {plugin['version']} installed into {plugins}")


def arch_spec(name: str, tool: dict) -> dict:
    machine = platform.machine()
    try:
        return tool["arch"][machine]
    except KeyError:
        raise SystemExit(
            f"tools.yml: {name} {tool['version']} has no pinned binary for {machine}; "
            f"add an arch.{machine} entry with its wheel and sha256"
        ) from None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bin-dir", default=str(ROOT / "bin"))
    parser.add_argument("--group", action="append", help="install only tools of these groups")
    parser.add_argument(
        "--helm-plugins",
        default=str(helm_plugins_dir()),
        help="helm plugins directory for tools with helm_plugin (default: $HELM_PLUGINS)",
    )
    parser.add_argument("names", nargs="*", help="install only these tools")
    args = parser.parse_args(argv)

    manifest = yaml.safe_load(MANIFEST.read_text())["tools"]
    wanted = {
        name: tool
        for name, tool in manifest.items()
        if (not args.names or name in args.names)
        and (not args.group or set(args.group) & set(tool.get("groups", [])))
    }
    unknown = set(args.names) - set(manifest)
    if unknown:
        raise SystemExit(f"unknown tools: {', '.join(sorted(unknown))} (see tools/tools.yml)")
    bin_dir = Path(args.bin_dir)
    bin_dir.mkdir(parents=True, exist_ok=True)
    cache = cache_dir()
    for name, tool in wanted.items():
        binary = install(name, tool, bin_dir, cache)
        if tool.get("helm_plugin"):
            install_helm_plugin(name, tool, binary, Path(args.helm_plugins))
    return 0


if __name__ == "__main__":
    sys.exit(main())
