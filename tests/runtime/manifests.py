"""Manifest texts for the end-to-end tests (the bookstore shape, with knobs)."""

from __future__ import annotations

NAMESPACE = """\
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: buyer, namespace: shop}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: store, namespace: shop}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: thief, namespace: shop}
"""


def service(name: str, selector: str, *, port: int = 8080, port_name: str = "http") -> str:
    return f"""\
apiVersion: v1
kind: Service
metadata: {{name: {name}, namespace: shop}}
spec:
  selector: {selector}
  ports: [{{name: {port_name}, port: {port}, targetPort: {port}}}]
"""


def store(version: str, *, replicas: int = 1) -> str:
    return f"""\
apiVersion: apps/v1
kind: Deployment
metadata: {{name: store-{version}, namespace: shop}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: store, version: {version}}}}}
  template:
    metadata: {{labels: {{app: store, version: {version}}}}}
    spec:
      serviceAccountName: store
      containers:
        - name: app
          command: [python, -m, smi.demo.bookstore]
          ports: [{{containerPort: 8080}}]
          env:
            - {{name: BOOKSTORE_VERSION, value: {version}}}
            - {{name: PORT, value: "8080"}}
"""


def client(name: str, account: str, url: str, *, rate: int = 40, module: str = "bookbuyer") -> str:
    return f"""\
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}, namespace: shop}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      serviceAccountName: {account}
      containers:
        - name: app
          command: [python, -m, smi.demo.{module}]
          env:
            - {{name: BOOKSTORE_URL, value: "{url}"}}
            - {{name: RATE, value: "{rate}"}}
            - name: MY_POD_IP
              valueFrom: {{fieldRef: {{fieldPath: status.podIP}}}}
"""


def split(w1: int, w2: int) -> str:
    return f"""\
apiVersion: split.smi-spec.io/v1alpha4
kind: TrafficSplit
metadata: {{name: store-split, namespace: shop}}
spec:
  service: store
  backends:
    - {{service: store-v1, weight: {w1}}}
    - {{service: store-v2, weight: {w2}}}
"""


ACCESS = """\
apiVersion: specs.smi-spec.io/v1alpha4
kind: HTTPRouteGroup
metadata: {name: store-routes, namespace: shop}
spec:
  matches:
    - {name: books, pathRegex: /books, methods: [GET]}
---
apiVersion: access.smi-spec.io/v1alpha3
kind: TrafficTarget
metadata: {name: buyer-to-store, namespace: shop}
spec:
  destination: {kind: ServiceAccount, name: store, namespace: shop}
  rules:
    - {kind: HTTPRouteGroup, name: store-routes, matches: [books]}
  sources:
    - {kind: ServiceAccount, name: buyer, namespace: shop}
"""
