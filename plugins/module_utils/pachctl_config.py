# Copyright: oneport.pachyderm contributors
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""pachctl's config file, read and written as pachctl 2.12 does, keeping what it does not know.

The rules mirror pachctl's ``src/internal/config/config.go`` and ``config.proto``:

- The path is ``$PACH_CONFIG``, else ``~/.pachyderm/config.json`` (``configPath``).
- The file is YAML or JSON (``serde.Decode``); an empty file is an empty config.
- A config without ``user_id`` gets a random UUID without dashes; one without ``v2`` gets
  ``{active_context: default, contexts: {default: {}}, metrics: true}`` (``InitV2``), with a
  ``v1`` config moved into the ``default`` context.
- pachctl writes the file with Go's ``encoding/json`` on the generated structs: two-space
  indent, fields in proto order, empty fields left out, map keys sorted, ``<``, ``>``, ``&``
  escaped, the enum ``source`` as a number, and a final newline (``serde.EncodeJSON``).

Unlike pachctl, fields this model does not know are kept where they are, and the file is always
written 0600 in a 0700 directory.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
import os
import tempfile
import uuid
from typing import Any, Dict, Optional

from ansible_collections.oneport.pachyderm.plugins.module_utils.inputs import InputError
from ansible_collections.oneport.pachyderm.plugins.module_utils.pachd_address import (
    PachdAddressError,
    parse_pachd_address,
)

FILE_MODE = 0o600
DIR_MODE = 0o700
MASK = "********"
MASK_CHANGED = "******** (changed)"

TOP_FIELDS = ("user_id", "v1", "v2")
V2_FIELDS = ("active_context", "active_enterprise_context", "contexts", "metrics", "max_shell_completions")
CONTEXT_FIELDS = (
    "source",
    "pachd_address",
    "server_cas",
    "session_token",
    "active_transaction",
    "cluster_name",
    "auth_info",
    "namespace",
    "port_forwarders",
    "cluster_deployment_id",
    "enterprise_server",
    "project",
)
SECRET_FIELDS = ("session_token",)
CONTEXT_SOURCES = {"NONE": 0, "CONFIG_V1": 1, "HUB": 2, "IMPORTED": 3}


class ConfigError(InputError):
    """A config file or input pachctl would refuse; nothing has been written."""


def config_path(path: Optional[str] = None, environ: Optional[Dict[str, str]] = None) -> str:
    """The file to manage: ``path``, else ``$PACH_CONFIG``, else ``~/.pachyderm/config.json``."""
    environ = os.environ if environ is None else environ
    if path:
        return os.path.expanduser(path)
    if environ.get("PACH_CONFIG"):
        return environ["PACH_CONFIG"]
    return os.path.join(os.path.expanduser("~"), ".pachyderm", "config.json")


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def parse(text: str, path: str = "config") -> Dict[str, Any]:
    """The config held in ``text`` (JSON or YAML, as pachctl reads it); ``{}`` when empty."""
    if text.strip() == "":
        return {}
    try:
        doc = json.loads(text)
    except ValueError as json_error:
        try:
            import yaml
        except ImportError:  # pragma: no cover - PyYAML ships with ansible-core
            raise ConfigError(
                f"{path}: not valid JSON ({json_error}) and PyYAML is missing to read it as YAML; "
                "it was left untouched: fix or remove it"
            ) from None
        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError as yaml_error:
            raise ConfigError(
                f"{path}: neither valid JSON nor YAML ({' '.join(str(yaml_error).split())}); it was "
                "left untouched: fix it, or move it away to start a new one"
            ) from None
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise ConfigError(
            f"{path}: holds a {type(doc).__name__}, not pachctl's config object; it was left untouched: "
            "fix it or move it away"
        )
    for key, kind in (("v2", dict),):
        if doc.get(key) is not None and not isinstance(doc[key], kind):
            raise ConfigError(f"{path}: {key} is not an object; it was left untouched: fix it")
    v2 = doc.get("v2") or {}
    if v2.get("contexts") is not None and not isinstance(v2["contexts"], dict):
        raise ConfigError(f"{path}: v2.contexts is not an object; it was left untouched: fix it")
    for name, context in (v2.get("contexts") or {}).items():
        if context is not None and not isinstance(context, dict):
            raise ConfigError(f"{path}: context {name!r} is not an object; it was left untouched: fix it")
    return doc


