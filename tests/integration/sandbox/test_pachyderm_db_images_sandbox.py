"""The Pachyderm chart's database, etcd and proxy pods on the sandbox's real node, from images packed here.

The real chart (2.12.0) is rendered with `helm template` and only its PostgreSQL (the Bitnami
subchart), pgbouncer, etcd and proxy objects are applied, unchanged, into a namespace of their own:
the rest (pachd, console, Loki) is left out. The proxy runs the image the pachyderm role asks for with
the chart's own envoy.json. The module brings up a sandbox of its own with Pachyderm's pods real.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from support.kubectl import kubectl, kubectl_json, kubectl_out, on_cluster
from support.paths import bin_tool
from support.sandboxes import running

from tools.sandbox import Sandbox, images, node

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="the real node needs root (network and mount namespaces)"),
]

NS = "db-images"
PASSWORD = "sandbox-db-password"
TEMPLATES = (
    "charts/postgresql/templates/secrets.yaml",
    "charts/postgresql/templates/initialization-configmap.yaml",
    "charts/postgresql/templates/svc.yaml",
    "charts/postgresql/templates/svc-headless.yaml",
    "charts/postgresql/templates/statefulset.yaml",
    "templates/pgbouncer/deployment.yaml",
    "templates/pgbouncer/service.yaml",
    "templates/etcd/statefulset.yaml",
    "templates/etcd/service.yaml",
    "templates/etcd/headless-service.yaml",
    "templates/proxy/configmap.yaml",
    "templates/proxy/deployment.yaml",
)
ROLLOUTS = ("statefulset/postgres", "statefulset/etcd", "deployment/pg-bouncer", "deployment/pachyderm-proxy")


@pytest.fixture(scope="module")
def real_pachyderm(tmp_path_factory):
    """A sandbox of the module's own whose real node runs the Pachyderm chart's pods (the session's
    keeps them on kwok's node)."""
    root = Path(tmp_path_factory.mktemp("dbimages"))
    with running(Sandbox(root, node_mode="real", pachyderm="real")) as box:
        yield box


@pytest.fixture(scope="module")
def database_pods(real_pachyderm, reference_dir):
    sandbox = real_pachyderm
    values = [
        "deployTarget=LOCAL",
        f"global.postgresql.postgresqlPassword={PASSWORD}",
        f"global.postgresql.postgresqlPostgresPassword={PASSWORD}-postgres",
        "proxy.enabled=true",
        "proxy.host=pachyderm.sandbox.test",
        "proxy.image.repository=envoyproxy/envoy",
        f"proxy.image.tag=distroless-v{images.ENVOY_VERSION}",
    ]
    rendered = on_cluster(
        sandbox,
        str(bin_tool("helm")),
        "template",
        "pachyderm",
        str(reference_dir / "charts" / "pachyderm-2.12.0.tgz"),
        "--namespace",
        NS,
        *(arg for value in values for arg in ("--set", value)),
        *(arg for template in TEMPLATES for arg in ("--show-only", template)),
        check=True,
    ).stdout
    kubectl(sandbox, "create", "namespace", NS, check=True)
    try:
        kubectl(sandbox, "apply", "-n", NS, "-f", "-", stdin=rendered, check=True)
        for rollout in ROLLOUTS:
            kubectl(
                sandbox, "rollout", "status", "-n", NS, rollout, "--timeout=180s", check=True, timeout=200
            )
        yield sandbox
    finally:
        kubectl(sandbox, "delete", "namespace", NS, "--wait=true", "--timeout=120s", timeout=150)


def exec_in_pgbouncer(box, script: str) -> str:
    return kubectl_out(box, "exec", "-n", NS, "deployment/pg-bouncer", "--", "/bin/bash", "-c", script)


def test_every_pod_runs_on_the_real_node_and_is_ready(database_pods):
    pods = kubectl_json(database_pods, "get", "pods", "-n", NS)["items"]
    assert len(pods) == len(ROLLOUTS)
    for pod in pods:
        assert pod["spec"]["nodeName"] == node.NODE_NAME
        ready = {c["type"]: c["status"] for c in pod["status"]["conditions"]}["Ready"]
        assert ready == "True", pod["metadata"]["name"]


def test_postgres_initialised_the_dex_database_and_pgbouncer_forwards_to_it(database_pods):
    query = (
        f"PGPASSWORD={PASSWORD} psql -h pg-bouncer.{NS}.svc.cluster.local -p 5432 -U pachyderm -d dex "
        "-Atc 'select current_database(), current_user'"
    )
    assert exec_in_pgbouncer(database_pods, query).strip() == "dex|pachyderm"


def test_postgres_refuses_a_wrong_password(database_pods):
    result = kubectl(
        database_pods,
        "exec",
        "-n",
        NS,
        "statefulset/postgres",
        "--",
        "/bin/sh",
        "-c",
        "PGPASSWORD=wrong psql -h 127.0.0.1 -U pachyderm -d pachyderm -c 'select 1'",
    )
    assert result.returncode != 0
    assert "password authentication failed" in result.stderr


def test_etcd_answers_its_health_check(database_pods):
    # pgbouncer's image has bash, whose /dev/tcp speaks plain HTTP/1.0 to etcd's client port.
    response = exec_in_pgbouncer(
        database_pods,
        f"exec 3<>/dev/tcp/etcd.{NS}.svc.cluster.local/2379; "
        "printf 'GET /health HTTP/1.0\\r\\n\\r\\n' >&3; cat <&3",
    )
    assert response.startswith("HTTP/1.0 200")
    assert '"health":"true"' in response


def test_a_restarted_postgres_keeps_its_databases_without_initialising_again(database_pods):
    before = kubectl_json(database_pods, "get", "pod", "-n", NS, "postgres-0")["metadata"]["uid"]
    kubectl(database_pods, "delete", "pod", "-n", NS, "postgres-0", "--wait=true", check=True)
    deadline = time.monotonic() + 120
    while True:  # the StatefulSet makes a new postgres-0; wait for it to be Ready
        ready = kubectl(
            database_pods, "wait", "-n", NS, "--for=condition=Ready", "pod/postgres-0", "--timeout=5s"
        )
        if ready.returncode == 0 or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert ready.returncode == 0, ready.stderr
    assert kubectl_json(database_pods, "get", "pod", "-n", NS, "postgres-0")["metadata"]["uid"] != before
    log = kubectl_out(database_pods, "logs", "-n", NS, "postgres-0")
    assert "initialising" not in log
    query = f"PGPASSWORD={PASSWORD} psql -h pg-bouncer -p 5432 -U pachyderm -d dex -Atc 'select 1'"
    assert exec_in_pgbouncer(database_pods, query).strip() == "1"
