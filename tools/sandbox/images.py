"""Container images for the sandbox's real node, built from binaries built here: no registry, no pull.

Each image is a `docker save`-style archive (manifest.json naming the image in RepoTags, a config whose
`rootfs.diff_ids` lists the layer digests, one uncompressed layer tar) that `ctr images import` takes as
it is. The layer holds the static binary and the few files a process expects (/etc/passwd, /tmp).
Archives are deterministic (fixed times, owners and order), so the same binary gives the same image ID.

CATALOGUE maps every image name the sandbox can provide to how it is made. A pod that asks for any
other image is refused by `missing()` with the image's name, before kubelet would try a pull that can
never succeed here.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

# The pause image kubelet 1.32 and containerd's `sandbox_image` name.
PAUSE_IMAGE = "registry.k8s.io/pause:3.10"
PROBE_IMAGE = "oneport.local/sandbox/probe:1.0.0"
COREDNS_IMAGE = "registry.k8s.io/coredns/coredns:v1.12.1"
# The MetalLB chart's images (its appVersion tag), as the chart names them.
METALLB_CONTROLLER_IMAGE = "quay.io/metallb/controller:v0.16.1"
METALLB_SPEAKER_IMAGE = "quay.io/metallb/speaker:v0.16.1"

PASSWD = b"root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n"
GROUP = b"root:x:0:\nnogroup:x:65534:\n"
NSSWITCH = b"hosts: files dns\n"


@dataclass(frozen=True)
class Image:
    """One image: the sandbox tool whose binary it carries, where, and how the container starts."""

    binary: str  # a tool of tools/tools.yml, found in the checkout's bin/
    path: str  # the binary's path in the image
    entrypoint: tuple[str, ...]
    cmd: tuple[str, ...] = ()
    user: str = ""
    ports: tuple[str, ...] = field(default=())


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
}


def _add(tar: tarfile.TarFile, name: str, data: bytes | None = None, mode: int = 0o644) -> None:
    info = tarfile.TarInfo(name.lstrip("/"))
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    if data is None:
        info.type = tarfile.DIRTYPE
        info.mode = mode
        tar.addfile(info)
        return
    info.size = len(data)
    info.mode = mode
    tar.addfile(info, io.BytesIO(data))


def layer(image: Image, binary: bytes) -> bytes:
    """The image's one layer: its binary plus the files every process may look for."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        dirs = {"etc", "tmp"}
        parent = str(Path(image.path).parent).lstrip("/")
        while parent and parent != ".":
            dirs.add(parent)
            parent = str(Path(parent).parent)
        for name in sorted(dirs):
            _add(tar, name, mode=0o1777 if name == "tmp" else 0o755)
        _add(tar, "etc/passwd", PASSWD)
        _add(tar, "etc/group", GROUP)
        _add(tar, "etc/nsswitch.conf", NSSWITCH)
        _add(tar, image.path, binary, mode=0o755)
    return buf.getvalue()


def archive(name: str, image: Image, binary: bytes) -> bytes:
    """A `docker save`-style archive of one image named `name` (what `ctr images import` reads)."""
    layer_tar = layer(image, binary)
    diff_id = "sha256:" + hashlib.sha256(layer_tar).hexdigest()
    config = {
        "architecture": "amd64",
        "os": "linux",
        "created": "1970-01-01T00:00:00Z",
        "config": {
            "Entrypoint": list(image.entrypoint),
            "Cmd": list(image.cmd) or None,
            "Env": ["PATH=/usr/local/bin:/usr/bin:/bin"],
            "User": image.user,
            "WorkingDir": "/",
            "ExposedPorts": {port: {} for port in image.ports} or None,
        },
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": "1970-01-01T00:00:00Z", "created_by": f"oneport sandbox: {image.binary}"}],
    }
    config_bytes = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
    config_name = hashlib.sha256(config_bytes).hexdigest() + ".json"
    layer_name = diff_id.removeprefix("sha256:") + "/layer.tar"
    manifest = [{"Config": config_name, "RepoTags": [name], "Layers": [layer_name]}]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        _add(tar, diff_id.removeprefix("sha256:"), mode=0o755)
        _add(tar, layer_name, layer_tar)
        _add(tar, config_name, config_bytes)
        _add(tar, "manifest.json", json.dumps(manifest).encode())
    return buf.getvalue()


def image_id(archive_bytes: bytes) -> str:
    """The image ID (sha256 of its config) of an archive made by `archive`."""
    with tarfile.open(fileobj=io.BytesIO(archive_bytes)) as tar:
        member = tar.extractfile("manifest.json")
        if member is None:
            raise ValueError("manifest.json is not a file")
        manifest = json.load(member)
    return "sha256:" + manifest[0]["Config"].removesuffix(".json")


def missing(wanted: list[str] | set[str]) -> list[str]:
    """The images among `wanted` the sandbox cannot provide, sorted."""
    return sorted(set(wanted) - set(CATALOGUE))


def build_all(find_binary, out_dir: Path) -> dict[str, Path]:
    """Write every catalogue image's archive into `out_dir` (rewritten only when it changed)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, image in CATALOGUE.items():
        data = archive(name, image, Path(find_binary(image.binary)).read_bytes())
        path = out_dir / (name.replace("/", "_").replace(":", "_") + ".tar")
        if not path.exists() or path.read_bytes() != data:
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(data)
            tmp.replace(path)
        written[name] = path
    return written