def initialize(doc: Dict[str, Any], new_user_id=None) -> bool:
    """Fill ``user_id`` and ``v2`` as pachctl does on its first read; True when anything changed."""
    changed = False
    if not doc.get("user_id"):
        doc["user_id"] = new_user_id() if new_user_id else uuid.uuid4().hex
        changed = True
    if not doc.get("v2"):
        v2 = {"active_context": "default", "contexts": {}, "metrics": True}
        v1 = doc.pop("v1", None)
        if isinstance(v1, dict):
            default = {"source": CONTEXT_SOURCES["CONFIG_V1"]}
            for key in ("pachd_address", "server_cas", "session_token", "active_transaction"):
                if v1.get(key):
                    default[key] = v1[key]
            v2["contexts"]["default"] = default
        else:
            v2["contexts"]["default"] = {}
        doc["v2"] = v2
        changed = True
    if doc["v2"].get("contexts") is None:
        doc["v2"]["contexts"] = {}
    return changed


def _same(field: str, current: Any, wanted: Any) -> bool:
    if field == "source":
        current = CONTEXT_SOURCES.get(current, current)
    if field == "port_forwarders" and isinstance(current, dict):
        return {str(k): v for k, v in current.items()} == wanted
    return current == wanted


def _empty(value: Any) -> bool:
    return value in ("", 0, False, None) or value == {}


def upsert_context(doc: Dict[str, Any], name: str, fields: Dict[str, Any]) -> bool:
    """Set the given fields of context ``name``, creating it; other fields stay. True if changed.

    A field set to its empty value is removed, as pachctl never writes empty fields.
    """
    contexts = doc["v2"]["contexts"]
    created = name not in contexts or contexts[name] is None
    context = contexts[name] if not created else {}
    changed = created
    for field, wanted in fields.items():
        if wanted is None:
            continue
        alias = _camel(field)
        if alias != field and alias in context:
            # protojson accepts camelCase too, but refuses both spellings in one object.
            context.setdefault(field, context.pop(alias))
            changed = True
        if _empty(wanted):
            if field in context:
                del context[field]
                changed = True
        elif field not in context or not _same(field, context[field], wanted):
            context[field] = wanted
            changed = True
    contexts[name] = context
    return changed


def remove_context(doc: Dict[str, Any], name: str) -> bool:
    """Delete context ``name``; refuses the active one, as ``pachctl config delete context`` does."""
    v2 = doc["v2"]
    if name not in v2["contexts"]:
        return False
    for key in ("active_context", "active_enterprise_context"):
        if v2.get(key) == name:
            raise ConfigError(
                "name: {!r} is the {}, which pachctl cannot delete; make another context active first "
                "(active: true on it) or keep this one".format(name, key.replace("_", " "))
            )
    del v2["contexts"][name]
    return True


def set_active(doc: Dict[str, Any], name: str, active: Optional[bool], key: str = "active_context") -> bool:
    """Make ``name`` the active (or active enterprise) context, or stop it being so; True if changed."""
    if active is None:
        return False
    v2 = doc["v2"]
    current = v2.get(key, "")
    if active and current != name:
        v2[key] = name
        return True
    if not active and current == name:
        v2.pop(key, None)
        return True
    return False


def encode_server_cas(pem: str, field: str = "server_cas") -> str:
    """``server_cas`` as pachctl reads it: the PEM bytes in standard base64, on one line.

    A value that is already base64 of a PEM is kept as given.
    """
    text = pem.strip() if isinstance(pem, str) else ""
    if "-----BEGIN CERTIFICATE-----" in text:
        data = pem.encode("utf-8")
        if not pem.endswith("\n"):
            data += b"\n"
        return base64.b64encode(data).decode("ascii")
    try:
        decoded = base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        decoded = b""
    if b"-----BEGIN CERTIFICATE-----" in decoded:
        return "".join(text.split())
    raise ConfigError(
        f"{field}: the value is neither a PEM certificate nor base64 of one; give the CA bundle's PEM "
        "text (-----BEGIN CERTIFICATE-----...), or a file with server_cas_file"
    )


