# Copyright: oneport.pachyderm contributors
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""What the prerequisites role downloads: one URL, sha256 and install step per tool.

Each tool has an upstream base URL and a path below it with the upstream file name. An air-gapped
site sets one mirror URL that replaces every base URL with ``<mirror>/<tool>``, so the mirror holds
the same relative paths as upstream. A tool is never planned without a known sha256 for the exact
version and architecture: the error names the table entry to fill in. Plain Python, no Ansible imports.
"""

from __future__ import annotations

from ansible_collections.oneport.pachyderm.plugins.module_utils import inputs as check
from ansible_collections.oneport.pachyderm.plugins.module_utils.inputs import InputError

# Upstream layout per tool: path below the base URL, the member to install from the archive
# (None: the download is the binary itself), how it is installed and, for a binary, the arguments of
# the version command that shows it runs (plugins/module_utils/tool_check.py).
LAYOUT = {
    "helm": {
        "path": "helm-v{version}-linux-{arch}.tar.gz",
        "member": "linux-{arch}/helm",
        "install": "binary",
        "version_args": ["version", "--short"],
    },
    "helm-diff": {
        "path": "v{version}/helm-diff-linux-{arch}.tgz",
        "member": "diff",
        "install": "helm_plugin",
    },
    "kubectl": {
        "path": "v{version}/bin/linux/{arch}/kubectl",
        "member": None,
        "install": "binary",
        "version_args": ["version", "--client"],
    },
    "pachctl": {
        "path": "v{version}/pachctl_{version}_linux_{arch}.tar.gz",
        "member": "pachctl_{version}_linux_{arch}/pachctl",
        "install": "binary",
        "version_args": ["version", "--client-only"],
    },
}
ARCHITECTURES = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}
URL_SCHEMES = ("https://", "http://", "file://")


class DownloadConfigError(InputError):
    """Bad prerequisites variables; the message names the variable, the value and the fix."""


def architecture(machine):
    """The release architecture (amd64/arm64) for a machine name as Ansible reports it."""
    arch = ARCHITECTURES.get(str(machine).lower())
    if arch is None:
        raise DownloadConfigError(
            f"prerequisites_architecture: {machine!r} has no release builds here; the tools are "
            f"published for {', '.join(sorted(set(ARCHITECTURES)))} (set prerequisites_architecture "
            "to one of them if detection picked the wrong value)"
        )
    return arch


def check_url(url, variable):
    if not isinstance(url, str) or not url.startswith(URL_SCHEMES) or len(url) <= len("file://"):
        raise DownloadConfigError(
            f"{variable}: {url!r} is not an http://, https:// or file:// URL; "
            "write e.g. https://mirror.example.com/oneport or file:///srv/mirror"
        )
    return url.rstrip("/")


def plan_tool(name, config, arch):
    """The download and install step for one tool."""
    if name not in LAYOUT:
        raise DownloadConfigError(
            f"prerequisites_tools: {name!r} is not a tool this role installs; choose from {', '.join(LAYOUT)}"
        )
    layout = LAYOUT[name]
    version = str((config.get("versions") or {}).get(name) or "").lstrip("v")
    if not version:
        raise DownloadConfigError(f"prerequisites_versions.{name}: missing; set the version to install")
    mirror = config.get("mirror_url") or ""
    if mirror:
        base = check_url(mirror, "prerequisites_mirror_url") + "/" + name
    else:
        base = check_url((config.get("base_urls") or {}).get(name), f"prerequisites_base_urls.{name}")
    fill = {"version": version, "arch": arch}
    path = layout["path"].format(**fill)
    checksum = (((config.get("checksums") or {}).get(name) or {}).get(version) or {}).get(arch) or ""
    entry = f"prerequisites_checksums['{name}']['{version}']['{arch}']"
    if not checksum:
        raise DownloadConfigError(
            f"{entry}: no sha256 known for {name} {version} on {arch}; refusing to install it "
            f"unverified. Add the sha256 of {path.rsplit('/', 1)[-1]} (published beside the upstream "
            f"download) to prerequisites_checksums, or leave {name} out of prerequisites_tools"
        )
    checksum = str(checksum).lower()
    if checksum.startswith("sha256:"):
        checksum = checksum[len("sha256:") :]
    check.sha256(checksum, entry, DownloadConfigError, fix="give the 64 hex digits (sha256sum)")
    member = layout["member"].format(**fill) if layout["member"] else None
    return {
        "name": name,
        "version": version,
        "arch": arch,
        "url": f"{base}/{path}",
        "file": path.rsplit("/", 1)[-1],
        "checksum": f"sha256:{checksum}",
        "checksum_variable": entry,
        "member": member,
        "install": layout["install"],
    }


def plan(config):
    """The download plan for ``config`` (tools, versions, base_urls, mirror_url, checksums, architecture).

    With ``install`` false nothing is downloaded: only the tool names and install kinds are returned,
    for the checks that the tools already present run.
    """
    tools = config.get("tools")
    if not isinstance(tools, list) or not tools:
        raise DownloadConfigError(
            f"prerequisites_tools: {tools!r} is not a non-empty list; e.g. [helm, helm-diff, kubectl]"
        )
    if "helm-diff" in tools and "helm" not in tools:
        raise DownloadConfigError("prerequisites_tools: helm-diff is a helm plugin; install helm with it")
    if config.get("install") is False:
        unknown = [name for name in tools if name not in LAYOUT]
        if unknown:
            raise DownloadConfigError(
                f"prerequisites_tools: {unknown[0]!r} is not a tool this role knows; "
                f"choose from {', '.join(LAYOUT)}"
            )
        return [{"name": name, "install": LAYOUT[name]["install"]} for name in tools]
    arch = architecture(config.get("architecture") or "")
    return [plan_tool(name, config, arch) for name in tools]
