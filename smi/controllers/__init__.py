"""The Kubernetes side of the control plane: kopf handlers that feed the store, and status writing.

* ``kinds``: every watched resource: the core kinds, and each group's kinds at one version.
* (the feed and the thin handler pair the groups' ``handlers`` use: ``smi.kubefeed``)
* ``statuses``: SMI objects' Valid/Accepted conditions, patched only when changed.
* ``events``: the Warning Event posted when a valid object's Accepted turns False.
* ``kubeapi``: the small REST client for those patches and events.
* ``conversion``: the CRD conversion webhook route.
* ``operator``: ``Controller``, which runs kopf (every group's ``handlers``) and the status
  writer with the ``Compiler`` the composition root (``smi.cli.controller``) hands it.
"""

from smi.controllers.operator import Controller, ControllerSettings, kopf_settings

__all__ = ["Controller", "ControllerSettings", "kopf_settings"]
