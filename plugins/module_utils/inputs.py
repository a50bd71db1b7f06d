# Copyright: oneport.pachyderm contributors
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""The one root of every input error the collection raises, and the checks every model shares.

Every model's error (MetalLB, cert-manager, pachyderm values, Envoy, edge proxy, pachctl, probes,
downloads, charts) derives from InputError, so a caller catches one type and a reader finds one
contract: the message names the field (the role variable or option path), the bad value and the fix.
A ValueError, so code that already catches ValueError keeps working. Plain Python, no Ansible imports.

The checks below are the only place a host name, a port, a node port, a boolean, a whole number, a
Kubernetes name or a sha256 is judged, so one value is accepted or refused alike by every role. Each
takes the field's name (as the user wrote it) and the model's own error class, and raises it with one
message shape::

    FIELD: VALUE PROBLEM; FIX        (FIELD: 70000 is not a port; give a whole number from 1 to 65535)

Where models legitimately differ (an upstream may be an IP address, a certificate name may be a
wildcard), the difference is an option of the check, never a copy of it.
"""

from __future__ import annotations

import ipaddress
import re


class InputError(ValueError):
    """An input the collection cannot work with; nothing has been changed.

    ``field``, ``value`` and ``fix`` are kept when the raiser passes them, for callers that show them
    apart; the message always carries all three in words.
    """

    def __init__(self, message: str, field: str = "", value=None, fix: str = ""):
        super().__init__(message)
        self.field = field
        self.value = value
        self.fix = fix


def refuse(field: str, value, problem: str, fix: str, error=InputError) -> InputError:
    """The error for ``value`` of ``field``, in the one shape: ``FIELD: VALUE PROBLEM; FIX``."""
    return error(f"{field}: {value!r} {problem}; {fix}", field=field, value=value, fix=fix)


def fail(field: str, value, what: str, fix: str, error=InputError) -> InputError:
    """``FIELD: VALUE is not WHAT; FIX``: the value is not the kind of thing the field takes."""
    return refuse(field, value, f"is not {what}", fix, error)


# What Ansible's own boolean() reads as true or false (module_utils.parsing.convert_bool), so a
# value given with `-e name=yes` means here what it means to Ansible. Matched case-insensitively.
BOOLEAN_TRUE = ("y", "yes", "on", "1", "true", "t")
BOOLEAN_FALSE = ("n", "no", "off", "0", "false", "f")

# How the proxy gets its certificate (oneport_tls), decided here once: every model reads this list and
# every role's argument spec lists the same choices (tests/unit/test_role_argument_specs.py checks).
TLS_MODES = ("off", "self_signed", "acme_http01", "acme_dns01", "existing_secret")
ACME_MODES = ("acme_http01", "acme_dns01")
# The modes cert-manager issues or reads a certificate for (every mode but off).
CERTIFICATE_MODES = TLS_MODES[1:]

NODE_PORTS = (30000, 32767)  # Kubernetes' default --service-node-port-range
_DNS_LABEL = re.compile(r"^[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?$")
_K8S_LABEL = _DNS_LABEL  # RFC 1123 label: a Service, Namespace, MetalLB pool name
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def mapping(value, field: str, error=InputError, example: str = "") -> dict:
    """``value`` as a mapping; None (an unset variable) is the empty mapping."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise fail(
            field, value, "a mapping", f"give key: value pairs{example and ', such as ' + example}", error
        )
    return value


def known_keys(data: dict, field: str, allowed, error=InputError) -> None:
    """Refuse the first key of ``data`` that is not in ``allowed`` (a misspelt key is silently lost)."""
    for key in data:
        if key not in allowed:
            where = f"{field}.{key}" if field else str(key)
            raise error(
                f"{where}: unknown field; the fields here are: {', '.join(allowed)} (check the spelling)",
                field=where,
                value=key,
                fix=f"use one of {', '.join(allowed)}",
            )


