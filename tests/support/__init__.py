"""The test kit every suite shares: import from here, never copy a helper into a test file.

- paths: the checkout, its bin/ tools, the reference data.
- ports: free loopback ports.
- envoy: the pinned Envoy as a process (start, wait until ready, log, stop) and `envoy --mode validate`.
- backends, s3: real loopback backends for what stands behind the proxy (gRPC, HTTP, websocket, S3).
- certs: a throw-away CA and the server certificates it signs.
- kubectl: kubectl against a test cluster's kubeconfig.
- crd_schemas, reference_data: checks against the real CRDs and charts.
- playbook_runs, awx_objects: the collection's playbooks and AWX objects run the way the tests need.
- proxy: Pachyderm's reference proxy and ours, side by side, and the traffic sent through them.
- golden: files a test compares a render with, regenerated on request.
"""
