"""The Kubernetes source's plumbing, shared by the controller and the groups' kopf handlers.

* ``watched``: a watched resource (group, version, plural, hub kind), from a group's kinds.
* ``feeding``: bodies → hub objects into the store, rejections kept, resync sweep.
* ``registering``: the thin index + event handler pair registered per resource (the
  groups' ``handlers`` modules and the controller's core kinds use it).
* ``bridging``: kopf runs on its own loop; handlers call into the store's loop.

It sits below the group packages and above the compile/state/model layers
(``.importlinter``); the composition root is ``smi.controllers``.
"""
