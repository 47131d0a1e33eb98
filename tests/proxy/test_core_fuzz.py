"""Fuzz the HTTP core's head parsing with non-ASCII bytes in every field (no sockets, so many cases).

Whatever the head, the core answers 4xx or forwards it: never a 500, never a crash (an
ERROR log line and a reset), and nothing malformed reaches an upstream.
"""

from __future__ import annotations

import logging

from hypothesis import given, settings
from hypothesis import strategies as st

from proxy.http import commands as c
from tests.proxy.core_harness import make_core, of

anything = st.binary(min_size=0, max_size=12)
high = st.binary(min_size=1, max_size=6).map(lambda b: bytes(0x80 | x for x in b))  # latin-1 letters, '³', ...
field = st.one_of(anything, high, st.sampled_from([b"web", b"web:80", b"web:8\xb3", b"\xb2\xb3", b"[::1]:80", b""]))
token = st.one_of(st.sampled_from([b"GET", b"POST", b"HEAD", b"CONNECT", b"G\xc9T"]), anything)


targets = st.one_of(field, field.map(lambda f: b"http://" + f + b"/x"), field.map(lambda f: b"/" + f))


@settings(max_examples=400, deadline=None)
@given(method=token, target=targets,
       version=st.sampled_from([b"HTTP/1.1", b"HTTP/1.0", b"HTTP/\xb9.1"]), host=field,
       headers=st.lists(st.tuples(st.one_of(token, high), field), max_size=4))  # fmt: skip
def test_any_head_is_answered_4xx_or_forwarded_never_500(method, target, version, host, headers):
    core = make_core()
    head = method + b" " + target + b" " + version + b"\r\nHost: " + host + b"\r\n"
    head += b"".join(name + b": " + value + b"\r\n" for name, value in headers) + b"\r\n"
    cmds = core.send(head)
    logs = of(cmds, c.Log)
    assert not [x for x in logs if x.level >= logging.ERROR], logs  # no crash of the core
    assert c.CloseClient(abort=True) not in cmds
    written = core.written()
    if written:
        status = int(written[9:12])
        assert 400 <= status < 500 or status == 503, written[:200]  # 503: a known service without endpoints
    else:
        assert of(cmds, c.OpenUpstream), cmds  # nothing written: it is on its way upstream
