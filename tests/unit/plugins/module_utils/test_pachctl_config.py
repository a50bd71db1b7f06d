"""pachctl's config file model: read, change and write it as pachctl does, keeping what it does not know."""

from __future__ import annotations

import base64
import json
import os
import stat

import pytest

from ansible_collections.oneport.pachyderm.plugins.module_utils import pachctl_config as pc

PEM = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUQ==\n-----END CERTIFICATE-----\n"


def fixed_id():
    return "0123456789abcdef0123456789abcdef"


def write(path, doc):
    path.write_text(json.dumps(doc))
    return str(path)


def test_path_option_wins(monkeypatch):
    assert pc.config_path("/x/config.json", {"PACH_CONFIG": "/y"}) == "/x/config.json"


def test_pach_config_comes_next():
    assert pc.config_path(None, {"PACH_CONFIG": "/y/c.json"}) == "/y/c.json"


def test_home_config_is_the_default(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert pc.config_path(None, {}) == str(tmp_path / ".pachyderm" / "config.json")


def test_missing_file_is_created_as_pachctl_creates_it(tmp_path):
    plan = pc.plan(str(tmp_path / "c.json"), "prod", fields={"pachd_address": "h:80"}, new_user_id=fixed_id)
    assert plan.before is None
    assert plan.after == {
        "user_id": fixed_id(),
        "v2": {
            "active_context": "default",
            "contexts": {"default": {}, "prod": {"pachd_address": "grpc://h:80"}},
            "metrics": True,
        },
    }


def test_new_user_id_is_a_uuid_without_dashes(tmp_path):
    plan = pc.plan(str(tmp_path / "c.json"), "prod")
    assert len(plan.after["user_id"]) == 32
    int(plan.after["user_id"], 16)


def test_v1_config_moves_into_the_default_context():
    doc = {"v1": {"pachd_address": "grpc://old:30650", "session_token": "t"}}
    pc.initialize(doc, fixed_id)
    assert doc["v2"]["contexts"]["default"] == {
        "source": 1,
        "pachd_address": "grpc://old:30650",
        "session_token": "t",
    }
    assert "v1" not in doc


def test_update_keeps_other_fields_and_contexts(tmp_path):
    path = write(
        tmp_path / "c.json",
        {
            "user_id": "u",
            "v2": {
                "active_context": "other",
                "contexts": {
                    "other": {"pachd_address": "grpc://o:1"},
                    "prod": {"pachd_address": "grpc://h:80", "project": "mine", "cluster_deployment_id": "d"},
                },
                "metrics": False,
            },
        },
    )
    plan = pc.plan(path, "prod", fields={"pachd_address": "grpcs://h:443"})
    assert plan.after["v2"]["contexts"]["prod"] == {
        "pachd_address": "grpcs://h:443",
        "project": "mine",
        "cluster_deployment_id": "d",
    }
    assert plan.after["v2"]["contexts"]["other"] == {"pachd_address": "grpc://o:1"}
    assert plan.after["v2"]["metrics"] is False
    assert plan.after["v2"]["active_context"] == "other"


def test_unknown_fields_are_preserved_everywhere(tmp_path):
    path = write(
        tmp_path / "c.json",
        {
            "user_id": "u",
            "future": {"a": 1},
            "v2": {"contexts": {"prod": {"pachd_address": "grpc://h:80", "new_field": "x"}}, "v2_extra": 2},
        },
    )
    plan = pc.plan(path, "prod", fields={"project": "p"})
    written = json.loads(plan.text)
    assert written["future"] == {"a": 1}
    assert written["v2"]["v2_extra"] == 2
    assert written["v2"]["contexts"]["prod"]["new_field"] == "x"


def test_same_input_twice_is_no_change(tmp_path):
    path = str(tmp_path / "c.json")
    first = pc.plan(path, "prod", fields={"pachd_address": "h:80", "session_token": "s"}, active=True)
    pc.write_atomically(path, first.text)
    second = pc.plan(path, "prod", fields={"pachd_address": "grpc://h:80", "session_token": "s"}, active=True)
    assert first.content_changed and not second.content_changed


def test_empty_value_removes_the_field(tmp_path):
    path = write(tmp_path / "c.json", {"user_id": "u", "v2": {"contexts": {"p": {"project": "x"}}}})
    plan = pc.plan(path, "p", fields={"project": ""})
    assert plan.after["v2"]["contexts"]["p"] == {}


def test_unset_field_is_left_alone(tmp_path):
    path = write(tmp_path / "c.json", {"user_id": "u", "v2": {"contexts": {"p": {"project": "x"}}}})
    plan = pc.plan(path, "p", fields={"project": None})
    assert plan.after["v2"]["contexts"]["p"] == {"project": "x"}
    assert not plan.content_changed


def test_camel_case_spelling_is_replaced_not_duplicated(tmp_path):
    path = write(
        tmp_path / "c.json", {"user_id": "u", "v2": {"contexts": {"p": {"pachdAddress": "grpc://a:1"}}}}
    )
    plan = pc.plan(path, "p", fields={"pachd_address": "grpc://b:2"})
    assert plan.after["v2"]["contexts"]["p"] == {"pachd_address": "grpc://b:2"}


def test_source_name_is_stored_as_pachctls_number(tmp_path):
    plan = pc.plan(str(tmp_path / "c.json"), "p", fields={"source": "IMPORTED"})
    assert plan.after["v2"]["contexts"]["p"]["source"] == 3


def test_source_spelled_as_a_name_in_the_file_counts_as_the_same(tmp_path):
    path = write(tmp_path / "c.json", {"user_id": "u", "v2": {"contexts": {"p": {"source": "IMPORTED"}}}})
    assert not pc.plan(path, "p", fields={"source": "IMPORTED"}).content_changed


def test_active_sets_active_context(tmp_path):
    plan = pc.plan(str(tmp_path / "c.json"), "p", active=True)
    assert plan.after["v2"]["active_context"] == "p"


def test_active_false_clears_it_only_when_this_context_is_active(tmp_path):
    path = write(tmp_path / "c.json", {"user_id": "u", "v2": {"active_context": "p", "contexts": {"p": {}}}})
    assert "active_context" not in pc.plan(path, "p", active=False).after["v2"]
    assert pc.plan(path, "q", active=False).after["v2"]["active_context"] == "p"


def test_active_enterprise_sets_active_enterprise_context(tmp_path):
    plan = pc.plan(
        str(tmp_path / "c.json"), "ent", fields={"enterprise_server": True}, active_enterprise=True
    )
    assert plan.after["v2"]["active_enterprise_context"] == "ent"
    assert plan.after["v2"]["active_context"] == "default"
    assert plan.after["v2"]["contexts"]["ent"] == {"enterprise_server": True}


def test_absent_removes_the_context(tmp_path):
    path = write(
        tmp_path / "c.json", {"user_id": "u", "v2": {"active_context": "a", "contexts": {"a": {}, "b": {}}}}
    )
    plan = pc.plan(path, "b", state="absent")
    assert plan.content_changed
    assert list(plan.after["v2"]["contexts"]) == ["a"]


def test_absent_on_a_missing_file_changes_nothing(tmp_path):
    assert not pc.plan(str(tmp_path / "c.json"), "b", state="absent").content_changed


@pytest.mark.parametrize("key", ["active_context", "active_enterprise_context"])
def test_absent_refuses_the_active_context_as_pachctl_does(tmp_path, key):
    path = write(tmp_path / "c.json", {"user_id": "u", "v2": {key: "a", "contexts": {"a": {}}}})
    with pytest.raises(pc.ConfigError, match=r"'a' is the active"):
        pc.plan(path, "a", state="absent")


def test_absent_and_active_together_is_an_error(tmp_path):
    with pytest.raises(pc.ConfigError, match=r"cannot be active and absent"):
        pc.plan(str(tmp_path / "c.json"), "a", state="absent", active=True)


def test_bad_address_is_an_error_naming_the_field(tmp_path):
    with pytest.raises(pc.ConfigError, match=r"^pachd_address: 'grpc://h:80/x' has a path"):
        pc.plan(str(tmp_path / "c.json"), "a", fields={"pachd_address": "grpc://h:80/x"})


def test_server_cas_needs_a_tls_address(tmp_path):
    with pytest.raises(pc.ConfigError, match=r"server_cas: .* not TLS.*grpcs://"):
        pc.plan(str(tmp_path / "c.json"), "a", fields={"pachd_address": "grpc://h:80", "server_cas": PEM})


def test_server_cas_against_an_existing_non_tls_address_is_an_error(tmp_path):
    path = write(
        tmp_path / "c.json", {"user_id": "u", "v2": {"contexts": {"a": {"pachd_address": "grpc://h:80"}}}}
    )
    with pytest.raises(pc.ConfigError, match=r"server_cas"):
        pc.plan(path, "a", fields={"server_cas": PEM})


def test_server_cas_pem_is_stored_as_base64_of_the_pem(tmp_path):
    plan = pc.plan(
        str(tmp_path / "c.json"), "a", fields={"pachd_address": "grpcs://h:443", "server_cas": PEM}
    )
    stored = plan.after["v2"]["contexts"]["a"]["server_cas"]
    assert base64.b64decode(stored).decode() == PEM
    assert "\n" not in stored


def test_server_cas_pem_without_final_newline_matches_the_file_form():
    assert pc.encode_server_cas(PEM.rstrip("\n")) == pc.encode_server_cas(PEM)


def test_server_cas_already_base64_is_kept():
    encoded = base64.b64encode(PEM.encode()).decode()
    assert pc.encode_server_cas(encoded) == encoded


def test_server_cas_that_is_no_certificate_is_an_error():
    with pytest.raises(pc.ConfigError, match=r"^server_cas: .*neither a PEM"):
        pc.encode_server_cas("hello")


@pytest.mark.parametrize(
    "text", ["{not json: [", "[1, 2]", '"a string"', "v2: [1]", '{"v2": {"contexts": [1]}}']
)
def test_bad_file_is_an_error_and_left_untouched(tmp_path, text):
    path = tmp_path / "c.json"
    path.write_text(text)
    with pytest.raises(pc.ConfigError, match=r"left untouched"):
        pc.plan(str(path), "a", fields={"pachd_address": "h:80"})
    assert path.read_text() == text


def test_yaml_file_is_read_as_pachctl_reads_it(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(
        "user_id: u\nv2:\n  active_context: a\n  contexts:\n    a:\n      pachd_address: grpc://h:80\n"
    )
    plan = pc.plan(str(path), "a", fields={"pachd_address": "h:80"})
    assert not plan.content_changed


def test_empty_file_is_an_empty_config(tmp_path):
    path = tmp_path / "c.json"
    path.write_text("")
    plan = pc.plan(str(path), "a", new_user_id=fixed_id)
    assert plan.after["user_id"] == fixed_id()


def test_dump_matches_go_encoding_json():
    doc = {
        "v2": {
            "metrics": True,
            "contexts": {"b": {"project": "p", "source": 3}, "a": {"port_forwarders": {"z": 2, "a": 1}}},
            "active_context": "a",
        },
        "user_id": "u",
    }
    assert pc.dump(doc) == (
        "{\n"
        '  "user_id": "u",\n'
        '  "v2": {\n'
        '    "active_context": "a",\n'
        '    "contexts": {\n'
        '      "a": {\n'
        '        "port_forwarders": {\n'
        '          "a": 1,\n'
        '          "z": 2\n'
        "        }\n"
        "      },\n"
        '      "b": {\n'
        '        "source": 3,\n'
        '        "project": "p"\n'
        "      }\n"
        "    },\n"
        '    "metrics": true\n'
        "  }\n"
        "}\n"
    )


def test_dump_escapes_html_characters_as_go_does():
    assert pc.dump({"user_id": "<a&b>"}) == '{\n  "user_id": "\\u003ca\\u0026b\\u003e"\n}\n'


def test_secrets_are_masked_in_the_diff(tmp_path):
    path = write(
        tmp_path / "c.json", {"user_id": "u", "v2": {"contexts": {"a": {"session_token": "old-secret"}}}}
    )
    plan = pc.plan(path, "a", fields={"session_token": "new-secret"})
    diff = pc.diff(path, plan.before, plan.after)
    text = diff["before"] + diff["after"]
    assert "secret" not in text
    assert pc.MASK_CHANGED in diff["after"]


def test_unchanged_secret_is_masked_without_a_change_mark(tmp_path):
    path = write(tmp_path / "c.json", {"user_id": "u", "v2": {"contexts": {"a": {"session_token": "s3"}}}})
    plan = pc.plan(path, "a", fields={"project": "p"})
    assert plan.context("a")["session_token"] == pc.MASK
    assert pc.MASK_CHANGED not in pc.diff(path, plan.before, plan.after)["after"]


def test_write_creates_missing_directories_0700_and_the_file_0600(tmp_path):
    path = tmp_path / "a" / "b" / "config.json"
    pc.write_atomically(str(path), "{}\n")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "a").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "a" / "b").stat().st_mode) == 0o700


