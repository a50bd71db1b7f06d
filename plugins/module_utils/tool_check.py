# Copyright: oneport.pachyderm contributors
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Whether the installed tools run, helm lists its plugins and a cluster answers: read-only checks.

The tool_check module runs them in one process on every rollout, so a converged controller pays one
module start-up instead of one per tool. The version commands run side by side. The cluster is asked
for its version (public to anyone) and for the core API versions (discovery, which the API server
grants to authenticated users only), so a kubeconfig with stale credentials is caught here too.
Plain Python; the kubernetes client is imported only when a cluster is checked.
"""

from __future__ import annotations

import os
import subprocess
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.oneport.pachyderm.plugins.module_utils.inputs import InputError
from ansible_collections.oneport.pachyderm.plugins.module_utils.tool_downloads import LAYOUT

BINARIES = tuple(sorted(name for name, layout in LAYOUT.items() if layout["install"] == "binary"))
COMMAND_TIMEOUT = 60


def _first_line(text):
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def _run(argv, env=None):
    """(ok, text): the first line of the output, or why the command failed."""
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, env=env, timeout=COMMAND_TIMEOUT, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, str(exc)
    if done.returncode != 0:
        return False, f"exit {done.returncode}: {_first_line(done.stderr) or _first_line(done.stdout)}"
    return True, done.stdout


def helm_plugin_names(listing):
    """The plugin names in `helm plugin list` output (a header line, then one plugin per line)."""
    lines = [line.split() for line in listing.splitlines() if line.strip()]
    return [fields[0] for fields in lines[1:] if fields]


def check_tools(bin_dir, tools, helm_plugins=(), helm_plugins_dir=None):
    """Run each present tool's version command and, when helm is there, `helm plugin list`.

    Returns ``missing`` (tools not in ``bin_dir``), ``failed`` (tool to why its command failed),
    ``versions`` (tool to the first line of its version output), ``helm_plugins`` (names helm lists)
    and ``helm_plugins_missing`` (asked-for plugins helm does not list).
    """
    unknown = [name for name in tools if name not in BINARIES]
    if unknown:
        raise InputError(
            f"tools: {unknown!r} are not tools with a version command; use {', '.join(BINARIES)}",
            field="tools",
            value=unknown,
            fix=f"use {', '.join(BINARIES)}",
        )
    paths = {name: os.path.join(bin_dir, name) for name in tools}
    present = [name for name in tools if os.path.isfile(paths[name])]
    jobs = {name: [paths[name]] + LAYOUT[name]["version_args"] for name in present}
    list_plugins = bool(helm_plugins) and "helm" in present
    if list_plugins:
        jobs[" plugins"] = [paths["helm"], "plugin", "list"]
    env = dict(os.environ, HELM_PLUGINS=helm_plugins_dir) if helm_plugins_dir else None
    with ThreadPoolExecutor(max_workers=max(1, len(jobs))) as pool:
        running = {job: pool.submit(_run, argv, env) for job, argv in jobs.items()}
        answers = {job: future.result() for job, future in running.items()}
    result = {
        "missing": [name for name in tools if name not in present],
        "failed": {},
        "versions": {},
        "helm_plugins": [],
        "helm_plugins_missing": [],
    }
    for name in present:
        ok, text = answers[name]
        if ok:
            result["versions"][name] = _first_line(text)
        else:
            result["failed"][name] = text
    if list_plugins:
        ok, text = answers[" plugins"]
        if ok:
            result["helm_plugins"] = helm_plugin_names(text)
            listed = result["helm_plugins"]
            result["helm_plugins_missing"] = [name for name in helm_plugins if name not in listed]
        else:
            result["failed"]["helm plugin list"] = text
    return result


def cluster_version(kubeconfig, context=None, timeout=10):
    """The cluster's gitVersion, after an authenticated discovery call; raises RuntimeError saying why not."""
    try:
        from kubernetes import client, config
    except ImportError as exc:
        raise RuntimeError(f"the Python kubernetes library is missing ({exc})") from exc
    try:
        api = config.new_client_from_config(
            config_file=kubeconfig, context=context or None, persist_config=False
        )
    except Exception as exc:  # the client raises ConfigException, OSError, YAML and key errors alike
        raise RuntimeError(f"the kubeconfig could not be read: {exc}") from exc
    try:
        with api:
            version = client.VersionApi(api).get_code(_request_timeout=timeout)
            client.CoreApi(api).get_api_versions(_request_timeout=timeout)
    except Exception as exc:  # ApiException, urllib3's connection and TLS errors
        reason = getattr(exc, "reason", None)
        status = getattr(exc, "status", None)
        if status:
            raise RuntimeError(f"HTTP {status} {reason or ''}".strip()) from exc
        raise RuntimeError(str(reason or exc)) from exc
    return version.git_version
