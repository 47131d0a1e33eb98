"""Cluster mode, as a platform team runs it: ``smi install|upgrade|uninstall|check|inject|namespace``.

* ``kube``: a small synchronous API client for the CLI; credentials come from the kubeconfig
  (``--kubeconfig``, ``--context``, the context's namespace) through the ``kubernetes`` package.
* ``resources``: the REST path of every kind the installer writes.
* ``rendering``: the pure ``render(options, secrets) -> objects`` of everything ``smi install``
  applies (CRDs, namespace, RBAC, controller Deployment with a Lease, PDB, Service, webhook,
  metrics APIService, the two CA Secrets); ``manifests/install/`` is its output (kustomize).
* ``certificates``: the webhook CA and the serving certificates the control plane issues from it.
* ``applying``: get-compare-patch apply (idempotent; Secrets create-only) and uninstall.
* ``checking``: the checks of ``smi check``.
See docs/cluster-mode.md.
"""