def test_write_replaces_the_file_in_one_rename(tmp_path):
    path = tmp_path / "config.json"
    path.write_text("old")
    inode_before = path.stat().st_ino
    pc.write_atomically(str(path), "new")
    assert path.read_text() == "new"
    assert path.stat().st_ino != inode_before
    assert os.listdir(tmp_path) == ["config.json"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "config.json"
    path.write_text("old")

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(pc.os, "replace", broken_replace)
    with pytest.raises(OSError):
        pc.write_atomically(str(path), "new")
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["config.json"]


def test_loose_file_mode_is_a_change(tmp_path):
    path = tmp_path / "c.json"
    first = pc.plan(str(path), "a")
    pc.write_atomically(str(path), first.text)
    os.chmod(path, 0o644)
    plan = pc.plan(str(path), "a")
    assert not plan.content_changed and plan.mode_changed()
    pc.tighten_modes(str(path))
    assert not pc.plan(str(path), "a").mode_changed()


def test_pachctls_own_directory_is_tightened(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    directory = tmp_path / ".pachyderm"
    directory.mkdir(mode=0o755)
    os.chmod(directory, 0o755)  # noqa: S103 - pachctl's own mode
    path = directory / "config.json"
    pc.write_atomically(str(path), pc.plan(str(path), "a").text)
    assert pc.plan(str(path), "a").mode_changed()
    pc.tighten_modes(str(path))
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700


def test_port_forwarders_must_be_numbers():
    assert pc.port_forwarders({"pachd": "30650"}) == {"pachd": 30650}
    with pytest.raises(pc.ConfigError, match=r"^port_forwarders: 'pachd'"):
        pc.port_forwarders({"pachd": "x"})
