"""Run the quality gates and test suites of `make test`, one stage after the other.

Every stage runs even when an earlier one failed, so one run shows everything that is wrong. Each
non-pytest gate counts as one test; pytest stages count their own tests (read from JUnit XML). The
run ends with one line, `summary: N passed, N failed`, and exits non-zero if anything failed.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "tests" / "output"


@dataclass
class Stage:
    name: str
    group: str
    commands: list = field(default_factory=list)
    junit: bool = False
    runner: object = None


def run(cmd, **kwargs) -> int:
    print("    $ " + " ".join(str(c) for c in cmd), flush=True)
    return subprocess.run(cmd, cwd=kwargs.pop("cwd", ROOT), check=False, **kwargs).returncode


def pytest_stage(name: str, group: str, paths: list, extra=()) -> Stage:
    xml = OUTPUT / f"junit-{group}.xml"
    cmd = [sys.executable, "-m", "pytest", *paths, "-q", "-ra", f"--junitxml={xml}", *extra]
    return Stage(name=name, group=group, commands=[cmd], junit=True)


def install_pip_bootstrap(ansible_test_dir: Path) -> None:
    """Put our pip bootstrap where ansible-test looks for its cached download (see the script's docstring)."""
    source = (ansible_test_dir / "_util" / "target" / "setup" / "requirements.py").read_text()
    pip_version = re.search(
        r"\bpip='([^']+)'", (ansible_test_dir / "_internal" / "python_requirements.py").read_text()
    )
    if "get_pip_%s.py" not in source or pip_version is None:
        raise SystemExit("ansible-test changed how it bootstraps pip: update tools/testrun.py")
    cache = Path.home() / ".ansible" / "test" / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    target = cache / f"get_pip_{pip_version.group(1).replace('.', '_')}.py"
    shutil.copyfile(ROOT / "tools" / "ansible_test_get_pip.py", target)


def cache_dir() -> Path:
    return Path(os.environ.get("ONEPORT_CACHE", Path.home() / ".cache" / "oneport"))


def cached_venv(venv: Path, install: list[str], purpose: str) -> str:
    """The Python of a virtual environment in the per-user cache, created with ``pip install *install`` once.

    A lock beside it keeps two runs from building the same environment at once; a half-built one
    (no ``.complete``) is built again.
    """
    python = venv / "bin" / "python"
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(venv.parent / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (venv / ".complete").exists():
            return str(python)
        print(f"    creating the {purpose} environment {venv} (first run only)", flush=True)
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", *install], check=True)
        (venv / ".complete").touch()
    return str(python)


def sanity_python() -> str:
    """A Python environment with ansible-core and every sanity test's pinned requirements.

    ansible-test's --venv mode bootstraps pip from a host this machine cannot reach, so the sanity
    requirements that ansible-core ships are installed once into their own environment in the cache,
    and the tests run there with --local.
    """
    from importlib.metadata import version

    import ansible_test

    core = version("ansible-core")
    install_pip_bootstrap(Path(ansible_test.__file__).parent)
    python_version = f"{sys.version_info.major}.{sys.version_info.minor}"
    venv = cache_dir() / "sanity-venv" / f"ansible-core-{core}-py{python_version}"
    requirements = sorted(
        (Path(ansible_test.__file__).parent / "_data" / "requirements").glob("sanity.*.txt")
    )
    install = [f"ansible-core=={core}"]
    for req in requirements:
        install += ["-r", str(req)]
    return cached_venv(venv, install, "sanity")


def tracked_files(root: Path) -> list[str]:
    """The checkout's files as git sees them (tracked, and new ones it does not ignore), relative."""
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=root,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return [line for line in out.splitlines() if (root / line).is_file()]


def sanity() -> int:
    """ansible-test wants the collection at ansible_collections/<ns>/<name>: copy the tracked files."""
    with tempfile.TemporaryDirectory(prefix="oneport-sanity-") as tmp:
        dest = Path(tmp) / "ansible_collections" / "oneport" / "pachyderm"
        for rel in tracked_files(ROOT):
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, target)
        # ansible-test lists files through git when it sees a repository.
        subprocess.run(["git", "init", "-q"], cwd=dest, check=True)
        subprocess.run(["git", "add", "-A"], cwd=dest, check=True)
        env = dict(os.environ)
        env.pop("PYTHONPATH", None)
        env.pop("ANSIBLE_COLLECTIONS_PATH", None)
        env.pop("ANSIBLE_CONFIG", None)
        python = sanity_python()
        env["PATH"] = os.pathsep.join([str(Path(python).parent), env["PATH"]])
        return run(
            [
                str(Path(python).parent / "ansible-test"),
                "sanity",
                "--local",
                "--python",
                f"{sys.version_info.major}.{sys.version_info.minor}",
                "--color",
                "no",
            ],
            cwd=dest,
            env=env,
        )


def galaxy_build() -> int:
    dist = ROOT / "dist"
    shutil.rmtree(dist, ignore_errors=True)
    rc = run(["ansible-galaxy", "collection", "build", "--force", "--output-path", str(dist)])
    if rc:
        return rc
    return run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "tests/unit/test_collection_build.py",
            f"--junitxml={OUTPUT / 'junit-build.xml'}",
        ]
    )


