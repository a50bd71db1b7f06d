"""Assemble the fixture charts into .build/charts/<name> with the vendor data they honour.

The vendor charts cannot be downloaded here. Our fixture charts (tests/fixtures/charts/) carry our own
templates (stored as templates/*.yaml.tmpl, renamed to *.yaml here); this copies them and adds the
real data from the shared reference directory:
- pachyderm: the chart's real values.yaml and values.schema.json, so helm validates values against
  the real schema;
- metallb, cert-manager: the real CRDs, under files/crds/, which the fixture templates install.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent
FIXTURES = REPO / "tests" / "fixtures" / "charts"
CHARTS = ("pachyderm", "metallb", "cert-manager")


def reference_dir() -> Path:
    """The shared reference data, found the one way the tests find it (tests/conftest.py)."""
    spec = importlib.util.spec_from_file_location("_oneport_tests_conftest", REPO / "tests" / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.find_reference_dir()


def charts_dir() -> Path:
    return Path(os.environ.get("ONEPORT_CHARTS_DIR", REPO / ".build" / "charts"))


def _extra_files(name: str, reference: Path) -> dict[str, Path]:
    """{path inside the chart: source file} of the vendor data a fixture chart carries."""
    if name == "pachyderm":
        return {
            "values.yaml": reference / "pachyderm" / "values.yaml",
            "values.schema.json": reference / "pachyderm" / "values.schema.json",
        }
    crd_dir = {"metallb": "metallb-v0.16.1", "cert-manager": "cert-manager-v1.21.1"}[name]
    return {f"files/crds/{p.name}": p for p in sorted((reference / "crds" / crd_dir).glob("*.yaml"))}


def build_chart(name: str, dest_root: Path | None = None, reference: Path | None = None) -> Path:
    """Build one chart into dest_root/name (atomically: a half-built chart is never seen)."""
    dest_root = Path(dest_root or charts_dir())
    reference = Path(reference or reference_dir())
    source = FIXTURES / name
    if not (source / "Chart.yaml").is_file():
        raise FileNotFoundError(f"no fixture chart {name!r} under {FIXTURES}")
    dest_root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=dest_root))
    try:
        shutil.copytree(source, staging, dirs_exist_ok=True, ignore=shutil.ignore_patterns("README*"))
        # Templates are kept as *.yaml.tmpl: Go templates are not YAML, and YAML linters read *.yaml.
        for template in staging.glob("templates/*.tmpl"):
            template.rename(template.with_suffix(""))
        for rel, src in _extra_files(name, reference).items():
            if not src.is_file():
                raise FileNotFoundError(f"reference file {src} is missing (ONEPORT_REFERENCE_DIR?)")
            target = staging / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, target)
        final = dest_root / name
        old = None
        if final.exists():
            old = dest_root / f".{name}.old"
            shutil.rmtree(old, ignore_errors=True)
            os.replace(final, old)
        os.replace(staging, final)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        return final
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def build_all(dest_root: Path | None = None) -> dict[str, Path]:
    return {name: build_chart(name, dest_root) for name in CHARTS}
