"""The AWX job templates run under ansible-runner, as AWX runs them, against the sandbox cluster.

AWX launches a job by writing a private data directory (env/extravars from the job template's
extra variables, the survey answers and the credential's injected extra variables; env/envvars
from the credential's injected environment; the credential's files) and calling ansible-runner
with the project checkout as project directory. This test does the same with the objects under
awx/: the survey answers go through the survey's own questions (tests/support/awx_objects.py), and the
sandbox's kubeconfig reaches the job only through the kubeconfig credential type's injectors.
The jobs use a namespace and a release name of their own (the real chart names some cluster-wide
objects after the release) so they never disturb other tests' releases. They run on the integration
stage's own sandbox and its chart repository of real charts, which the local inventory follows
(ONEPORT_SANDBOX_DIR).
"""

from __future__ import annotations

from pathlib import Path

import ansible_runner
import pytest
from support import awx_objects
from support.paths import REPO
from support.playbook_runs import CLUSTER

NAMESPACE = "pachyderm-awx"
RELEASE = {"pachyderm_release_name": "pachyderm-awx"}


@pytest.fixture(scope="module")
def sandbox_kubeconfig(local_inventory_on_sandbox) -> Path:
    return local_inventory_on_sandbox.kubeconfig


def launch(
    playbook: str,
    answers: dict,
    kubeconfig: Path,
    tmp_path: Path,
    launch_vars: dict | None = None,
    home: Path | None = None,
) -> ansible_runner.Runner:
    """Launch the job template that runs `playbook` with these survey answers, the way AWX does.

    `launch_vars` are the extra variables typed at the launch prompt, which AWX applies after the
    survey's. AWX gives each job a home of its own (/runner in the execution environment); `home`
    lets two jobs share one.
    """
    config = awx_objects.controller_vars()
    template = awx_objects.job_template(playbook)
    survey = awx_objects.surveys()[template["name"]]
    private = tmp_path / "private_data_dir"
    private.mkdir(parents=True)
    env, injected_vars = awx_objects.inject_credential({"kubeconfig": kubeconfig.read_text()}, private)
    env["HOME"] = str(home or private)
    # In the execution environment the tools live in /usr/local/bin; here, in the checkout's bin/.
    job_vars = {
        **config["oneport_awx_job_extra_vars"],
        **template.get("extra_vars", {}),
        "oneport_bin_dir": str(REPO / "bin"),
    }
    answered = awx_objects.answer_to_extra_vars(survey, answers)
    extravars = {**job_vars, **answered, **(launch_vars or {}), **injected_vars}
    return ansible_runner.run(
        private_data_dir=str(private),
        project_dir=str(REPO),
        playbook=playbook,
        inventory=str(REPO / "inventories" / "local"),
        extravars=extravars,
        envvars=env,
        quiet=True,
    )


def task_results(runner: ansible_runner.Runner, task: str) -> list[dict]:
    return [
        event["event_data"].get("res", {})
        for event in runner.events
        if event.get("event") == "runner_on_ok" and event["event_data"].get("task") == task
    ]


def output(runner: ansible_runner.Runner) -> str:
    return runner.stdout.read()[-6000:]


# The operator's answers. NodePort exposure without TLS: the sandbox has no pod network, so this is
# the exposure whose address it can report; the MetalLB and TLS path is the local inventory's own.
DEPLOY_ANSWERS = {
    "oneport_platform": "nodeport",
    "pachyderm_service_type": "NodePort",
    "oneport_tls": "off",
    "oneport_namespace": NAMESPACE,
    "pachyderm_chart_version": "2.12.0",
    "pachyderm_wait_timeout": 300,
}
# Nothing answers behind a sandbox Service, so the deploy job skips its verify stage at the launch
# prompt; the verify job template probes on its own below.
DEPLOY_LAUNCH_VARS = {"oneport_enable_verify": False, **RELEASE}


@pytest.fixture(scope="module")
def job_home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("home")


@pytest.fixture(scope="module")
def deployed(sandbox_kubeconfig, tmp_path_factory, job_home) -> ansible_runner.Runner:
    return launch(
        "playbooks/site.yml",
        DEPLOY_ANSWERS,
        sandbox_kubeconfig,
        tmp_path_factory.mktemp("deploy"),
        DEPLOY_LAUNCH_VARS,
        job_home,
    )


def core_api(kubeconfig: Path):
    from kubernetes import client, config

    return client.CoreV1Api(config.new_client_from_config(str(kubeconfig)))


def test_deploy_job_succeeds_with_survey_answers(deployed):
    assert deployed.status == "successful", output(deployed)


def test_deploy_job_exposes_the_one_port_the_survey_asked_for(deployed, sandbox_kubeconfig):
    services = core_api(sandbox_kubeconfig).list_namespaced_service(NAMESPACE).items
    proxy = [svc for svc in services if svc.metadata.name == "pachyderm-proxy"]
    assert proxy and proxy[0].spec.type == "NodePort"


def test_deploy_job_run_again_changes_nothing(deployed, sandbox_kubeconfig, tmp_path, job_home):
    again = launch(
        "playbooks/site.yml", DEPLOY_ANSWERS, sandbox_kubeconfig, tmp_path, DEPLOY_LAUNCH_VARS, job_home
    )
    assert again.status == "successful", output(again)
    assert again.stats["changed"].get(CLUSTER, 0) == 0, output(again)


def test_verify_job_probes_the_one_port_and_reports_each_probe(deployed, sandbox_kubeconfig, tmp_path):
    answers = {
        "verify_endpoint": "http://127.0.0.1:30080",
        "verify_probes": ["grpc", "console"],
        "verify_timeout": 2,
    }
    # Probes cannot pass in the sandbox (no pod network): the table is reported without failing.
    runner = launch(
        "playbooks/verify.yml", answers, sandbox_kubeconfig, tmp_path, {"verify_fail_on_error": False}
    )
    assert runner.status == "successful", output(runner)
    (probed,) = task_results(runner, "Probe gRPC, console, S3, Dex and pachctl through the one port")
    assert sorted(row["name"] for row in probed["probes"]) == ["console", "grpc"]


def test_uninstall_job_removes_the_release_and_its_data_when_confirmed(
    deployed, sandbox_kubeconfig, tmp_path
):
    answers = {
        "oneport_namespace": NAMESPACE,
        "pachyderm_uninstall_delete_data_confirm": "yes-delete-all-data",
    }
    runner = launch("playbooks/uninstall.yml", answers, sandbox_kubeconfig, tmp_path, RELEASE)
    assert runner.status == "successful", output(runner)
    api = core_api(sandbox_kubeconfig)
    assert api.list_namespaced_persistent_volume_claim(NAMESPACE).items == []
    assert api.list_namespaced_secret(NAMESPACE, label_selector="owner=helm").items == []
