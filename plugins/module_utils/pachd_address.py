# Copyright: oneport.pachyderm contributors
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""pachd addresses, parsed and written exactly as pachctl 2.12 does.

pachctl's rules live in ``src/internal/grpcutil/addr.go`` (``ParsePachdAddress`` and
``PachdAddress.Qualified``) on top of Go's ``net/url.Parse``. This module mirrors both, so an
address this module accepts is one pachctl accepts, and the normalised form is the one pachctl
stores (it rewrites any other form the next time it reads its config file).
"""

from __future__ import annotations

import ipaddress
import re
from typing import NamedTuple, Optional

from ansible_collections.oneport.pachyderm.plugins.module_utils import inputs as check
from ansible_collections.oneport.pachyderm.plugins.module_utils.inputs import InputError

DEFAULT_PACHD_PORT = 30650
"""pachd's NodePort; pachctl uses it whenever an address has no port, whatever the scheme."""

SCHEMES = ("grpc", "grpcs", "http", "https", "unix")
SECURE_SCHEMES = ("grpcs", "https")

# Bytes Go's url.Parse accepts unescaped in a host name (net/url shouldEscape, encodeHost mode);
# every byte >= 0x80 is accepted too.
_HOST_BYTES = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789" + "!\"$&'()*+,;=:[]<>-_.~"
)


class PachdAddressError(InputError):
    """An address pachctl would refuse; the message names the field, the value and the fix."""


class PachdAddress(NamedTuple):
    """A parsed address: what pachctl keeps of it."""

    secured: bool
    host: str
    port: int
    unix_socket: str = ""

    @property
    def qualified(self) -> str:
        """The form pachctl stores in its config file (``PachdAddress.Qualified``)."""
        if self.secured:
            return f"grpcs://{self.host}:{self.port}"
        if self.unix_socket:
            return self.unix_socket
        return f"grpc://{self.host}:{self.port}"


def _fail(field: str, value: str, problem: str, fix: str) -> PachdAddressError:
    return PachdAddressError(f"{field}: {value!r} {problem}; {fix}")


_FIX = "write it as SCHEME://HOST:PORT with SCHEME one of grpc, grpcs, http, https (or unix://PATH)"


def _check_escapes(text: str, field: str, value: str) -> None:
    """Go's unescape in host mode: %XX must be hex, and may only encode non-ASCII bytes or %25."""
    i = 0
    while i < len(text):
        char = text[i]
        if char == "%":
            triple = text[i : i + 3]
            if len(triple) < 3 or not all(c in "0123456789abcdefABCDEF" for c in triple[1:]):
                raise _fail(field, value, f"has an invalid escape {triple!r} in its host", _FIX)
            if int(triple[1], 16) < 8 and triple != "%25":
                raise _fail(field, value, f"escapes an ASCII character {triple!r} in its host", _FIX)
            i += 3
            continue
        if ord(char) < 0x80 and char not in _HOST_BYTES:
            raise _fail(field, value, f"has the character {char!r} in its host name", _FIX)
        i += 1


def _valid_optional_port(colon_port: str) -> bool:
    return colon_port == "" or (colon_port[0] == ":" and all("0" <= c <= "9" for c in colon_port[1:]))


def _unescape(text: str) -> str:
    if "%" not in text:
        return text
    raw = bytearray()
    i = 0
    while i < len(text):
        if text[i] == "%":
            raw.append(int(text[i + 1 : i + 3], 16))
            i += 3
        else:
            raw.extend(text[i].encode("utf-8"))
            i += 1
    return raw.decode("utf-8", errors="surrogateescape")


def _parse_host(host: str, field: str, value: str) -> str:
    """Go's net/url parseHost."""
    open_bracket = host.rfind("[")
    if open_bracket > 0:
        raise _fail(field, value, "has '[' inside its host", "put brackets only around an IPv6 address")
    if open_bracket == 0:
        close_bracket = host.rfind("]")
        if close_bracket < 0:
            raise _fail(field, value, "has no ']' after its IPv6 address", "write [IPV6]:PORT")
        colon_port = host[close_bracket + 1 :]
        if not _valid_optional_port(colon_port):
            raise _fail(field, value, f"has an invalid port {colon_port!r}", "the port must be digits")
        literal = host[1:close_bracket]
        zone_at = literal.find("%25")
        _check_escapes(literal if zone_at < 0 else literal[:zone_at], field, value)
        address = _unescape(literal)
        try:
            parsed = ipaddress.ip_address(address)
        except ValueError:
            raise _fail(field, value, f"has {address!r} in brackets, not an IPv6 address", _FIX) from None
        if parsed.version == 4:
            raise _fail(field, value, "puts an IPv4 address in brackets", "drop the brackets")
        return "[" + address + "]" + colon_port
    # Colons inside the host are accepted: the port is what follows the last one (a module whose
    # go.mod says go < 1.26, as pachctl's does, keeps Go's lax urlstrictcolons default).
    last_colon = host.rfind(":")
    if last_colon >= 0:
        colon_port = host[last_colon:]
        if not _valid_optional_port(colon_port):
            raise _fail(field, value, f"has an invalid port {colon_port[1:]!r}", "the port must be digits")
    _check_escapes(host, field, value)
    return _unescape(host)


