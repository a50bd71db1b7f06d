"""The prerequisites role's one read-only check: tools run, helm lists its plugins, the cluster answers.

The tools are small executables written here (real processes, real exit codes); the cluster is a
loopback HTTP server that answers the two paths the check asks for, or refuses the second.
"""

from __future__ import annotations

import http.server
import json
import threading

import pytest

from ansible_collections.oneport.pachyderm.plugins.module_utils.tool_check import (
    BINARIES,
    check_tools,
    cluster_version,
    helm_plugin_names,
)

HELM = """#!/bin/sh
if [ "$1" = plugin ]; then
  printf 'NAME\\tVERSION\\tDESCRIPTION\\n'
  [ -d "$HELM_PLUGINS/diff" ] && printf 'diff\\t3.9.14\\tPreview helm upgrade changes as a diff\\n'
  exit 0
fi
echo v3.17.2+gcc0bbbd
"""


def tool(bin_dir, name, script):
    path = bin_dir / name
    path.write_text(script)
    path.chmod(0o755)


@pytest.fixture
def bin_dir(tmp_path):
    folder = tmp_path / "bin"
    folder.mkdir()
    tool(folder, "helm", HELM)
    tool(folder, "kubectl", "#!/bin/sh\necho 'Client Version: v1.32.3'\necho 'Kustomize Version: v5'\n")
    return folder


def test_the_tools_with_a_version_command_are_the_planned_binaries():
    assert BINARIES == ("helm", "kubectl", "pachctl")


def test_present_tools_report_their_version_and_absent_ones_are_missing(bin_dir):
    result = check_tools(str(bin_dir), ["helm", "kubectl", "pachctl"])
    assert result["versions"] == {"helm": "v3.17.2+gcc0bbbd", "kubectl": "Client Version: v1.32.3"}
    assert result["missing"] == ["pachctl"]
    assert result["failed"] == {}
    assert result["helm_plugins"] == []


def test_a_tool_that_fails_is_reported_with_its_exit_code_and_message(bin_dir):
    tool(bin_dir, "pachctl", "#!/bin/sh\necho 'cannot execute: wrong architecture' >&2\nexit 126\n")
    result = check_tools(str(bin_dir), ["pachctl"])
    assert result["failed"] == {"pachctl": "exit 126: cannot execute: wrong architecture"}
    assert result["versions"] == {}


def test_a_file_that_cannot_run_is_reported(bin_dir):
    (bin_dir / "pachctl").write_text("not a program")  # not executable
    result = check_tools(str(bin_dir), ["pachctl"])
    assert "Permission denied" in result["failed"]["pachctl"]


def test_helm_plugins_are_listed_from_the_plugins_directory(bin_dir, tmp_path):
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    result = check_tools(str(bin_dir), ["helm"], ["diff"], str(plugins))
    assert result["helm_plugins"] == []
    assert result["helm_plugins_missing"] == ["diff"]
    (plugins / "diff").mkdir()
    result = check_tools(str(bin_dir), ["helm"], ["diff"], str(plugins))
    assert result["helm_plugins"] == ["diff"]
    assert result["helm_plugins_missing"] == []


def test_plugins_are_not_listed_without_helm(bin_dir):
    (bin_dir / "helm").unlink()
    result = check_tools(str(bin_dir), ["helm", "kubectl"], ["diff"], "/nonexistent")
    assert result["missing"] == ["helm"]
    assert result["helm_plugins_missing"] == []


def test_an_unknown_tool_is_refused_with_the_known_ones(bin_dir):
    with pytest.raises(
        ValueError, match=r"tools: \[.helm-diff.\] are not tools with a version command; use helm"
    ):
        check_tools(str(bin_dir), ["helm-diff"])


def test_helm_plugin_names_skip_the_header():
    assert helm_plugin_names("NAME\tVERSION\tDESCRIPTION\ndiff\t3.9.14\tx\nsecrets 4.6 y\n\n") == [
        "diff",
        "secrets",
    ]
    assert helm_plugin_names("NAME\tVERSION\tDESCRIPTION\n") == []


# Every field of the API server's version.Info: the client refuses an answer without them.
VERSION = {
    "major": "1",
    "minor": "32",
    "gitVersion": "v1.32.5",
    "gitCommit": "9894294ef13a5b32803e3ca2c0d620a088cc84d1",
    "gitTreeState": "clean",
    "buildDate": "2025-05-15T09:10:35Z",
    "goVersion": "go1.26.8",
    "compiler": "gc",
    "platform": "linux/amd64",
}

API_VERSIONS = {
    "kind": "APIVersions",
    "versions": ["v1"],
    "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:6443"}],
}


class FakeAPIServer(http.server.BaseHTTPRequestHandler):
    discovery_status = 200

    def do_GET(self):
        if self.path.startswith("/version"):
            self._json(200, VERSION)
        elif self.path.startswith("/api"):
            self._json(self.discovery_status, API_VERSIONS)
        else:
            self._json(404, {})

    def _json(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def api_server():
    pytest.importorskip("kubernetes")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeAPIServer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    FakeAPIServer.discovery_status = 200


def kubeconfig(tmp_path, server_url):
    path = tmp_path / "kubeconfig"
    path.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": server_url}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "here", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "here",
            }
        )
    )
    return str(path)


def test_the_cluster_version_is_read_after_an_authenticated_call(api_server, tmp_path):
    config = kubeconfig(tmp_path, f"http://127.0.0.1:{api_server.server_address[1]}")
    assert cluster_version(config, "here") == "v1.32.5"
    assert cluster_version(config, "") == "v1.32.5"


def test_credentials_the_cluster_refuses_are_an_error(api_server, tmp_path):
    FakeAPIServer.discovery_status = 401
    config = kubeconfig(tmp_path, f"http://127.0.0.1:{api_server.server_address[1]}")
    with pytest.raises(RuntimeError, match="HTTP 401"):
        cluster_version(config)


def test_an_unknown_context_and_an_unreadable_kubeconfig_are_errors(api_server, tmp_path):
    config = kubeconfig(tmp_path, f"http://127.0.0.1:{api_server.server_address[1]}")
    with pytest.raises(RuntimeError, match="kubeconfig could not be read"):
        cluster_version(config, "elsewhere")
    with pytest.raises(RuntimeError, match="kubeconfig could not be read"):
        cluster_version(str(tmp_path / "absent"))


def test_a_closed_port_is_an_error_not_a_hang(tmp_path):
    pytest.importorskip("kubernetes")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeAPIServer)
    port = server.server_address[1]
    server.server_close()
    with pytest.raises(RuntimeError):
        cluster_version(kubeconfig(tmp_path, f"http://127.0.0.1:{port}"), timeout=2)
