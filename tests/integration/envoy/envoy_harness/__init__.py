"""Real-traffic harness for the Envoy proxy: the pinned Envoy, recording backends and test clients."""
