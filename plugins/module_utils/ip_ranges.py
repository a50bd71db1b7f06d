# Copyright: oneport.pachyderm contributors
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Address ranges as MetalLB takes them: CIDRs or ``a-b`` ranges, IPv4 or IPv6, never overlapping.

Plain Python, no Ansible imports: the metallb role reaches it through the ``metallb_objects`` filter.
"""

from __future__ import annotations

import ipaddress

from ansible_collections.oneport.pachyderm.plugins.module_utils.inputs import InputError

EXAMPLES = "write a CIDR such as 192.168.10.0/24 or a range such as 192.168.10.10-192.168.10.20"


class RangeError(InputError):
    """A bad range, with the variable path, the bad value and the fix in its message."""


class AddressRange:
    """An inclusive span of addresses of one IP version, remembering how the user wrote it."""

    def __init__(self, first, last, text, where):
        self.first = first
        self.last = last
        self.text = text
        self.where = where

    @property
    def version(self):
        return self.first.version

    def overlaps(self, other):
        return self.version == other.version and self.first <= other.last and other.first <= self.last

    def __repr__(self):
        return f"AddressRange({self.text!r})"


def parse_range(text, where="address"):
    """Parse one MetalLB address entry (``CIDR`` or ``first-last``); ``where`` names the variable."""
    if not isinstance(text, str) or not text.strip():
        raise RangeError(f"{where}: {text!r} is not an address range; {EXAMPLES}")
    value = text.strip()
    if "/" in value:
        try:
            network = ipaddress.ip_network(value, strict=True)
        except ValueError as exc:
            if "has host bits set" in str(exc):
                base = ipaddress.ip_network(value, strict=False)
                raise RangeError(
                    f"{where}: {value!r} has host bits set; the network is {base}, write that instead"
                ) from None
            raise RangeError(f"{where}: {value!r} is not a valid CIDR ({exc}); {EXAMPLES}") from None
        return AddressRange(network[0], network[-1], value, where)
    if "-" in value:
        first_text, last_text = value.split("-", 1)
        try:
            first = ipaddress.ip_address(first_text.strip())
            last = ipaddress.ip_address(last_text.strip())
        except ValueError as exc:
            raise RangeError(f"{where}: {value!r} is not a valid range ({exc}); {EXAMPLES}") from None
        if first.version != last.version:
            raise RangeError(
                f"{where}: {value!r} mixes IPv{first.version} and IPv{last.version}; "
                "both ends of a range must be the same IP version"
            )
        if first > last:
            raise RangeError(
                f"{where}: {value!r} runs backwards ({first} is after {last}); write it as {last}-{first}"
            )
        return AddressRange(first, last, value, where)
    try:
        single = ipaddress.ip_address(value)
    except ValueError:
        raise RangeError(f"{where}: {value!r} is not a CIDR or an a-b range; {EXAMPLES}") from None
    suffix = 32 if single.version == 4 else 128
    raise RangeError(f"{where}: {value!r} is a single address; write it as {single}/{suffix}")


def check_no_overlaps(ranges):
    """Raise RangeError for the first pair of ranges that share an address (within or across pools)."""
    ordered = sorted(ranges, key=lambda r: (r.version, int(r.first)))
    for index in range(1, len(ordered)):
        previous, current = ordered[index - 1], ordered[index]
        if previous.overlaps(current):
            raise RangeError(
                f"{current.where}: {current.text!r} overlaps {previous.where}: {previous.text!r}; "
                "a MetalLB address may belong to one pool entry only, shrink or remove one of them"
            )


def size(address_range):
    """How many addresses the range holds."""
    return int(address_range.last) - int(address_range.first) + 1
