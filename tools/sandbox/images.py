"""Container images for the sandbox's real node, built from binaries built here: no registry, no pull.

Each image is a `docker save`-style archive (manifest.json naming the image in RepoTags, a config whose
`rootfs.diff_ids` lists the layer digests, one uncompressed layer tar) that `ctr images import` takes as
it is. The layer holds the few files a process expects (/etc/passwd, /tmp) and what the image carries:
a static binary, whole directory trees of tools (Debian packages unpacked with their libraries, a built
application) and scripts of this repository. Archives are deterministic (fixed times, owners and
order), so the same inputs give the same image ID, and are rewritten only when their inputs change.

CATALOGUE maps every image name the sandbox can provide to how it is made. A pod that asks for any
other image is refused by `missing()` with the image's name, before kubelet would try a pull that can
never succeed here.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

# The pause image kubelet 1.32 and containerd's `sandbox_image` name.
PAUSE_IMAGE = "registry.k8s.io/pause:3.10"
PROBE_IMAGE = "oneport.local/sandbox/probe:1.0.0"
COREDNS_IMAGE = "registry.k8s.io/coredns/coredns:v1.12.1"
# The MetalLB chart's images (its appVersion tag), as the chart names them.
METALLB_CONTROLLER_IMAGE = "quay.io/metallb/controller:v0.16.1"
METALLB_SPEAKER_IMAGE = "quay.io/metallb/speaker:v0.16.1"
# The pachyderm chart 2.12.0's console image as the chart names it (global.image.registry `docker.io/`,
# repository pachyderm/haberdashery, tag its appVersion). It holds the console of pachyderm 2.12.2, the
# version pachctl is built from (tools/tools.yml `console`).
CONSOLE_IMAGE = "docker.io/pachyderm/haberdashery:2.12.0"
CONSOLE_BACKEND = "/usr/src/app/console/backend"
# The Pachyderm chart 2.12.0's pachd image as it renders it (global.image.registry, pachd.image.repository,
# its appVersion as the tag), for pachd and the pipelines' storage sidecar. It holds pachd 2.12.2, the
# patch release pachctl is built from too (tools/tools.yml).
PACHD_IMAGE = "docker.io/pachyderm/pachd:2.12.0"
# The Pachyderm chart's (2.12) database and proxy images with its default values, as it names them.
POSTGRESQL_IMAGE = "docker.io/pachyderm/postgresql:13.3.0"
PGBOUNCER_IMAGE = "pachyderm/pgbouncer:1.16.2"
ETCD_IMAGE = "pachyderm/etcd:v3.5.12"
CHART_ENVOY_IMAGE = "envoyproxy/envoy-distroless:v1.29.3"
# The proxy image the pachyderm role asks for: its tag follows ENVOY_VERSION
# (plugins/module_utils/pachyderm_proxy.py), the pinned `envoy` tool's release.
ENVOY_VERSION = "1.40.0"
ENVOY_IMAGE = f"envoyproxy/envoy:distroless-v{ENVOY_VERSION}"
IMAGE_FILES = "tools/sandbox/image-files"

PASSWD = b"root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n"
GROUP = b"root:x:0:\nnogroup:x:65534:\n"
NSSWITCH = b"hosts: files dns\n"


@dataclass(frozen=True)
class Image:
    """One image: what it carries from the sandbox's tools and this repository, and how it starts.

    `binary` is a tool of tools/tools.yml whose one file goes at `path`. `trees` copies whole directory
    tools (a Debian tree, a built application) under a path of the image ("/" merges at the root);
    `files` copies files of this repository (entrypoint scripts), given relative to its root.
    """

    entrypoint: tuple[str, ...]
    binary: str = ""
    path: str = ""
    trees: tuple[tuple[str, str], ...] = ()
    files: tuple[tuple[str, str], ...] = ()
    cmd: tuple[str, ...] = ()
    user: str = ""
    env: tuple[str, ...] = ()
    workdir: str = "/"
    ports: tuple[str, ...] = field(default=())
    stop_signal: str = ""  # what kubelet's stop sends instead of SIGTERM
    # `node`: what the node itself and the sandbox's tests run; `pachyderm`: the Pachyderm chart's
    # pods, on the real node only when the sandbox runs Pachyderm for real (see GROUPS).
    group: str = "node"

    def tools(self) -> tuple[str, ...]:
        """The tools of tools/tools.yml this image is made from."""
        return ((self.binary,) if self.binary else ()) + tuple(tool for tool, _dest in self.trees)


# The image groups a sandbox can put on its real node.
GROUPS = ("node", "pachyderm")

# Envoy's wheel build links glibc: it runs over debian-base, found on PATH as the chart's
# `command: [envoy]` asks, with the configuration where the chart mounts it.
ENVOY = Image(
    trees=(("debian-base", "/"),),
    binary="envoy",
    path="/usr/local/bin/envoy",
    entrypoint=("/usr/local/bin/envoy",),
    cmd=("-c", "/etc/envoy/envoy.yaml"),
    user="101",
    group="pachyderm",
)

CATALOGUE: dict[str, Image] = {
    PAUSE_IMAGE: Image(binary="pause", path="/pause", entrypoint=("/pause",), user="65535:65535"),
    PROBE_IMAGE: Image(
        binary="probe",
        path="/usr/local/bin/probe",
        entrypoint=("/usr/local/bin/probe",),
        cmd=("serve",),
        ports=("8080/tcp",),
    ),
    COREDNS_IMAGE: Image(
        binary="coredns", path="/coredns", entrypoint=("/coredns",), ports=("53/tcp", "53/udp")
    ),
    # As MetalLB's own images: the binary at the root, run as the entrypoint with the chart's args.
    METALLB_CONTROLLER_IMAGE: Image(
        binary="metallb-controller", path="/controller", entrypoint=("/controller",)
    ),
    METALLB_SPEAKER_IMAGE: Image(binary="metallb-speaker", path="/speaker", entrypoint=("/speaker",)),
    # What pachyderm's image runs (`npm start` in the backend) without npm: node with the script's
    # environment and preloads, in the backend's directory (module-alias reads its package.json). glibc
    # and the C++ runtime come from Debian beside node; the chart's pod runs it as user 1000 with a
    # read-only root, writing only to its /tmp and /home volumes. User 1000 has no passwd entry, so
    # HOME names the /home volume: node's os.homedir(), which a backend module calls, needs one.
    CONSOLE_IMAGE: Image(
        trees=(("console-runtime", "/"), ("console", "/")),
        entrypoint=(),
        cmd=("node", "-r", "module-alias/register", "-r", "dotenv-flow/config", "dist/index.js"),
        env=(
            "HOME=/home",
            "NODE_PATH=dist/",
            "NODE_ENV=production",
            "DOTENV_FLOW_PATH=../",
            "REACT_APP_RELEASE_VERSION=2.12.2",
        ),
        workdir=CONSOLE_BACKEND,
        user="1000:1000",
        ports=("4000/tcp",),
        group="pachyderm",
    ),
    # As Pachyderm's own image: the chart runs /pachd (also its probes' command) as user 65532, with
    # /tmp and /pach mounted; the embedded Dex reads its templates from /dex-assets. No CA bundle: pachd
    # reaches PostgreSQL, etcd and the Kubernetes API without verifying against public roots, and the
    # chart hands custom CAs over through SSL_CERT_DIR.
    PACHD_IMAGE: Image(
        binary="pachd",
        path="/pachd",
        entrypoint=("/pachd",),
        trees=(("dex-assets", "/dex-assets"),),
        user="65532:65532",
        ports=tuple(f"{port}/tcp" for port in (1600, 1650, 1653, 1656, 1657, 1658, 1659)),
        group="pachyderm",
    ),
    # PostgreSQL 15 (Debian's) serves the tag 13.3.0: the entrypoint stands in for Bitnami's scripts.
    POSTGRESQL_IMAGE: Image(
        trees=(("debian-base", "/"), ("postgresql-runtime", "/")),
        files=(
            (f"{IMAGE_FILES}/postgresql-entrypoint.sh", "/opt/oneport/entrypoint.sh"),
            (f"{IMAGE_FILES}/secret.sh", "/opt/oneport/secret.sh"),
            (f"{IMAGE_FILES}/passwd", "/etc/passwd"),
            (f"{IMAGE_FILES}/group", "/etc/group"),
        ),
        entrypoint=("/opt/oneport/entrypoint.sh",),
        user="1001",
        ports=("5432/tcp",),
        # A fast shutdown: SIGTERM's smart one waits for pgbouncer's pooled connections to close,
        # until the grace period ends in SIGKILL and the next start recovers from the WAL.
        stop_signal="SIGINT",
        group="pachyderm",
    ),
    # Debian's pgbouncer 1.18 serves the tag 1.16.2, with psql and pg_isready for the chart's probe.
    PGBOUNCER_IMAGE: Image(
        trees=(("debian-base", "/"), ("pgbouncer-runtime", "/")),
        files=(
            (f"{IMAGE_FILES}/pgbouncer-entrypoint.sh", "/opt/oneport/entrypoint.sh"),
            (f"{IMAGE_FILES}/secret.sh", "/opt/oneport/secret.sh"),
            (f"{IMAGE_FILES}/passwd", "/etc/passwd"),
            (f"{IMAGE_FILES}/group", "/etc/group"),
        ),
        entrypoint=("/opt/oneport/entrypoint.sh",),
        user="1001",
        ports=("5432/tcp",),
        group="pachyderm",
    ),
    # etcd 3.5.24 (the `etcd` tool) serves the tag v3.5.12; the chart runs it by path with its own
    # arguments and probes it over HTTP (/health), so the image needs nothing else.
    ETCD_IMAGE: Image(
        binary="etcd",
        path="/usr/local/bin/etcd",
        entrypoint=("/usr/local/bin/etcd",),
        ports=("2379/tcp", "2380/tcp"),
        group="pachyderm",
    ),
    ENVOY_IMAGE: ENVOY,
    # The chart's own configuration mode names Envoy 1.29.3's image; the chart's envoy.json validates
    # on the pinned 1.40 (`envoy --mode validate`), which serves that name too.
    CHART_ENVOY_IMAGE: ENVOY,
}


# Bumped when the way archives are written changes, so archives written before are rewritten.
FORMAT = 2
REPO = Path(__file__).resolve().parents[2]
# Marks the installer leaves in a tool's tree: not part of what the tool is.
TOOL_MARKS = {".complete", ".lock"}


def _info(name: str, mode: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name.lstrip("/"))
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    info.mode = mode
    return info


def _add(tar: tarfile.TarFile, name: str, data: bytes | None = None, mode: int = 0o644) -> None:
    info = _info(name, mode)
    if data is None:
        info.type = tarfile.DIRTYPE
        tar.addfile(info)
        return
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def _tree_entries(root: Path, dest: str) -> dict[str, tuple]:
    """A tool's directory tree as layer entries under `dest`: directories, files and symlinks as they are."""
    entries: dict[str, tuple] = {}
    prefix = dest.strip("/")
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if relative.parts[0] in TOOL_MARKS:
            continue
        name = f"{prefix}/{relative}" if prefix else str(relative)
        mode = path.lstat().st_mode & 0o7777
        if path.is_symlink():
            entries[name] = ("link", os.readlink(path))
        elif path.is_dir():
            entries[name] = ("dir", mode)
        else:
            entries[name] = ("file", path, mode)
    return entries