def as_integer(value):
    """The int ``value`` stands for when it is one (an int, or the digits `-e` gives), else ``value``
    unchanged: for code that reads a number before the check that judges it (``integer``) runs."""
    if isinstance(value, str) and re.match(r"^\s*[-+]?[0-9]+\s*$", value):
        return int(value)
    return value


def integer(value, field: str, low: int, high: int, what: str = "", error=InputError) -> int:
    """A whole number from ``low`` to ``high``: an int, or the digits `-e name=30080` gives.

    Booleans are refused (YAML's ``yes`` is not 1), and so is anything with a fraction.
    """
    number = as_integer(value)
    if isinstance(value, float) and value.is_integer():
        number = int(value)
    if isinstance(number, bool) or not isinstance(number, int) or not low <= number <= high:
        raise fail(field, value, what or "a whole number", f"give a whole number from {low} to {high}", error)
    return number


def port(value, field: str, error=InputError, closed: bool = False) -> int:
    """A TCP port, 1-65535; with ``closed``, 0 (or false) too, meaning the port is not opened."""
    if closed and value in (0, False, "0"):
        return 0
    fix = " (0 turns it off)" if closed else ""
    return integer(value, field, 0 if closed else 1, 65535, f"a port{fix}", error)


def node_port(
    value, field: str, error=InputError, low: int = NODE_PORTS[0], high: int = NODE_PORTS[1]
) -> int:
    """A Kubernetes node port: in the cluster's node-port range (30000-32767 unless told)."""
    return integer(value, field, low, high, f"a node port ({low}-{high})", error)