def check_context(name: str, context: Dict[str, Any]) -> None:
    """Refuse what pachctl would refuse when it connects with this context."""
    address = context.get("pachd_address") or context.get("pachdAddress") or ""
    parsed = None
    if address:
        try:
            parsed = parse_pachd_address(address)
        except PachdAddressError as exc:
            # The address error already reads FIELD: VALUE PROBLEM; FIX: name the context after it.
            message = f"{exc} (context {name!r})"
            raise ConfigError(message, field=exc.field, value=exc.value, fix=exc.fix) from None
    if (context.get("server_cas") or context.get("serverCas")) and not (parsed and parsed.secured):
        raise ConfigError(
            f"server_cas: set for context {name!r} whose pachd_address {address!r} is not TLS; pachctl "
            "requires grpcs://HOST:PORT (or https://) when server_cas is set: use a grpcs:// address or drop "
            "server_cas"
        )


def _ordered(mapping: Dict[str, Any], known) -> Dict[str, Any]:
    result = {key: mapping[key] for key in known if key in mapping}
    result.update((key, value) for key, value in mapping.items() if key not in result)
    return result


def _canonical(doc: Dict[str, Any]) -> Dict[str, Any]:
    doc = _ordered(doc, TOP_FIELDS)
    if isinstance(doc.get("v2"), dict):
        v2 = _ordered(doc["v2"], V2_FIELDS)
        if isinstance(v2.get("contexts"), dict):
            contexts = {}
            for name in sorted(v2["contexts"]):
                context = v2["contexts"][name]
                if isinstance(context, dict):
                    context = _ordered(context, CONTEXT_FIELDS)
                    if isinstance(context.get("port_forwarders"), dict):
                        forwarders = context["port_forwarders"]
                        context["port_forwarders"] = {k: forwarders[k] for k in sorted(forwarders)}
                contexts[name] = context
            v2["contexts"] = contexts
        doc["v2"] = v2
    return doc


def dump(doc: Dict[str, Any]) -> str:
    """The file's text, formatted byte for byte as pachctl writes it."""
    text = json.dumps(_canonical(doc), indent=2, ensure_ascii=False, separators=(",", ": "))
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(char, escaped)
    text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return text + "\n"


