"""Fixtures for the real-traffic Envoy tests: recording backends, the reference proxy and ours."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness.backends import ConsoleBackend, GrpcBackend, HttpBackend, Recorder  # noqa: E402
from harness.proxies import start_reference  # noqa: E402
from harness.s3 import S3Backend  # noqa: E402


@pytest.fixture(scope="session")
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture(scope="session")
def backends(recorder):
    """One running backend per service behind the proxy, keyed by the chart's cluster names."""
    started = {
        "pachd-grpc": GrpcBackend(recorder).start(),
        "pachd-s3": S3Backend(recorder).start(),
        "pachd-http": HttpBackend(recorder, "pachd-http").start(),
        "pachd-identity": HttpBackend(recorder, "pachd-identity").start(),
        "pachd-oidc": HttpBackend(recorder, "pachd-oidc").start(),
        "pachd-metrics": HttpBackend(recorder, "pachd-metrics").start(),
        "console": ConsoleBackend(recorder).start(),
        "acme-solver": HttpBackend(recorder, "acme-solver").start(),
    }
    yield started
    for backend in started.values():
        backend.stop()


@pytest.fixture(scope="session")
def backend_ports(backends) -> dict[str, int]:
    return {name: backend.port for name, backend in backends.items()}


@pytest.fixture(scope="session")
def reference_proxy(reference_dir, backend_ports, tmp_path_factory):
    """Pachyderm's cleartext envoy.json, pointed at the test backends."""
    proxy = start_reference(reference_dir, backend_ports, tmp_path_factory.mktemp("reference"))
    yield proxy
    proxy.stop()


@pytest.fixture(scope="session")
def traffic(recorder, backends):
    """What the traffic matrix needs: the recorder, the S3 backend, a bucket made directly on it."""
    s3 = backends["pachd-s3"]
    direct = f"http://127.0.0.1:{s3.port}"
    s3.client(direct).create_bucket(Bucket="oneport-matrix")
    return {"recorder": recorder, "s3": s3, "s3_direct": direct, "bucket": "oneport-matrix"}


@pytest.fixture(scope="session")
def our_proxy(backend_ports, tmp_path_factory):
    """Our rendered config (cleartext, legacy ports on), pointed at the test backends."""
    from harness.ours import start_ours

    proxy = start_ours(backend_ports, tmp_path_factory.mktemp("ours"))
    yield proxy
    proxy.stop()


@pytest.fixture(scope="session", params=["reference_proxy", "our_proxy"], ids=["reference", "ours"])
def proxy(request):
    """Each cleartext proxy in turn: Pachyderm's reference config, then ours."""
    return request.getfixturevalue(request.param)