def layer_entries(image: Image, find_tool) -> dict[str, tuple]:
    """Everything the image's one layer holds, by path; later sources win over earlier ones.

    The base files every process may look for come first, then the trees, the binary and this
    repository's files, so an image can bring its own /etc/passwd (a user its program needs).
    """
    entries: dict[str, tuple] = {
        "etc": ("dir", 0o755),
        "tmp": ("dir", 0o1777),
        "etc/passwd": ("data", PASSWD, 0o644),
        "etc/group": ("data", GROUP, 0o644),
        "etc/nsswitch.conf": ("data", NSSWITCH, 0o644),
    }
    for tool, dest in image.trees:
        entries.update(_tree_entries(Path(find_tool(tool)).resolve(), dest))
    if image.binary:
        entries[image.path.lstrip("/")] = ("file", Path(find_tool(image.binary)).resolve(), 0o755)
    for source, dest in image.files:
        path = REPO / source
        entries[dest.lstrip("/")] = ("file", path, path.stat().st_mode & 0o755 | 0o644)
    for name in list(entries):  # every parent directory, even where no source names it
        parent = str(Path(name).parent)
        while parent != "." and parent not in entries:
            entries[parent] = ("dir", 0o755)
            parent = str(Path(parent).parent)
    return entries


class _Hashing(io.RawIOBase):
    """A writable file that also hashes what passes through it (the layer's diff ID)."""

    def __init__(self, fh):
        self.fh = fh
        self.digest = hashlib.sha256()

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self.digest.update(data)
        return self.fh.write(data)


