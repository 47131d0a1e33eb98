"""The local runtime: ``smi up`` runs standard Kubernetes + SMI manifests on this machine.

No cluster and no root: the control plane runs in-process, each Deployment replica becomes
a local process (its container's command and env) with its own loopback address and its
own sidecar (``smi proxy``), and the manifest folder is watched so edits apply live.

Modules, from the outside in:

* ``serving``: ``smi up`` as one coroutine (runtime, control API, state file, dashboard).
* ``running``: ``LocalRuntime``: folder → store → pods, kept in step.
* ``control`` / ``client``: the control API the CLI talks to, and the CLI's side of it.
* ``folders``: reading the manifest folder, with last-good-version semantics.
* ``pods``: synthesizing Pods from Deployments; ``addresses``: the loopback address plan.
* ``environment``: the app's env (downward API, HTTP_PROXY, service ports) and the sidecar's flags.
* ``podrunning`` / ``processes`` / ``backoff``: supervising a pod's processes.
* ``traffic`` / ``dashboard``: figures from the sidecars' metrics, drawn every second.
* ``statefile`` / ``leftovers`` / ``describing``: the state file, cleanup, JSON views.
* ``launching``: ``smi up`` as a subprocess of its own, stopped with all it started (for the
  end-to-end tests and the conformance suite).
"""