def _split_host_port(host: str):
    """Go's URL.Hostname() and URL.Port()."""
    if host.startswith("["):
        close_bracket = host.find("]")
        hostname = host[1:close_bracket]
        rest = host[close_bracket + 1 :]
        return hostname, rest[1:] if rest.startswith(":") else ""
    colon = host.rfind(":")
    if colon >= 0 and _valid_optional_port(host[colon:]):
        return host[:colon], host[colon + 1 :]
    return host, ""


def parse_pachd_address(value: str, field: str = "pachd_address") -> PachdAddress:
    """Parse ``value`` as pachctl's ParsePachdAddress does, or raise PachdAddressError."""
    if not isinstance(value, str):
        raise _fail(field, value, "is not a string", "give the address as text, e.g. grpc://HOST:80")
    if value == "":
        raise _fail(field, value, "is empty (pachctl: no pachd address specified)", "give an address")
    # No scheme means grpc: url.Parse mishandles values without one.
    if "://" not in value:
        value = "grpc://" + value
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise _fail(field, value, "contains a control character", "remove it")
    before_fragment, _sep, fragment = value.partition("#")

    match = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*):", before_fragment)
    if before_fragment.startswith(":"):
        raise _fail(field, value, "has no scheme before ':'", _FIX)
    if not match:
        raise _fail(field, value, "does not start with a scheme", _FIX)
    scheme = match.group(1).lower()
    rest = before_fragment[match.end() :]
    if rest.endswith("?") and rest.count("?") == 1:
        rest, query = rest[:-1], ""
    else:
        rest, _sep, query = rest.partition("?")

    user_info = None
    path = ""  # "grpc:x" is an opaque URL for Go: no host, no path
    host = ""
    if rest.startswith("/") and not rest.startswith("//"):
        path = rest
    elif rest.startswith("//"):
        authority, slash, path = rest[2:].partition("/")
        path = slash + path
        at = authority.rfind("@")
        host = _parse_host(authority[at + 1 :], field, value)
        if at >= 0:
            user_info = authority[:at]

    if scheme not in SCHEMES:
        raise _fail(field, value, f"has the scheme {scheme!r}, which pachctl does not know", _FIX)
    if scheme == "unix":
        return PachdAddress(secured=False, host="", port=0, unix_socket=value)
    if path:
        raise _fail(field, value, f"has a path {path!r}", "drop everything after HOST:PORT")
    if user_info is not None:
        raise _fail(field, value, "carries login credentials", "drop the USER@ part; use session_token")
    if query:
        raise _fail(field, value, "has a query string", "drop everything from '?'")
    if fragment:
        raise _fail(field, value, "has a fragment", "drop everything from '#'")

    hostname, port_text = _split_host_port(host)
    port = DEFAULT_PACHD_PORT
    if port_text:
        port = int(port_text)
        if port > 65535:
            raise _fail(field, value, f"has the port {port_text}, above 65535", "use a port up to 65535")
    return PachdAddress(secured=scheme in SECURE_SCHEMES, host=hostname, port=port)


def normalize_pachd_address(value: str, field: str = "pachd_address") -> str:
    """The form pachctl stores for ``value`` (scheme and port spelled out)."""
    return parse_pachd_address(value, field).qualified


def _check_host(host: str, field: str) -> str:
    """A DNS name, IPv4 or IPv6 address (brackets optional); returns the host as a URL writes it."""
    if not isinstance(host, str) or not host:
        raise PachdAddressError(
            f"{field}: {host!r} is not a host; give the proxy's DNS name or IP address, "
            "e.g. pachyderm.example.com"
        )
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        address = ipaddress.ip_address(bare)
    except ValueError:
        address = None
    if address is not None:
        return f"[{address.compressed}]" if address.version == 6 else address.compressed
    check.dns_name(host, field, PachdAddressError, ip=True, trailing_dot=True)
    return host.lower()


def build_pachd_address(host: str, tls: bool = False, port: Optional[int] = None, field: str = "host") -> str:
    """The address of pachd behind the one-port proxy at ``host``.

    ``grpcs://HOST:PORT`` with TLS, else ``grpc://HOST:PORT``; the port defaults to 443 or 80 and
    is always written, because pachctl would otherwise use 30650.
    """
    # Arguments the roles' own tasks pass (typed), not strings from -e: anything but a bool or an int
    # is a mistake in the task, refused rather than read.
    if not isinstance(tls, bool):
        raise check.fail("tls", tls, "a boolean", "use true or false", PachdAddressError)
    if port is None:
        port = 443 if tls else 80
    if isinstance(port, str):
        raise check.fail("port", port, "a port", "give a whole number from 1 to 65535", PachdAddressError)
    port = check.port(port, "port", PachdAddressError)
    address = f"{'grpcs' if tls else 'grpc'}://{_check_host(host, field)}:{port}"
    parse_pachd_address(address, field)
    return address