def write_layer(entries: dict[str, tuple], fh) -> str:
    """Write the layer tar to `fh` in path order with fixed times and owners; returns its diff ID."""
    hashing = _Hashing(fh)
    with tarfile.open(fileobj=hashing, mode="w|", format=tarfile.GNU_FORMAT) as tar:
        for name in sorted(entries):
            kind, *rest = entries[name]
            if kind == "dir":
                _add(tar, name, mode=rest[0])
            elif kind == "data":
                _add(tar, name, rest[0], mode=rest[1])
            elif kind == "link":
                info = _info(name, 0o777)
                info.type = tarfile.SYMTYPE
                info.linkname = rest[0]
                tar.addfile(info)
            else:
                source, mode = rest
                info = _info(name, mode)
                info.size = source.stat().st_size
                with source.open("rb") as data:
                    tar.addfile(info, data)
    return "sha256:" + hashing.digest.hexdigest()


def image_config(image: Image, diff_id: str) -> bytes:
    config = {
        "architecture": "amd64",
        "os": "linux",
        "created": "1970-01-01T00:00:00Z",
        "config": {
            "Entrypoint": list(image.entrypoint),
            "Cmd": list(image.cmd) or None,
            "Env": ["PATH=/usr/local/bin:/usr/bin:/bin", *image.env],
            "User": image.user,
            "WorkingDir": image.workdir,
            "ExposedPorts": {port: {} for port in image.ports} or None,
        },
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [
            {"created": "1970-01-01T00:00:00Z", "created_by": f"oneport sandbox: {', '.join(image.tools())}"}
        ],
    }
    if image.stop_signal:
        config["config"]["StopSignal"] = image.stop_signal
    return json.dumps(config, sort_keys=True, separators=(",", ":")).encode()