GALAXY_IMPORTER_REQUIREMENTS = ROOT / "requirements-galaxy-importer.txt"


def galaxy_importer_python() -> str:
    """galaxy-importer in an environment of its own (it pins attrs<24, the development one cannot).

    Created once per requirements file and Python version in the per-user cache, as the sanity one.
    """
    key = hashlib.sha256(GALAXY_IMPORTER_REQUIREMENTS.read_bytes() + sys.version.encode()).hexdigest()[:16]
    venv = cache_dir() / "galaxy-importer-venv" / key
    return cached_venv(venv, ["-r", str(GALAXY_IMPORTER_REQUIREMENTS)], "galaxy-importer")


def importer_errors(output: str) -> list[str]:
    """The ERROR and CRITICAL lines of galaxy-importer's log (it exits 0 when only they report a failure)."""
    return [line for line in output.splitlines() if line.startswith(("ERROR:", "CRITICAL:"))]


def galaxy_importer() -> int:
    """galaxy-importer on the built tarball, as Galaxy and Automation Hub check an upload.

    Its settings are tools/galaxy-importer.cfg (its ansible-lint run is off: `make lint` runs
    ansible-lint). The stage fails when the import fails or its log has an ERROR line; its log is
    kept in tests/output/galaxy-importer.log.
    """
    tarballs = sorted((ROOT / "dist").glob("oneport-pachyderm-*.tar.gz"))
    if len(tarballs) != 1:
        print(f"    {len(tarballs)} collection tarballs in dist/, not one: the build stage makes it")
        return 1
    python = galaxy_importer_python()
    env = dict(os.environ)
    for name in ("PYTHONPATH", "ANSIBLE_COLLECTIONS_PATH", "ANSIBLE_CONFIG"):
        env.pop(name, None)
    # Its ansible-doc is the one of its own environment.
    env["PATH"] = os.pathsep.join([str(Path(python).parent), env["PATH"]])
    env["GALAXY_IMPORTER_CONFIG"] = str(ROOT / "tools" / "galaxy-importer.cfg")
    with tempfile.TemporaryDirectory(prefix="oneport-galaxy-importer-") as tmp:
        env["GALAXY_IMPORTER_ANSIBLE_LOCAL_TMP"] = str(Path(tmp) / "ansible-tmp")
        env["GALAXY_IMPORTER_TMP_ROOT_DIR"] = tmp
        cmd = [python, "-m", "galaxy_importer.main", str(tarballs[0])]
        print("    $ " + " ".join(cmd), flush=True)
        # Run in the scratch directory: it writes importer_result.json into the working directory.
        proc = subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True, check=False)
    output = proc.stdout + proc.stderr
    (OUTPUT / "galaxy-importer.log").write_text(output)
    for line in output.splitlines():
        if not line.startswith("Loading "):
            print(f"    {line}", flush=True)
    errors = importer_errors(output)
    if errors:
        print(f"    galaxy-importer logged {len(errors)} error(s); its log: tests/output/galaxy-importer.log")
        return 1
    return proc.returncode


def collection_docs() -> int:
    """antsibull-docs' checks of every plugin's and role's documentation, as docs.ansible.com builds it."""
    collection = ROOT / ".build" / "collections" / "ansible_collections" / "oneport" / "pachyderm"
    return run(["antsibull-docs", "lint-collection-docs", "--plugin-docs", "."], cwd=collection)


def molecule_sandbox() -> int:
    """The sandbox scenario, on a sandbox of its own (a running `make cluster-up` one is left alone)."""
    state = ROOT / ".build" / "molecule" / "sandbox"
    env = dict(os.environ, ONEPORT_SANDBOX_DIR=str(state), K8S_AUTH_KUBECONFIG=str(state / "kubeconfig"))
    return run(["molecule", "test", "-s", "sandbox"], env=env)


