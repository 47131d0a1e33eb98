"""The SMI conformance suite: scenarios per SMI spec, one scenario code for two meshes.

Layout:

* ``conformance.drivers``: the ``MeshDriver`` protocol the scenarios talk to, and its two
  implementations: ``LocalDriver`` (``smi up`` on loopback, used in CI) and ``KubeDriver``
  (``kubectl`` against a cluster, e.g. the kind cluster of ``conformance/kind/run.sh``).
* ``conformance.apps``: the workloads the scenarios deploy: ``server`` (an HTTP server that
  says who it is and what it saw) and ``tool`` (a client in the mesh that makes requests
  through its sidecar when the driver asks).
* ``conformance.manifests``: the Kubernetes + SMI manifests the scenarios apply.
* ``conformance/test_*.py``: the scenarios, one class per spec, numbered steps, each spec in a
  fresh namespace ``smi-conformance-<random>``.  ``pytest conformance/`` runs them against
  the local runtime, ``pytest conformance/ --kube`` against the current kubectl context.

docs/conformance.md lists every step and the decision of docs/semantics.md it pins.
"""
