"""The pachctl_context module checked by the real pachctl 2.12.2 (built by `make setup` into bin/).

Each test runs the module through Ansible against a temporary HOME and PACH_CONFIG, then asks pachctl
what it sees, or lets pachctl edit the file and runs the module again.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from concurrent import futures

import grpc
import pytest
from support.certs import TestCA

from ansible_collections.oneport.pachyderm.plugins.module_utils.pachd_address import (
    PachdAddressError,
    normalize_pachd_address,
)

pytestmark = pytest.mark.slow


CA_PEM = TestCA("oneport fixture CA").pem.decode()


@pytest.fixture(scope="session")
def pachctl(repo_root):
    binary = repo_root / "bin" / "pachctl"
    if not binary.exists():
        pytest.fail(
            "bin/pachctl is missing: run `make setup` (it builds pachctl 2.12.2 from tools/go/pachctl)"
        )
    version = subprocess.run(
        [str(binary), "version", "--client-only"], capture_output=True, text=True, check=True
    )
    assert version.stdout.strip() == "2.12.2"
    return str(binary)


@pytest.fixture
def home(tmp_path):
    """A user's home with pachctl's config at the default place, and the environment to use it."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PACH", "PACHD_"))}
    env["HOME"] = str(tmp_path)
    env["PACH_CONFIG"] = str(tmp_path / ".pachyderm" / "config.json")
    (tmp_path / ".pachyderm").mkdir(mode=0o700)
    return env


def config_of(env):
    with open(env["PACH_CONFIG"]) as handle:
        return handle.read()