def write_archive(name: str, image: Image, find_tool, path: Path) -> None:
    """Write a `docker save`-style archive of one image named `name` (what `ctr images import` reads).

    The layer is streamed through a temporary file, so images of hundreds of megabytes never sit in
    memory; the archive replaces `path` atomically.
    """
    with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
        layer_path = Path(tmp) / "layer.tar"
        with layer_path.open("wb") as fh:
            diff_id = write_layer(layer_entries(image, find_tool), fh)
        config_bytes = image_config(image, diff_id)
        config_name = hashlib.sha256(config_bytes).hexdigest() + ".json"
        layer_name = diff_id.removeprefix("sha256:") + "/layer.tar"
        manifest = [{"Config": config_name, "RepoTags": [name], "Layers": [layer_name]}]
        out = Path(tmp) / "archive.tar"
        with tarfile.open(out, mode="w", format=tarfile.GNU_FORMAT) as tar:
            _add(tar, diff_id.removeprefix("sha256:"), mode=0o755)
            info = _info(layer_name, 0o644)
            info.size = layer_path.stat().st_size
            with layer_path.open("rb") as data:
                tar.addfile(info, data)
            _add(tar, config_name, config_bytes)
            _add(tar, "manifest.json", json.dumps(manifest).encode())
        out.replace(path)


