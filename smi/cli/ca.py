"""``smi ca``: inspect and rotate the mesh's certificate authority kept in a directory.

::

    smi ca init    --dir DIR --trust-domain TD [--intermediate]
    smi ca status  --dir DIR [--json]
    smi ca rotate  --dir DIR                       # new root beside the old one
    smi ca retire  --dir DIR [--leaf-lifetime 24h] [--force]

``DIR`` defaults to ``$SMI_CA_DIR`` or ``.smi/ca``.  A running control plane picks the
change up on its next signing request.  Errors are printed as one line; exit code 1.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

from smi.identity import storage
from smi.identity.authority import DEFAULT_LEAF_LIFETIME, CAStatus, CertificateAuthority
from smi.identity.errors import IdentityError
from smi.proxyconfig.spiffe import InvalidSpiffeId

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> datetime.timedelta:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([smhd])", text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"invalid duration {text!r}: use e.g. 90s, 30m, 24h, 7d")
    return datetime.timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])


def _default_dir() -> Path:
    return Path(os.environ.get("SMI_CA_DIR", ".smi/ca"))


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("ca", help="inspect and rotate the certificate authority")
    commands = parser.add_subparsers(dest="ca_command", metavar="ACTION", required=True)

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        sub: argparse.ArgumentParser = commands.add_parser(name, help=help_text)
        sub.add_argument("--dir", type=Path, default=None, help="the CA directory ($SMI_CA_DIR or .smi/ca)")
        return sub

    init = add("init", "create the CA (fails if the directory already holds one)")
    init.add_argument("--trust-domain", default="cluster.local")
    init.add_argument("--intermediate", action="store_true", help="sign leaves with an intermediate CA")
    init.set_defaults(func=_init)
    status = add("status", "show the roots, fingerprints, expiry and trust bundle")
    status.add_argument("--json", action="store_true")
    status.set_defaults(func=_status)
    add("rotate", "introduce a new root beside the old one").set_defaults(func=_rotate)
    retire = add("retire", "drop the old root once every leaf issued under it has expired")
    retire.add_argument("--leaf-lifetime", type=parse_duration, default=DEFAULT_LEAF_LIFETIME)
    retire.add_argument("--force", action="store_true", help="retire now, even if old leaves may be valid")
    retire.set_defaults(func=_retire)


def _directory(args: argparse.Namespace) -> Path:
    return Path(args.dir) if args.dir is not None else _default_dir()


def _fail(message: str) -> int:
    print(f"smi ca: {message}", file=sys.stderr)
    return 1


def _print_status(status: CAStatus, *, as_json: bool = False) -> None:
    if as_json:
        print(json.dumps(status.as_json(), indent=2))
        return
    root = status.active_root
    print(f"trust domain:  {status.trust_domain}")
    print(f"active root:   {root['subject']}")
    print(f"  sha256:      {root['sha256']}")
    print(f"  not after:   {root['not_after']}")
    if status.intermediate:
        print(f"intermediate:  {status.signer['subject']} (not after {status.signer['not_after']})")
    state = "rotating (old root still trusted; retire it when every workload has renewed)"
    print(f"state:         {state if status.rotating else 'steady'}")
    print(f"trust bundle:  {len(status.bundle)} root(s)")
    for cert in status.bundle:
        print(f"  - {cert['sha256']}  {cert['subject']}  not after {cert['not_after']}")


def _init(args: argparse.Namespace) -> int:
    directory = _directory(args)
    if directory.exists() and any(directory.iterdir()):
        return _fail(f"{directory} is not empty; use 'smi ca status' to inspect the CA there")
    try:
        ca = CertificateAuthority.open(directory, trust_domain=args.trust_domain, intermediate=args.intermediate)
    except (IdentityError, InvalidSpiffeId, OSError) as e:
        return _fail(str(e))
    _print_status(ca.status())
    return 0


def _load(args: argparse.Namespace, **kwargs: Any) -> CertificateAuthority:
    directory = _directory(args)
    if not directory.is_dir():
        raise IdentityError(f"{directory}: no CA here (create one with 'smi ca init')")
    return CertificateAuthority(storage.load_directory(directory), directory=directory, **kwargs)


def _status(args: argparse.Namespace) -> int:
    try:
        _print_status(_load(args).status(), as_json=args.json)
    except (IdentityError, OSError) as e:
        return _fail(str(e))
    return 0


def _rotate(args: argparse.Namespace) -> int:
    try:
        status = _load(args).rotate()
    except (IdentityError, OSError) as e:
        return _fail(str(e))
    _print_status(status)
    return 0


def _retire(args: argparse.Namespace) -> int:
    try:
        status = _load(args, leaf_lifetime=args.leaf_lifetime).retire_old(force=args.force)
    except (IdentityError, OSError) as e:
        return _fail(str(e))
    _print_status(status)
    return 0
