"""The metrics tests' mesh: a caller (the test drives its sidecar) and a server of known latency and 5xx share."""

from __future__ import annotations

NAMESPACE = "metrics"
DELAY_MS = 200  # the server's latency: inside the (150, 250] ms bucket

MESH = f"""\
apiVersion: v1
kind: Namespace
metadata: {{name: {NAMESPACE}, labels: {{team: metrics}}}}
---
apiVersion: v1
kind: ServiceAccount
metadata: {{name: caller, namespace: {NAMESPACE}}}
---
apiVersion: v1
kind: ServiceAccount
metadata: {{name: server, namespace: {NAMESPACE}}}
---
apiVersion: v1
kind: Service
metadata: {{name: server, namespace: {NAMESPACE}, labels: {{tier: backend}}}}
spec:
  selector: {{app: server}}
  ports: [{{name: http, port: 8080, targetPort: 8080}}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: server, namespace: {NAMESPACE}, labels: {{tier: backend}}}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: server}}}}
  template:
    metadata: {{labels: {{app: server}}}}
    spec:
      serviceAccountName: server
      containers:
        - name: app
          command: [python, -m, tests.metrics.app]
          ports: [{{containerPort: 8080}}]
          env:
            - {{name: PORT, value: "8080"}}
            - {{name: DELAY_MS, value: "{DELAY_MS}"}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: caller, namespace: {NAMESPACE}, labels: {{tier: frontend}}}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: caller}}}}
  template:
    metadata: {{labels: {{app: caller}}}}
    spec:
      serviceAccountName: caller
      containers:
        - name: app
          command: [python, -c, "import time; time.sleep(3600)"]
---
# runs as the caller's ServiceAccount and sends nothing: the identity alone no longer names
# one workload, so the server side names its caller from the sidecars' own source_workload
apiVersion: apps/v1
kind: Deployment
metadata: {{name: caller-twin, namespace: {NAMESPACE}, labels: {{tier: frontend}}}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: caller-twin}}}}
  template:
    metadata: {{labels: {{app: caller-twin}}}}
    spec:
      serviceAccountName: caller
      containers:
        - name: app
          command: [python, -c, "import time; time.sleep(3600)"]
---
apiVersion: specs.smi-spec.io/v1alpha4
kind: HTTPRouteGroup
metadata: {{name: server-routes, namespace: {NAMESPACE}}}
spec:
  matches:
    - {{name: everything, pathRegex: "/.*", methods: [GET]}}
---
apiVersion: access.smi-spec.io/v1alpha3
kind: TrafficTarget
metadata: {{name: caller-to-server, namespace: {NAMESPACE}}}
spec:
  destination: {{kind: ServiceAccount, name: server, namespace: {NAMESPACE}}}
  rules:
    - {{kind: HTTPRouteGroup, name: server-routes, matches: [everything]}}
  sources:
    - {{kind: ServiceAccount, name: caller, namespace: {NAMESPACE}}}
"""