def boolean(value, field: str, error=InputError) -> bool:
    """True or false: a YAML boolean, or a word Ansible reads as one (`-e name=yes` gives a string).

    The integers 1 and 0 count, as they do for Ansible; any other value is refused, not guessed at.
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in BOOLEAN_TRUE:
            return True
        if word in BOOLEAN_FALSE:
            return False
    raise fail(field, value, "true or false", "give true or false (yes/no and on/off are read too)", error)


def is_ip(text) -> bool:
    """Whether ``text`` is an IPv4 or IPv6 address (without brackets)."""
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def dns_name(
    value,
    field: str,
    error=InputError,
    *,
    ip: bool = False,
    wildcard: bool = False,
    trailing_dot: bool = False,
    example: str = "pachyderm.example.com",
) -> str:
    """A DNS name (RFC 1123 labels of letters, digits and '-'), returned lower-case.

    Options, for the fields that legitimately take more:

    - ``ip``: an IPv4 or IPv6 address is accepted too (brackets around IPv6 dropped), returned as written
      in its compressed form;
    - ``wildcard``: a leading ``*.`` label, as a certificate's DNS names may have;
    - ``trailing_dot``: an absolute name (``example.com.``), for names a resolver looks up; the dot is
      dropped. Names that end up in a URL or a certificate take none.
    """
    what = "an IP address or DNS name" if ip else "a valid DNS name"
    fix = f"use letters, digits, '-' and dots, for example {example}"
    if ip:
        fix += " or 203.0.113.10"
    if not isinstance(value, str) or not value.strip():
        raise fail(field, value, what, fix, error)
    text = value.strip()
    if ip:
        bare = text[1:-1] if text.startswith("[") and text.endswith("]") else text
        if is_ip(bare):
            return ipaddress.ip_address(bare).compressed
    if not ip and is_ip(text):
        raise fail(field, value, what, f"this field takes a DNS name, not an IP address: {fix}", error)
    name = text.lower()
    if trailing_dot and name.endswith("."):
        name = name[:-1]
    prefix = ""
    if wildcard and name.startswith("*."):
        prefix, name = "*.", name[2:]
    if ":" in name or "/" in name:
        raise fail(
            field,
            value,
            what,
            f"give only the host, without a scheme or path (put the port in the port field); {fix}",
            error,
        )
    if len(prefix + name) > 253 or not all(_DNS_LABEL.match(label) for label in name.split(".")):
        raise fail(field, value, what, fix, error)
    return prefix + name


def external_host(value, field: str, error=InputError, acme: bool = False):
    """The host clients use to reach the one port: ``(name, port)`` from ``NAME`` or ``NAME:PORT``.

    The name is a DNS name or an IP address (lower-case, no wildcard, no trailing dot: it goes into
    URLs and certificates); an IPv6 address would need brackets in every URL and is refused. ``port``
    is None when not given. With ``acme`` (an ACME CA issues the certificate) an IP address is refused:
    ACME CAs sign DNS names only. The pachyderm and cert_manager roles both read oneport_proxy_host
    with this, so a host one accepts the other accepts too.
    """
    if not isinstance(value, str):
        raise fail(field, value, "an IP address or DNS name", "for example pachyderm.example.com", error)
    text = value.strip()
    if "://" in text or "/" in text:
        raise refuse(
            field,
            value,
            "has a scheme or path",
            "give the bare host name, for example pachyderm.example.com",
            error,
        )
    if text.count(":") > 1:
        raise fail(
            field,
            value,
            "an IP address or DNS name",
            "an IPv6 address would need brackets in URLs: use a DNS name",
            error,
        )
    name, colon, given_port = text.partition(":")
    name = dns_name(name, field, error, ip=True)
    number = port(given_port, f"{field} port", error) if colon else None
    if acme and is_ip(name):
        raise fail(
            field,
            value,
            "a DNS name",
            "ACME issues certificates for DNS names only; use a host name, or oneport_tls: self_signed",
            error,
        )
    return name, number


def k8s_name(value, field: str, error=InputError, label: bool = False, empty: bool = False) -> str:
    """A Kubernetes object name: a DNS-1123 subdomain (Secrets, ...), or with ``label`` a DNS-1123
    label (at most 63 characters, no dots: Services, namespaces). ``empty`` accepts "" (not set)."""
    text = value.strip() if isinstance(value, str) else value
    if empty and text in ("", None):
        return ""
    if label:
        ok = isinstance(text, str) and bool(_K8S_LABEL.match(text))
        what, fix = "a Kubernetes name", "use lower-case letters, digits and '-' (at most 63 characters)"
    else:
        ok = (
            isinstance(text, str)
            and len(text) <= 253
            and all(_DNS_LABEL.match(part) for part in text.split("."))
        )
        what, fix = "a Kubernetes name", "use lower-case letters, digits, '-' and '.'"
    if not ok:
        raise fail(field, value, what, fix, error)
    return text


def sha256(
    value, field: str, error=InputError, fix: str = "give the 64 lower-case hex digits (sha256sum)"
) -> str:
    """A sha256 digest: 64 lower-case hexadecimal digits."""
    if not isinstance(value, str) or not _SHA256.match(value):
        raise fail(field, value, "a sha256", fix, error)
    return value


def one_of(value, field: str, choices, error=InputError, what: str = "supported"):
    """``value`` if it is one of ``choices``."""
    if value not in choices:
        listed = ", ".join(repr(c) if c == "" else str(c) for c in choices)
        raise fail(field, value, what, f"use one of: {listed}", error)
    return value


def role_input(inputs: dict, name: str, role: str, error=InputError, variable: str = ""):
    """The role variable ``<role>_<name>`` as the role passed it in ``inputs``.

    The role's defaults/main.yml (documented in its argument specs) decides every default, and the role
    passes every variable to the model, so a missing key is a programming error, never a reason to
    guess: the model keeps no second copy of a default. ``variable`` names the role variable when it is
    not ``<role>_<name>``. A null value (``name:`` left empty in an
    inventory) is refused the same way, with the fix.
    """
    field = variable or f"{role}_{name}"
    if name not in inputs:
        raise error(
            f"{field}: missing from the model inputs; the {role} role passes every variable "
            f"(roles/{role}/vars/main.yml), so a caller must pass {name!r} too",
            field=field,
        )
    value = inputs[name]
    if value is None:
        raise refuse(
            field, value, "is empty", f"give a value, or leave {field} out to use the role's default", error
        )
    return value