STAGES = [
    Stage("yamllint", "lint", [["yamllint", "--strict", "."]]),
    Stage("ruff check", "lint", [["ruff", "check", "."]]),
    Stage("ruff format --check", "lint", [["ruff", "format", "--check", "."]]),
    Stage("ansible-lint (production profile)", "lint", [["ansible-lint", "--profile", "production"]]),
    Stage("antsibull-docs lint-collection-docs", "lint", runner=collection_docs),
    Stage("ansible-test sanity", "sanity", runner=sanity),
    Stage("ansible-galaxy collection build", "build", runner=galaxy_build),
    Stage("galaxy-importer", "build", runner=galaxy_importer),
    pytest_stage("unit tests", "unit", ["tests/unit"], ["--ignore=tests/unit/test_collection_build.py"]),
    pytest_stage("integration tests", "integration", ["tests/integration"]),
    Stage("molecule test -s sandbox", "molecule", runner=molecule_sandbox),
]


def junit_counts(path: Path) -> tuple[int, int, dict[str, int]]:
    """(passed, failed, {skip reason: count}) from a pytest JUnit report."""
    if not path.exists():
        return 0, 0, {}
    root = ET.parse(path).getroot()  # noqa: S314 - our own pytest wrote it
    suites = [root] if root.tag == "testsuite" else list(root)
    total = failed = 0
    skips: dict[str, int] = {}
    for suite in suites:
        total += int(suite.get("tests", 0))
        failed += int(suite.get("failures", 0)) + int(suite.get("errors", 0))
        for skipped in suite.iter("skipped"):
            reason = skipped.get("message", "").removeprefix("Skipped: ") or "no reason given"
            skips[reason] = skips.get(reason, 0) + 1
    return total - failed - sum(skips.values()), failed, skips


def prepare_environment() -> None:
    """The same environment the Makefile exports, for a direct `python tools/testrun.py`."""
    venv_bin = str(Path(sys.executable).parent)
    path = os.environ.get("PATH", "").split(os.pathsep)
    os.environ["PATH"] = os.pathsep.join([str(ROOT / "bin"), venv_bin, *path])
    collections = str(ROOT / ".build" / "collections")
    os.environ.setdefault("ANSIBLE_COLLECTIONS_PATH", collections)
    os.environ.setdefault("PYTHONPATH", collections)
    os.environ.setdefault("ANSIBLE_CONFIG", str(ROOT / "ansible.cfg"))
    os.environ.setdefault("ANSIBLE_HOME", str(ROOT / ".build" / "ansible-home"))
    os.environ.setdefault("HELM_PLUGINS", str(ROOT / ".build" / "helm" / "plugins"))


def main(argv=None) -> int:
    prepare_environment()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", action="append", help="run only these groups")
    args = parser.parse_args(argv)
    OUTPUT.mkdir(parents=True, exist_ok=True)
    stages = [s for s in STAGES if not args.only or s.group in args.only]

    passed = failed = 0
    failures = []
    skips: dict[str, int] = {}
    started = time.monotonic()
    for index, stage in enumerate(stages, 1):
        print(f"\n==> [{index}/{len(stages)}] {stage.name}", flush=True)
        t0 = time.monotonic()
        if stage.runner is not None:
            rc = stage.runner()
        else:
            rc = 0
            for cmd in stage.commands:
                rc = rc or run(cmd)
        took = time.monotonic() - t0
        if stage.junit:
            ok, bad, stage_skips = junit_counts(OUTPUT / f"junit-{stage.group}.xml")
            for reason, count in stage_skips.items():
                skips[reason] = skips.get(reason, 0) + count
            if rc and not bad:
                bad = 1  # collection errors or a crash before any test ran
            passed, failed = passed + ok, failed + bad
        else:
            passed, failed = passed + (rc == 0), failed + (rc != 0)
        status = "ok" if rc == 0 else f"FAILED (exit {rc})"
        if rc:
            failures.append(stage.name)
        print(f"<== {stage.name}: {status} in {took:.0f}s", flush=True)

    print(f"\nstages run in {time.monotonic() - started:.0f}s", flush=True)
    if failures:
        print("failed stages: " + ", ".join(failures), flush=True)
    for reason, count in sorted(skips.items()):
        print(f"skipped {count}: {reason}", flush=True)
    print(f"summary: {passed} passed, {failed} failed, {sum(skips.values())} skipped", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
