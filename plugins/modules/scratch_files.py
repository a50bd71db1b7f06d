#!/usr/bin/python
# Copyright: oneport.pachyderm contributors
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)

from __future__ import annotations

DOCUMENTATION = r"""
module: scratch_files
short_description: Write private files for one run into a new scratch directory, in one step
version_added: 1.2.0
description:
  - Creates a new directory only the user can enter (mode C(0700)) under the system's temporary
    directory and writes every file of O(files) into it with its own mode, then returns the directory.
    The caller removes it when done (O(state=absent)).
  - Meant for what a command must read from files but never from its command line - chart values that
    carry credentials, a post-renderer script - so one task replaces a tempfile task and a copy task
    per file.
  - The file contents are never logged. Nothing outside the new directory is read or changed, so the
    module runs in check mode too and never reports a change.
author:
  - oneport.pachyderm contributors (@oneport)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: The scratch directory is written in check mode too; it is private to the run.
  diff_mode:
    support: none
  platform:
    platforms: posix
options:
  state:
    description:
      - V(present) creates a new directory and writes O(files) into it.
      - V(absent) removes O(path) and everything in it; a missing O(path) is not an error.
    type: str
    choices: [present, absent]
    default: present
  files:
    description:
      - File name (a plain name, no directory part) to a dictionary with the file's C(content) (text,
        required) and C(mode) (an octal string, default V(0600)).
      - Used with O(state=present).
    type: dict
    default: {}
  prefix:
    description: The start of the directory's name.
    type: str
    default: oneport-
  path:
    description: The directory to remove; required with O(state=absent).
    type: path
seealso:
  - module: ansible.builtin.tempfile
"""

EXAMPLES = r"""
- name: Put the values and a post-renderer where helm reads them
  oneport.pachyderm.scratch_files:
    prefix: oneport-pachyderm-
    files:
      values.yaml:
        content: "{{ values | to_nice_yaml }}"
      post-renderer:
        content: "#!/bin/sh\nexec cat\n"
        mode: "0700"
  register: scratch

- name: Remove it when done
  oneport.pachyderm.scratch_files:
    state: absent
    path: "{{ scratch.path }}"
"""

RETURN = r"""
path:
  description: The scratch directory (with O(state=present)) or the one removed.
  returned: success
  type: str
files:
  description: The names of the files written, sorted.
  returned: with O(state=present)
  type: list
  elements: str
"""

import os  # noqa: E402 - after the documentation
import shutil  # noqa: E402
import tempfile  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

from ansible_collections.oneport.pachyderm.plugins.module_utils.inputs import InputError  # noqa: E402


def _mode(name, text):
    try:
        mode = int(text, 8)
    except (TypeError, ValueError):
        mode = -1
    if not 0 <= mode <= 0o777:
        raise InputError(f"files.{name}.mode: {text!r} is not an octal file mode; write it like '0600'")
    return mode


def write(files, prefix):
    """Create the directory and write ``files`` into it; returns its path. Refuses before writing."""
    modes = {}
    for name, spec in files.items():
        if not name or os.sep in name or name in (".", ".."):
            raise InputError(f"files: {name!r} is not a plain file name; give one with no directory part")
        modes[name] = _mode(name, spec.get("mode") or "0600")
    path = tempfile.mkdtemp(prefix=prefix)  # 0700, owned by the user
    try:
        for name, spec in sorted(files.items()):
            target = os.path.join(path, name)
            descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w") as handle:
                handle.write(spec["content"])
            os.chmod(target, modes[name])
    except OSError:
        shutil.rmtree(path, ignore_errors=True)
        raise
    return path


def main():
    module = AnsibleModule(
        argument_spec={
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
            "files": {
                "type": "dict",
                "default": {},
                "no_log": True,
            },
            "prefix": {"type": "str", "default": "oneport-"},
            "path": {"type": "path"},
        },
        required_if=[("state", "absent", ["path"])],
        supports_check_mode=True,
    )
    params = module.params
    if params["state"] == "absent":
        shutil.rmtree(params["path"], ignore_errors=True)
        module.exit_json(changed=False, path=params["path"])
    files = params["files"]
    for name, spec in files.items():
        if not isinstance(spec, dict) or not isinstance(spec.get("content"), str):
            module.fail_json(
                msg=f"files.{name} needs content (a string) and may have a mode; got {type(spec).__name__}"
            )
    try:
        path = write(files, params["prefix"])
    except (ValueError, OSError) as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=False, path=path, files=sorted(files))


if __name__ == "__main__":
    main()
