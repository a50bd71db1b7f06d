"""The AWX job templates run under ansible-runner, as AWX runs them, against the sandbox cluster.

AWX launches a job by writing a private data directory (env/extravars from the job template's
extra variables, the survey answers and the credential's injected extra variables; env/envvars
from the credential's injected environment; the credential's files) and calling ansible-runner
with the project checkout as project directory. This test does the same with the objects under
awx/: the survey answers go through the survey's own questions (tests/awx_objects.py), and the
sandbox's kubeconfig reaches the job only through the kubeconfig credential type's injectors.
The jobs use a namespace of their own so they never disturb other tests' releases.
"""

from __future__ import annotations

from pathlib import Path

import ansible_runner
import awx_objects
import pytest

REPO = Path(__file__).resolve().parents[2]
NAMESPACE = "pachyderm-awx"


@pytest.fixture(scope="module")
def sandbox_kubeconfig() -> Path:
    """The running sandbox's kubeconfig (tools/sandbox); skipped when no sandbox is up."""
    try:
        from tools.sandbox import Sandbox
    except ImportError:
        pytest.skip("no sandbox in this checkout (tools/sandbox)")
    sandbox = Sandbox()
    if not sandbox.running():
        pytest.skip("the sandbox is not running: `make cluster-up`")
    return sandbox.kubeconfig


def launch(playbook: str, answers: dict, kubeconfig: Path, tmp_path: Path) -> ansible_runner.Runner:
    """Launch the job template that runs `playbook` with these survey answers, the way AWX does."""
    config = awx_objects.controller_vars()
    template = awx_objects.job_template(playbook)
    survey = awx_objects.surveys()[template["name"]]
    private = tmp_path / "private_data_dir"
    private.mkdir(parents=True)
    env, injected_vars = awx_objects.inject_credential({"kubeconfig": kubeconfig.read_text()}, private)
    # In the execution environment the tools live in /usr/local/bin; here, in the checkout's bin/.
    job_vars = {**config["oneport_awx_job_extra_vars"], "oneport_bin_dir": str(REPO / "bin")}
    extravars = {**job_vars, **awx_objects.answer_to_extra_vars(survey, answers), **injected_vars}
    return ansible_runner.run(
        private_data_dir=str(private),
        project_dir=str(REPO),
        playbook=playbook,
        inventory=str(REPO / "inventories" / "local"),
        extravars=extravars,
        envvars=env,
        quiet=True,
    )


def changed_tasks(runner: ansible_runner.Runner) -> list[str]:
    return [
        f"{event['event_data'].get('task')} on {event['event_data'].get('host')}"
        for event in runner.events
        if event.get("event") == "runner_on_ok" and event["event_data"].get("res", {}).get("changed")
    ]


def deploy_answers() -> dict:
    return {
        "oneport_platform": "metallb",
        "oneport_tls": "self_signed",
        "oneport_namespace": NAMESPACE,
        "pachyderm_chart_version": "2.12.0",
    }


@pytest.fixture(scope="module")
def deployed(sandbox_kubeconfig, tmp_path_factory) -> ansible_runner.Runner:
    return launch(
        "playbooks/site.yml", deploy_answers(), sandbox_kubeconfig, tmp_path_factory.mktemp("deploy")
    )


def test_deploy_job_succeeds_with_survey_answers(deployed):
    assert deployed.status == "successful", deployed.stdout.read()
    assert deployed.rc == 0


def test_deploy_job_run_again_changes_nothing(deployed, sandbox_kubeconfig, tmp_path):
    again = launch("playbooks/site.yml", deploy_answers(), sandbox_kubeconfig, tmp_path)
    assert again.status == "successful", again.stdout.read()
    assert changed_tasks(again) == []


def test_verify_job_succeeds_against_the_deployed_release(deployed, sandbox_kubeconfig, tmp_path):
    runner = launch("playbooks/verify.yml", {"oneport_namespace": NAMESPACE}, sandbox_kubeconfig, tmp_path)
    assert runner.status == "successful", runner.stdout.read()


def test_uninstall_job_removes_the_release_and_its_data_when_confirmed(
    deployed, sandbox_kubeconfig, tmp_path
):
    answers = {
        "oneport_namespace": NAMESPACE,
        "pachyderm_uninstall_delete_data_confirm": "yes-delete-all-data",
    }
    runner = launch("playbooks/uninstall.yml", answers, sandbox_kubeconfig, tmp_path)
    assert runner.status == "successful", runner.stdout.read()
    from kubernetes import client, config

    api = client.CoreV1Api(config.new_client_from_config(str(sandbox_kubeconfig)))
    assert api.list_namespaced_persistent_volume_claim(NAMESPACE).items == []
    releases = api.list_namespaced_secret(NAMESPACE, label_selector="owner=helm").items
    assert releases == []
