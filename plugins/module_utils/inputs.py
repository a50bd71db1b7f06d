# Copyright: oneport.pachyderm contributors
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""The one root of every input error the collection raises.

Every model's error (MetalLB, cert-manager, pachyderm values, Envoy, edge proxy, pachctl, probes,
downloads, charts) derives from InputError, so a caller catches one type and a reader finds one
contract: the message names the field (the role variable or option path), the bad value and the fix.
A ValueError, so code that already catches ValueError keeps working. Plain Python, no Ansible imports.
"""

from __future__ import annotations


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
