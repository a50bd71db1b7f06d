"""The collection's renderer, driven with a description that points at the test backends."""

from __future__ import annotations

import pytest


def renderer():
    try:
        from ansible_collections.oneport.pachyderm.plugins.module_utils import envoy_config
    except ImportError:
        pytest.skip("the envoy_config renderer is not in this checkout yet")
    return envoy_config


def start_ours(backend_ports, workdir, **options):
    renderer()
    pytest.skip("description adapter pending")
