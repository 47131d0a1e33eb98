"""The Kubernetes side of the control plane: kopf handlers that feed the store, and status writing.

* ``kinds``: every watched resource (group, version, plural, hub kind).
* ``feeding``: bodies → hub objects into the store, rejections kept, resync sweep.
* ``registering``: the thin index + event handler pair registered per resource (used by
  the core kinds here and by ``traffic_split.handlers`` / ``traffic_access.handlers``).
* ``statuses``: SMI objects' Valid/Accepted conditions, patched only when changed.
* ``kubeapi``: the small REST client for those patches.
* ``conversion``: the CRD conversion webhook route.
* ``operator``: ``Controller``, which runs kopf and the status writer.
"""

from smi.controllers.operator import Controller, ControllerSettings, compiler_for, kopf_settings

__all__ = ["Controller", "ControllerSettings", "compiler_for", "kopf_settings"]
