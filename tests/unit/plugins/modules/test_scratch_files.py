"""The scratch_files module, run in-process: one private directory with every file, and its removal."""

from __future__ import annotations

import json
import os
import stat

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.oneport.pachyderm.plugins.modules import scratch_files


def run(capsys, **args):
    """Run the module with ``args``; returns its JSON result."""
    with patch_module_args(args), pytest.raises(SystemExit):
        scratch_files.main()
    return json.loads(capsys.readouterr().out)


@pytest.fixture
def tmpdir_env(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(scratch_files.tempfile, "tempdir", None)
    return tmp_path


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_writes_every_file_with_its_mode_into_a_private_directory(capsys, tmpdir_env):
    result = run(
        capsys,
        prefix="oneport-test-",
        files={
            "values.yaml": {"content": "password: s3cret\n"},
            "post-renderer": {"content": "#!/bin/sh\nexec cat\n", "mode": "0700"},
        },
    )
    path = result["path"]
    assert os.path.dirname(path) == str(tmpdir_env)
    assert os.path.basename(path).startswith("oneport-test-")
    assert mode(path) == 0o700
    assert result["files"] == ["post-renderer", "values.yaml"]
    assert result["changed"] is False
    with open(os.path.join(path, "values.yaml")) as handle:
        assert handle.read() == "password: s3cret\n"
    assert mode(os.path.join(path, "values.yaml")) == 0o600
    assert mode(os.path.join(path, "post-renderer")) == 0o700


def test_contents_never_reach_the_result(capsys, tmpdir_env):
    result = run(capsys, files={"values.yaml": {"content": "token: abc123"}})
    assert "abc123" not in json.dumps(result)


def test_each_run_gets_its_own_directory(capsys, tmpdir_env):
    first = run(capsys, files={"a": {"content": "1"}})["path"]
    second = run(capsys, files={"a": {"content": "2"}})["path"]
    assert first != second


@pytest.mark.parametrize(
    ("name", "spec", "message"),
    [
        ("../escape", {"content": "x"}, "plain file name"),
        ("sub/file", {"content": "x"}, "plain file name"),
        ("values.yaml", {"content": "x", "mode": "rw"}, "files.values.yaml.mode: "),
        ("values.yaml", {"content": "x", "mode": "1777"}, "not an octal file mode"),
        ("values.yaml", {"mode": "0600"}, "files.values.yaml needs content"),
    ],
)
def test_bad_files_are_refused_before_anything_is_written(capsys, tmpdir_env, name, spec, message):
    result = run(capsys, files={name: spec})
    assert result["failed"] is True
    assert message in result["msg"]
    assert list(tmpdir_env.iterdir()) == []


def test_absent_removes_the_directory_and_tolerates_a_missing_one(capsys, tmpdir_env):
    path = run(capsys, files={"a": {"content": "1"}})["path"]
    assert run(capsys, state="absent", path=path)["path"] == path
    assert not os.path.exists(path)
    assert "failed" not in run(capsys, state="absent", path=path)


def test_absent_needs_a_path(capsys, tmpdir_env):
    result = run(capsys, state="absent")
    assert result["failed"] is True
    assert "path" in result["msg"]