def masked(doc: Dict[str, Any], reference: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """A copy of ``doc`` with every secret replaced by a mask; changed ones say so."""
    result = copy.deepcopy(doc)
    before = ((reference or {}).get("v2") or {}).get("contexts") or {}
    for name, context in ((result.get("v2") or {}).get("contexts") or {}).items():
        if not isinstance(context, dict):
            continue
        old = before.get(name) if isinstance(before.get(name), dict) else {}
        for field in SECRET_FIELDS:
            for key in (field, _camel(field)):
                if context.get(key):
                    differs = reference is not None and old.get(key) != context[key]
                    context[key] = MASK_CHANGED if differs else MASK
    return result


def diff(path: str, before: Optional[Dict[str, Any]], after: Dict[str, Any]) -> Dict[str, str]:
    """Ansible's diff of the file, secrets masked."""
    return {
        "before_header": path,
        "after_header": path,
        "before": dump(masked(before)) if before is not None else "",
        "after": dump(masked(after, before or {})),
    }


def read_file(path: str) -> Optional[str]:
    """The file's text, or None when it does not exist."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read ({exc.strerror}); check its permissions") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text; it was left untouched: fix it or move it away") from None


def _make_dirs(directory: str) -> None:
    missing = []
    while directory and not os.path.isdir(directory):
        missing.append(directory)
        directory = os.path.dirname(directory)
    for created in reversed(missing):
        os.mkdir(created, DIR_MODE)
        os.chmod(created, DIR_MODE)  # mkdir's mode is cut by the umask


def write_atomically(path: str, text: str) -> None:
    """Replace ``path`` with ``text`` in one rename: readers see the old or the new file, never half.

    The file is 0600 and keeps the owner of the file it replaces; missing directories are 0700.
    """
    directory = os.path.dirname(os.path.abspath(path))
    _make_dirs(directory)
    try:
        owner = os.stat(path)
    except FileNotFoundError:
        owner = None
    handle, temporary = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", dir=directory)
    try:
        with os.fdopen(handle, "wb") as out:
            os.fchmod(out.fileno(), FILE_MODE)
            if owner is not None and hasattr(os, "geteuid") and os.geteuid() == 0:
                os.fchown(out.fileno(), owner.st_uid, owner.st_gid)
            out.write(text.encode("utf-8"))
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
    dir_handle = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_handle)
    finally:
        os.close(dir_handle)


def default_dir(path: str) -> bool:
    """Whether ``path`` lives in pachctl's own directory ``~/.pachyderm``, which we keep 0700."""
    home_dir = os.path.join(os.path.expanduser("~"), ".pachyderm")
    return os.path.abspath(os.path.dirname(path)) == os.path.abspath(home_dir)


class Plan:
    """What one run does to the file: the documents before and after, and whether to write."""

    def __init__(self, path: str, before: Optional[Dict[str, Any]], after: Dict[str, Any], text: str):
        self.path = path
        self.before = before
        self.after = after
        self.text = text
        self.content_changed = text != (dump(before) if before is not None else None)

    def mode_changed(self) -> bool:
        """Whether the existing file (or pachctl's directory) has looser permissions than ours."""
        try:
            if os.stat(self.path).st_mode & 0o777 != FILE_MODE:
                return True
        except FileNotFoundError:
            return False
        directory = os.path.dirname(os.path.abspath(self.path))
        return default_dir(self.path) and os.stat(directory).st_mode & 0o777 != DIR_MODE

    def context(self, name: str) -> Optional[Dict[str, Any]]:
        """Context ``name`` after the run, secrets masked."""
        return masked(self.after)["v2"]["contexts"].get(name)


def plan(
    path: str,
    name: str,
    state: str = "present",
    fields: Optional[Dict[str, Any]] = None,
    active: Optional[bool] = None,
    active_enterprise: Optional[bool] = None,
    new_user_id=None,
) -> Plan:
    """Work out the file's new content; raises ConfigError before anything is written."""
    if not name:
        raise ConfigError("name: the context name is empty; give the name pachctl should show")
    if state == "absent" and (active or active_enterprise):
        raise ConfigError(
            f"state: 'absent' with active/active_enterprise set, but context {name!r} cannot be active "
            "and absent; drop one of them"
        )
    fields = dict(fields or {})
    if fields.get("pachd_address"):
        try:
            fields["pachd_address"] = parse_pachd_address(fields["pachd_address"]).qualified
        except PachdAddressError as exc:
            raise ConfigError(str(exc)) from None
    if fields.get("server_cas"):
        fields["server_cas"] = encode_server_cas(fields["server_cas"])
    if isinstance(fields.get("source"), str):
        fields["source"] = CONTEXT_SOURCES[fields["source"]]

    text = read_file(path)
    before = parse(text, path) if text is not None else None
    after = copy.deepcopy(before) if before is not None else {}
    initialize(after, new_user_id)
    if state == "absent":
        remove_context(after, name)
    else:
        upsert_context(after, name, fields)
        check_context(name, after["v2"]["contexts"][name])
        set_active(after, name, active)
        set_active(after, name, active_enterprise, "active_enterprise_context")
    result = Plan(path, before, after, dump(after))
    if state == "absent" and name not in ((before or {}).get("v2") or {}).get("contexts", {}):
        # Nothing to remove: leave a missing or uninitialised file alone.
        result.content_changed = False
    return result


def port_forwarders(value: Dict[str, Any]) -> Dict[str, int]:
    """``port_forwarders`` as pachctl keeps it: service name to a port number (uint32)."""
    result = {}
    for service, port in value.items():
        try:
            number = int(port)
        except (TypeError, ValueError):
            number = -1
        if isinstance(port, bool) or not 0 <= number <= 0xFFFFFFFF or str(number) != str(port).strip():
            raise ConfigError(
                f"port_forwarders: {service!r} has the port {port!r}, not a number; give SERVICE: PORT, "
                "e.g. pachd: 30650"
            )
        result[str(service)] = number
    return result


def tighten_modes(path: str) -> None:
    """The file 0600, and pachctl's own directory 0700 (pachctl creates it 0755)."""
    os.chmod(path, FILE_MODE)
    if default_dir(path):
        os.chmod(os.path.dirname(os.path.abspath(path)), DIR_MODE)
