"""Fixtures for the real-traffic Envoy tests: recording backends, the reference proxy and ours."""

from __future__ import annotations

from functools import partial

import pytest
from support.backends import ConsoleBackend, GrpcBackend, HttpBackend, Recorder
from support.envoy import Envoy
from support.proxy import start_reference
from support.s3 import S3Backend


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """On failure, show the end of every running Envoy's log next to the test's output."""
    report = yield
    if report.failed:
        for envoy in sorted(Envoy.running, key=lambda e: e.name):
            report.sections.append((f"envoy log: {envoy.name}", envoy.log(tail=4000)))
    return report


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
    from support.proxy.ours import start_ours

    proxy = start_ours(backend_ports, tmp_path_factory.mktemp("ours"))
    yield proxy
    proxy.stop()


@pytest.fixture(scope="session", params=["reference_proxy", "our_proxy"], ids=["reference", "ours"])
def proxy(request):
    """Each cleartext proxy in turn: Pachyderm's reference config, then ours."""
    return request.getfixturevalue(request.param)


@pytest.fixture(scope="session")
def test_ca():
    from support.certs import TestCA

    return TestCA()


def _tls_proxy(test_ca, tmp_path_factory, name: str, start):
    """start(tls_dir) with a certificate from the test CA in a kubelet-style directory of its own."""
    from support.certs import install_pair

    tls_dir = tmp_path_factory.mktemp(f"{name}-certs")
    cert, key, serial = test_ca.issue()
    install_pair(tls_dir, cert, key)
    proxy = start(tls_dir)
    proxy.tls_dir, proxy.serial = tls_dir, serial
    return proxy


@pytest.fixture(scope="session")
def tls_traffic(traffic, test_ca, tmp_path_factory):
    """The traffic context for TLS proxies: the test CA as file, PEM and ssl context."""
    from support.proxy.traffic import tls_context

    ca_file = test_ca.write_ca(tmp_path_factory.mktemp("ca"))
    return {
        **traffic,
        "ca_file": str(ca_file),
        "ca_pem": test_ca.pem,
        "ssl_context": tls_context(test_ca.pem, alpn=None),
    }


@pytest.fixture(scope="session")
def reference_tls_proxy(reference_dir, backend_ports, test_ca, tmp_path_factory):
    """Pachyderm's envoy-tls.json with its certificate from a kubelet-style directory."""
    workdir = tmp_path_factory.mktemp("reference-tls")
    start = partial(start_reference, reference_dir, backend_ports, workdir)
    proxy = _tls_proxy(test_ca, tmp_path_factory, "reference-tls", start)
    yield proxy
    proxy.stop()


@pytest.fixture(scope="session")
def our_tls_proxy(backend_ports, test_ca, tmp_path_factory):
    """Our config with TLS on, legacy ports with TLS, and the ACME solver on port 80."""
    from support.proxy.ours import start_ours

    workdir = tmp_path_factory.mktemp("ours-tls")
    proxy = _tls_proxy(test_ca, tmp_path_factory, "ours-tls", partial(start_ours, backend_ports, workdir))
    yield proxy
    proxy.stop()


@pytest.fixture(scope="session", params=["reference_tls_proxy", "our_tls_proxy"], ids=["reference", "ours"])
def tls_proxy(request):
    """Each TLS proxy in turn: Pachyderm's envoy-tls.json, then ours."""
    return request.getfixturevalue(request.param)


# The in-cluster proxy as the pachyderm role deploys it (tests/support/proxy/deployed.py).
@pytest.fixture(scope="session")
def deployed_proxy(reference_dir, backend_ports, tmp_path_factory):
    """The role's in-cluster configuration (cleartext, legacy ports on), pointed at the test backends."""
    from support.proxy.deployed import deployed_files, start_deployed

    files = deployed_files(reference_dir, tmp_path_factory.mktemp("deployed-render"), tls=False)
    proxy = start_deployed(files, backend_ports, tmp_path_factory.mktemp("deployed"))
    proxy.files = files
    yield proxy
    proxy.stop()


@pytest.fixture(scope="session")
def deployed_tls_proxy(reference_dir, backend_ports, test_ca, tmp_path_factory):
    """The role's in-cluster configuration with TLS from the Secret's mount, ACME, legacy ports with TLS."""
    from support.proxy.deployed import deployed_files, start_deployed

    files = deployed_files(reference_dir, tmp_path_factory.mktemp("deployed-tls-render"), tls=True)
    workdir = tmp_path_factory.mktemp("deployed-tls")
    start = partial(start_deployed, files, backend_ports, workdir)
    proxy = _tls_proxy(test_ca, tmp_path_factory, "deployed-tls", start)
    proxy.files = files
    yield proxy
    proxy.stop()