def module(env, check=False, **args):
    """Run oneport.pachyderm.pachctl_context through Ansible; returns the task's result."""
    command = [
        "ansible",
        "localhost",
        "-c",
        "local",
        "-i",
        "localhost,",
        "-e",
        f"ansible_python_interpreter={sys.executable}",
        "-m",
        "oneport.pachyderm.pachctl_context",
        "-a",
        json.dumps(args),
        "--diff",
    ]
    if check:
        command.append("--check")
    run_env = dict(env, ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json")
    done = subprocess.run(command, capture_output=True, text=True, env=run_env, check=False)
    output = json.loads(done.stdout)
    result = output["plays"][0]["tasks"][0]["hosts"]["localhost"]
    result["_stdout"] = done.stdout
    return result


def pachctl_run(pachctl, env, *args, stdin=None, check=True):
    return subprocess.run(
        [pachctl, *args], input=stdin, capture_output=True, text=True, env=env, check=check, timeout=120
    )


def pachctl_set_context(pachctl, env, name, context):
    """`pachctl config set context NAME --overwrite` with the context as JSON on stdin."""
    pachctl_run(pachctl, env, "config", "set", "context", name, "--overwrite", stdin=json.dumps(context))


def test_pachctl_sees_our_active_context(pachctl, home):
    module(home, name="prod", pachd_address="pachyderm.example.com:80", active=True)
    assert pachctl_run(pachctl, home, "config", "get", "active-context").stdout == "prod\n"


def test_pachctl_lists_our_contexts_with_active_and_enterprise_marks(pachctl, home):
    module(home, name="prod", pachd_address="grpc://10.0.0.1:80", active=True)
    module(
        home,
        name="ent",
        pachd_address="grpcs://ent.example.com:443",
        enterprise_server=True,
        active_enterprise=True,
    )
    listed = pachctl_run(pachctl, home, "config", "list", "context").stdout
    assert listed == "ACTIVE\tNAME\n\tdefault\nE\tent\n*\tprod\n"
    assert pachctl_run(pachctl, home, "config", "get", "active-enterprise-context").stdout == "ent\n"


def test_pachctl_shows_exactly_our_values_for_a_context(pachctl, home, tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text(CA_PEM)
    module(
        home,
        name="prod",
        pachd_address="https://pachyderm.example.com:443",
        server_cas_file=str(ca),
        session_token="0123456789abcdef",
        cluster_name="kind-oneport",
        auth_info="admin",
        namespace="pachyderm",
        cluster_deployment_id="oneport-demo",
        project="images",
        port_forwarders={"pachd": 30650},
        source="IMPORTED",
    )
    shown = json.loads(pachctl_run(pachctl, home, "config", "get", "context", "prod").stdout)
    assert shown == {
        "source": "IMPORTED",
        "pachd_address": "grpcs://pachyderm.example.com:443",
        "server_cas": base64.b64encode(CA_PEM.encode()).decode(),
        "session_token": "0123456789abcdef",
        "cluster_name": "kind-oneport",
        "auth_info": "admin",
        "namespace": "pachyderm",
        "port_forwarders": {"pachd": 30650},
        "cluster_deployment_id": "oneport-demo",
        "project": "images",
    }


def test_file_we_write_is_the_file_pachctl_writes(pachctl, home):
    module(home, name="prod", pachd_address="grpc://10.0.0.1:80", session_token="a<b>&c", active=True)
    ours = config_of(home)
    # Setting the active context again makes pachctl read, re-encode and rewrite the whole file.
    pachctl_run(pachctl, home, "config", "set", "active-context", "prod")
    assert config_of(home) == ours


def test_file_pachctl_creates_is_adopted_without_change(pachctl, home):
    pachctl_run(pachctl, home, "connect", "grpc://10.0.0.1:80", "--alias", "prod")
    written_by_pachctl = config_of(home)
    os.chmod(home["PACH_CONFIG"], 0o600)
    result = module(home, name="prod", pachd_address="10.0.0.1:80", active=True)
    assert result["changed"] is False
    assert config_of(home) == written_by_pachctl


def test_pachctls_edits_survive_the_module(pachctl, home):
    module(home, name="prod", pachd_address="grpc://10.0.0.1:80", active=True)
    pachctl_set_context(pachctl, home, "mine", {"pachd_address": "localhost:30650"})
    pachctl_run(pachctl, home, "config", "update", "context", "prod", "--project", "images")
    pachctl_run(pachctl, home, "config", "set", "active-context", "mine")

    result = module(home, name="prod", pachd_address="grpcs://pachyderm.example.com:443")
    assert result["changed"] is True
    assert pachctl_run(pachctl, home, "config", "get", "active-context").stdout == "mine\n"
    mine = json.loads(pachctl_run(pachctl, home, "config", "get", "context", "mine").stdout)
    assert mine == {"pachd_address": "grpc://localhost:30650"}
    prod = json.loads(pachctl_run(pachctl, home, "config", "get", "context", "prod").stdout)
    assert prod == {"pachd_address": "grpcs://pachyderm.example.com:443", "project": "images"}


def test_second_run_reports_no_change(home):
    args = {"name": "prod", "pachd_address": "10.0.0.1:80", "session_token": "s", "active": True}
    assert module(home, **args)["changed"] is True
    assert module(home, **args)["changed"] is False


def test_check_mode_with_diff_changes_nothing_and_hides_the_token(home):
    result = module(home, check=True, name="prod", pachd_address="10.0.0.1:80", session_token="t0ps3cr3t")
    assert result["changed"] is True
    assert not os.path.exists(home["PACH_CONFIG"])
    assert "t0ps3cr3t" not in result["_stdout"]
    assert '"pachd_address": "grpc://10.0.0.1:80"' in result["diff"]["after"]


def test_file_pachctl_cannot_read_is_refused_and_kept(pachctl, home):
    with open(home["PACH_CONFIG"], "w") as handle:
        handle.write('{"v2": {"contexts": ')
    assert pachctl_run(pachctl, home, "config", "get", "active-context", check=False).returncode != 0
    result = module(home, name="prod", pachd_address="10.0.0.1:80")
    assert result["failed"] is True
    assert "left untouched" in result["msg"]
    assert config_of(home) == '{"v2": {"contexts": '


def test_our_server_cas_is_what_pachctl_stores_for_the_same_pem(pachctl, home, tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text(CA_PEM)
    module(home, name="ours", pachd_address="grpcs://h:443", server_cas_file=str(ca))
    pachctl_set_context(pachctl, home, "theirs", {"pachd_address": "grpcs://h:443"})
    encoded = base64.b64encode(ca.read_bytes()).decode()  # what `base64 -w0 ca.pem` gives
    pachctl_run(pachctl, home, "config", "update", "context", "theirs", "--server-cas", encoded)
    contexts = json.loads(config_of(home))["v2"]["contexts"]
    assert contexts["ours"]["server_cas"] == contexts["theirs"]["server_cas"]


def test_pachctl_refuses_server_cas_with_a_plain_address_as_we_do(pachctl, home):
    plain = {"pachd_address": "grpc://127.0.0.1:9", "server_cas": base64.b64encode(b"x").decode()}
    pachctl_set_context(pachctl, home, "plain", plain)
    pachctl_run(pachctl, home, "config", "set", "active-context", "plain")
    refused = pachctl_run(pachctl, home, "version", check=False)
    assert "must set pachd_address to grpcs://" in refused.stderr + refused.stdout
    result = module(home, name="plain", server_cas=CA_PEM)
    assert result["failed"] is True and "grpcs://" in result["msg"]


ADDRESSES = [
    "localhost",
    "localhost:80",
    "pachyderm.example.com:443",
    "grpc://h",
    "grpcs://h",
    "http://h",
    "https://h",
    "https://h:443",
    "GRPCS://Host.Example.com:443",
    "h:",
    "h:080",
    "grpc://h:0",
    "grpc://h:65535",
    "grpc://h:65536",
    "grpc://h:8x",
    "grpc://:80",
    "grpc://[::1]:80",
    "grpc://::1:80",
    "grpc://[1.2.3.4]:80",
    "grpc://[::1",
    "grpc://h:80/",
    "grpc://h:80/x",
    "grpc://u@h:80",
    "grpc://u:p@h:80",
    "grpc://@h:80",
    "grpc://h:80?a=b",
    "grpc://h:80?",
    "grpc://h:80#frag",
    "grpc://h:80#",
    "grpc://h h:80",
    "grpc://h%41:80",
    "grpc://h%C3%A9:80",
    "grpc://h%2:80",
    "grpc://a:b:80",
    "http://a:b:80",
    "grpc:x://y",
    "ftp://h:21",
    "unix:///var/run/pachd.sock",
    "://h:80",
    "1grpc://h:80",
]


@pytest.mark.parametrize("address", ADDRESSES)
def test_address_is_accepted_and_stored_as_pachctl_does(pachctl, home, address):
    pachctl_run(pachctl, home, "config", "get", "active-context")
    done = pachctl_run(
        pachctl, home, "config", "update", "context", "default", "--pachd-address", address, check=False
    )
    try:
        ours = normalize_pachd_address(address)
    except PachdAddressError:
        ours = None
    if done.returncode != 0:
        assert ours is None, f"pachctl refused {address!r} ({done.stderr.strip()}), we stored {ours!r}"
    else:
        theirs = json.loads(config_of(home))["v2"]["contexts"]["default"].get("pachd_address")
        assert ours == theirs


class EmptyReplies(grpc.GenericRpcHandler):
    """Answers every unary call with an empty message: pachd's version then reads 0.0.0."""

    def service(self, handler_call_details):
        return grpc.unary_unary_rpc_method_handler(lambda request, context: b"")


@pytest.fixture
def tls_pachd(tmp_path):
    """A gRPC server on loopback with a certificate from a private CA; yields (port, CA PEM file)."""
    ca = TestCA()
    leaf, private, _serial = ca.issue(names=("localhost",), ips=("127.0.0.1",))
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    server.add_generic_rpc_handlers((EmptyReplies(),))
    port = server.add_secure_port("127.0.0.1:0", grpc.ssl_server_credentials([(private, leaf)]))
    server.start()
    ca_file = tmp_path / "ca.pem"
    ca_file.write_bytes(ca.pem)
    yield port, ca_file
    server.stop(None)


def test_pachctl_trusts_the_ca_we_stored_in_server_cas(pachctl, home, tls_pachd):
    port, ca_file = tls_pachd
    module(
        home, name="tls", pachd_address=f"grpcs://127.0.0.1:{port}", server_cas_file=str(ca_file), active=True
    )
    version = pachctl_run(pachctl, home, "version", "--timeout", "20s", check=False)
    assert "pachd               0.0.0" in version.stdout, version.stderr


def test_pachctl_refuses_the_server_when_server_cas_holds_another_ca(pachctl, home, tls_pachd):
    port = tls_pachd[0]
    other_ca = TestCA("another CA").pem.decode()
    module(home, name="tls", pachd_address=f"grpcs://127.0.0.1:{port}", server_cas=other_ca, active=True)
    version = pachctl_run(pachctl, home, "version", "--timeout", "3s", check=False)
    assert version.returncode != 0
    assert "pachd " not in version.stdout
