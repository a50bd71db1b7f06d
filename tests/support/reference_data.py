"""The reference data the tests check against, found without machine paths.

`$ONEPORT_REFERENCE_DIR`, else `../shared/reference` beside the checkout. Without either, the same
layout is assembled from the real charts themselves (fetched once into the per-user cache by
`tools.sandbox.chart_repo`): the Pachyderm chart's values, schema and Envoy files, and the CRDs
that the MetalLB and cert-manager charts install.
"""

from __future__ import annotations

import subprocess
import tarfile
from pathlib import Path

import yaml

from tools.sandbox import chart_repo

PACHYDERM_FILES = (
    "Chart.yaml",
    "values.yaml",
    "values.schema.json",
    "envoy.json",
    "envoy-tls.json",
    "envoy-sds.yaml",
)
# folder under crds/ -> (chart, version, helm template arguments, the CRD groups it holds)
CRD_CHARTS = {
    "metallb-v0.16.1": ("metallb", "0.16.1", [], {"metallb.io"}),
    "cert-manager-v1.21.1": (
        "cert-manager",
        "v1.21.1",
        ["--set", "crds.enabled=true"],
        {"cert-manager.io", "acme.cert-manager.io"},
    ),
}


def assemble_from_charts(dest: Path, helm: str = "helm") -> Path:
    """Lay out the reference data from the real charts (the chart repository's content) in dest."""
    charts = chart_repo.charts_source()
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "charts").symlink_to(charts, target_is_directory=True)
    pachyderm = dest / "pachyderm"
    pachyderm.mkdir(parents=True)
    with tarfile.open(chart_repo.archive(charts, "pachyderm", "2.12.0")[0]) as archive:
        for name in PACHYDERM_FILES:
            member = archive.extractfile(f"pachyderm/{name}")
            (pachyderm / name).write_bytes(member.read())
    for folder, (chart, version, args, groups) in CRD_CHARTS.items():
        rendered = subprocess.run(
            [helm, "template", "crds", str(chart_repo.archive(charts, chart, version)[0]), *args],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        out = dest / "crds" / folder
        out.mkdir(parents=True)
        for doc in yaml.safe_load_all(rendered):
            if doc and doc["kind"] == "CustomResourceDefinition" and doc["spec"]["group"] in groups:
                name = f"{doc['spec']['group']}_{doc['spec']['names']['plural']}.yaml"
                (out / name).write_text(yaml.safe_dump(doc, sort_keys=False))
    return dest
