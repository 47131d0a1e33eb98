"""Demo applications shipped with the package, run by the bundled demo (``manifests/demo/``).

Each is a plain program started as ``python -m smi.demo.<app>``, written with the standard
library only so it starts fast and behaves like any app a user would bring:

* ``bookstore``: an HTTP server answering ``GET /books`` with its version (``BOOKSTORE_VERSION``)
  and counting its sales.
* ``bookbuyer``: calls ``http://bookstore.<ns>:<port>/books`` in a bounded-rate loop through its
  sidecar (``HTTP_PROXY``) and prints one line per answer.
* ``bookthief``: does the same as another identity, and is denied (403) by the mesh.
* ``tcpecho``: a line-echo TCP server, and (``--client``) a client that reaches a TCP service
  through the sidecar forward named by ``<SVC>_SERVICE_HOST``/``<SVC>_SERVICE_PORT``.
"""
