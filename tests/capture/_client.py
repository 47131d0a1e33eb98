"""``python _client.py HOST PORT [UID]``: connect (as UID if given), print the endpoint's JSON line.

Started as root by ``ip netns exec``; drops to UID itself before connecting, so the
iptables owner match sees that uid (everything it needs is imported before that: the
interpreter's files may not be readable by UID).  Prints ``{"error": ...}`` and exits 1 on failure.
"""

from __future__ import annotations

import json
import os
import socket
import sys


def main(host: str, port: int, uid: int | None) -> int:
    if uid is not None:
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as sock:  # numeric address: no getaddrinfo
            sock.settimeout(5)
            sock.connect((host, port))
            data = b""
            while not data.endswith(b"\n"):
                chunk = sock.recv(4096)
                if not chunk:
                    break
                data += chunk
    except OSError as e:
        print(json.dumps({"error": str(e)}))
        return 1
    print(data.decode().strip() or json.dumps({"error": "connection closed without a reply"}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else None))
