"""No import cycle anywhere in ``proxy/`` (issue 9), and the HTTP core does no I/O of its own."""

from __future__ import annotations

import grimp


def test_no_module_of_the_proxy_is_part_of_an_import_cycle() -> None:
    graph = grimp.build_graph("proxy", "smi", include_external_packages=True)
    modules = sorted(m for m in graph.modules if m == "proxy" or m.startswith("proxy."))
    cycles = [
        (a, b)
        for a in modules
        for b in sorted(graph.find_modules_directly_imported_by(a))
        if b.startswith("proxy.") and graph.chain_exists(importer=b, imported=a)
    ]
    assert cycles == []


def test_the_sans_io_core_imports_no_asyncio_and_no_sockets() -> None:
    graph = grimp.build_graph("proxy", include_external_packages=True)
    core = ("proxy.http.connection", "proxy.http.relaying", "proxy.http.responding", "proxy.http.events",
            "proxy.http.commands",
            "proxy.http.attempts", "proxy.http.upstreams", "proxy.http.exchanges", "proxy.http.writing")  # fmt: skip
    for module in core:
        for io in ("asyncio", "socket", "ssl", "proxy.httpshell", "proxy.upstream"):
            assert not graph.chain_exists(importer=module, imported=io), f"{module} reaches {io}"