def archive(name: str, image: Image, find_tool) -> bytes:
    """The archive `write_archive` makes, as bytes (for small images and tests)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "image.tar"
        write_archive(name, image, find_tool, path)
        return path.read_bytes()


def fingerprint(name: str, image: Image, find_tool) -> str:
    """What an archive was made from: each tool's installed path and time, each repository file's digest.

    Tools install into versioned directories of the per-user cache and are replaced as a whole, so
    their path and modification time tell a changed tool; archives are rewritten only then.
    """
    tools = []
    for tool in image.tools():
        resolved = Path(find_tool(tool)).resolve()
        stat = resolved.stat()
        tools.append([tool, str(resolved), stat.st_mtime_ns, stat.st_size])
    files = [
        [source, hashlib.sha256((REPO / source).read_bytes()).hexdigest()] for source, _dest in image.files
    ]
    return json.dumps([FORMAT, name, repr(image), tools, files])


def image_id(archive_bytes: bytes) -> str:
    """The image ID (sha256 of its config) of an archive made by `archive`."""
    with tarfile.open(fileobj=io.BytesIO(archive_bytes)) as tar:
        member = tar.extractfile("manifest.json")
        if member is None:
            raise ValueError("manifest.json is not a file")
        manifest = json.load(member)
    return "sha256:" + manifest[0]["Config"].removesuffix(".json")


def normalize(reference: str) -> str:
    """An image reference as containerd and kubelet read it: Docker Hub's domain and `library/` made
    explicit, `latest` when no tag or digest is given (`pachyderm/pachd:2.12.0` is
    `docker.io/pachyderm/pachd:2.12.0`)."""
    name, at, digest = reference.partition("@")
    first = name.split("/", 1)[0]
    if "/" not in name:
        name = f"docker.io/library/{name}"
    elif "." not in first and ":" not in first and first != "localhost":
        name = f"docker.io/{name}"
    if name.startswith("docker.io/") and name.count("/") == 1:
        name = name.replace("docker.io/", "docker.io/library/", 1)
    if not at and ":" not in name.rsplit("/", 1)[-1]:
        name += ":latest"
    return name + at + digest


def catalogue(groups=GROUPS) -> dict[str, Image]:
    """The catalogue's images of `groups`."""
    return {name: image for name, image in CATALOGUE.items() if image.group in groups}


def missing(wanted: list[str] | set[str], groups=GROUPS) -> list[str]:
    """The images among `wanted` the sandbox does not provide with `groups` on, sorted (however each is
    spelled)."""
    provided = {normalize(name) for name in catalogue(groups)}
    return sorted(image for image in set(wanted) if normalize(image) not in provided)


def archive_path(out_dir: Path, name: str) -> Path:
    return out_dir / (name.replace("/", "_").replace(":", "_") + ".tar")


def build_all(find_tool, out_dir: Path, groups=GROUPS) -> dict[str, Path]:
    """Write the archive of every catalogue image of `groups` into `out_dir`, only where what it is made
    from changed.

    Archives of other images are removed, so the node imports only these.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, image in catalogue(groups).items():
        path = archive_path(out_dir, name)
        inputs = fingerprint(name, image, find_tool)
        stamp = path.with_suffix(".inputs")
        if not path.exists() or not stamp.exists() or stamp.read_text() != inputs:
            write_archive(name, image, find_tool, path)
            stamp.write_text(inputs)
        written[name] = path
    for stale in set(out_dir.glob("*.tar")) - set(written.values()):
        stale.unlink()
        stale.with_suffix(".inputs").unlink(missing_ok=True)
    return written
