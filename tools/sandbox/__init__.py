"""The sandbox Kubernetes cluster: real control-plane components as local processes on loopback.

See docs/sandbox.md. `python -m tools.sandbox up|down|status`; tests use `Sandbox` directly.
"""

from .cluster import Sandbox, SandboxError

__all__ = ["Sandbox", "SandboxError"]
