"""The pachctl_context module, run in-process: each branch of a run and what it reports."""

from __future__ import annotations

import json
import os
import stat

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.oneport.pachyderm.plugins.modules import pachctl_context

PEM = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUQ==\n-----END CERTIFICATE-----\n"


def run(capsys, **args):
    """Run the module with ``args``; returns its JSON result."""
    with patch_module_args(args), pytest.raises(SystemExit):
        pachctl_context.main()
    return json.loads(capsys.readouterr().out)


def read(path):
    with open(path) as handle:
        return handle.read()


def load(path):
    return json.loads(read(path))


@pytest.fixture
def config(tmp_path):
    return str(tmp_path / "pachyderm" / "config.json")


def test_create_writes_the_context_and_reports_a_change(capsys, config):
    result = run(capsys, path=config, name="prod", pachd_address="h.example.com:80", active=True)
    assert result["changed"] is True
    assert result["context"] == {"pachd_address": "grpc://h.example.com:80"}
    assert result["active_context"] == "prod"
    written = load(config)
    assert written["v2"]["contexts"]["prod"] == {"pachd_address": "grpc://h.example.com:80"}


def test_second_run_with_the_same_input_changes_nothing(capsys, config):
    args = {
        "path": config,
        "name": "prod",
        "pachd_address": "h.example.com:80",
        "session_token": "s",
        "active": True,
    }
    run(capsys, **args)
    before = read(config)
    assert run(capsys, **args)["changed"] is False
    assert read(config) == before


def test_update_changes_only_the_given_field(capsys, config):
    run(capsys, path=config, name="prod", pachd_address="h:80", project="p")
    result = run(capsys, path=config, name="prod", pachd_address="grpcs://h:443")
    assert result["changed"] is True
    assert result["context"] == {"pachd_address": "grpcs://h:443", "project": "p"}


def test_remove_deletes_the_context(capsys, config):
    run(capsys, path=config, name="old", pachd_address="h:80")
    result = run(capsys, path=config, name="old", state="absent")
    assert result["changed"] is True and result["context"] is None
    assert "old" not in load(config)["v2"]["contexts"]


def test_enterprise_context_is_set(capsys, config):
    result = run(capsys, path=config, name="ent", enterprise_server=True, active_enterprise=True)
    assert result["active_enterprise_context"] == "ent"
    assert load(config)["v2"]["contexts"]["ent"] == {"enterprise_server": True}


def test_check_mode_reports_the_change_and_writes_nothing(capsys, config):
    result = run(capsys, path=config, name="prod", pachd_address="h:80", _ansible_check_mode=True)
    assert result["changed"] is True
    assert not os.path.exists(config)


def test_diff_shows_the_file_with_the_token_masked(capsys, config):
    result = run(
        capsys, path=config, name="prod", pachd_address="h:80", session_token="t0ps3cret", _ansible_diff=True
    )
    assert '"pachd_address": "grpc://h:80"' in result["diff"]["after"]
    assert result["diff"]["before"] == ""
    assert "t0ps3cret" not in json.dumps(result)


def test_session_token_never_appears_in_the_result(capsys, config):
    result = run(capsys, path=config, name="prod", session_token="t0ps3cret")
    assert result["context"]["session_token"] == "********"
    assert "t0ps3cret" not in json.dumps(result)
    assert load(config)["v2"]["contexts"]["prod"]["session_token"] == "t0ps3cret"


def test_file_is_0600_in_a_0700_directory(capsys, config):
    run(capsys, path=config, name="prod")
    assert stat.S_IMODE(os.stat(config).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.dirname(config)).st_mode) == 0o700


def test_loose_permissions_alone_are_a_change_and_get_fixed(capsys, config):
    run(capsys, path=config, name="prod")
    os.chmod(config, 0o644)
    assert run(capsys, path=config, name="prod")["changed"] is True
    assert stat.S_IMODE(os.stat(config).st_mode) == 0o600


def test_bad_file_fails_and_is_never_overwritten(capsys, tmp_path):
    config = tmp_path / "config.json"
    config.write_text("{broken")
    result = run(capsys, path=str(config), name="prod", pachd_address="h:80")
    assert result["failed"] is True
    assert "left untouched" in result["msg"]
    assert config.read_text() == "{broken"


def test_bad_address_fails_naming_the_option(capsys, config):
    result = run(capsys, path=config, name="prod", pachd_address="grpc://h:80/pachd")
    assert result["failed"] is True
    assert result["msg"].startswith("pachd_address: 'grpc://h:80/pachd' has a path")
    assert not os.path.exists(config)


def test_server_cas_with_a_plain_address_fails(capsys, config):
    result = run(capsys, path=config, name="prod", pachd_address="grpc://h:80", server_cas=PEM)
    assert result["failed"] is True
    assert "grpcs://" in result["msg"]


def test_server_cas_file_is_read_on_the_target(capsys, config, tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text(PEM)
    result = run(capsys, path=config, name="prod", pachd_address="grpcs://h:443", server_cas_file=str(ca))
    assert result["changed"] is True
    stored = load(config)["v2"]["contexts"]["prod"]["server_cas"]
    assert (
        stored
        == run(capsys, path=config, name="x", pachd_address="grpcs://h:443", server_cas=PEM)["context"][
            "server_cas"
        ]
    )


def test_missing_server_cas_file_fails(capsys, config, tmp_path):
    result = run(capsys, path=config, name="prod", server_cas_file=str(tmp_path / "nope.pem"))
    assert result["failed"] is True
    assert result["msg"].startswith("server_cas_file: ")


def test_pach_config_is_used_without_path(capsys, tmp_path, monkeypatch):
    target = tmp_path / "from-env.json"
    monkeypatch.setenv("PACH_CONFIG", str(target))
    assert run(capsys, name="prod")["path"] == str(target)
    assert target.exists()


def test_home_config_is_used_without_path_or_pach_config(capsys, tmp_path, monkeypatch):
    monkeypatch.delenv("PACH_CONFIG", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    result = run(capsys, name="prod")
    assert result["path"] == str(tmp_path / ".pachyderm" / "config.json")
    assert stat.S_IMODE((tmp_path / ".pachyderm").stat().st_mode) == 0o700
