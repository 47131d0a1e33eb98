"""``smi validate -f PATH [-f PATH ...] [-o text|json]``: every problem in the manifests.

Prints one line per problem (``file: Kind ns/name: field: reason``) and a summary line;
exits 1 when any error was found, 0 otherwise (warnings alone do not fail).

``-o json`` prints one object: ``{"problems": [...], "summary": {...}}``.  Each problem has
``severity`` (error/warning), ``source`` (the file, ``<stdin>``), ``document`` (0-based
position in the file), ``kind``, ``namespace``, ``name``, ``path`` (the field), ``message``
and ``line`` (the text form); the summary has ``objects``, ``errors``, ``warnings`` and
``valid`` (no errors).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from smi.loading import load_documents
from smi.validation.validating import validate_documents


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("validate", help="check Kubernetes/SMI manifests and print every problem")
    parser.add_argument(
        "-f",
        "--filename",
        dest="paths",
        action="append",
        required=True,
        metavar="PATH",
        help="a file, a folder (read recursively) or - for stdin; repeatable",
    )
    parser.add_argument("-o", "--output", choices=("text", "json"), default="text")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    documents = load_documents(args.paths)
    problems = validate_documents(documents)
    errors = sum(1 for p in problems if p.is_error)
    warnings = len(problems) - errors
    objects = sum(1 for d in documents if d.raw is not None)
    if args.output == "json":
        summary = {"objects": objects, "errors": errors, "warnings": warnings, "valid": errors == 0}
        json.dump({"problems": [p.to_json() for p in problems], "summary": summary}, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        for problem in problems:
            print(problem)
        print(
            f"{objects} object{'s' if objects != 1 else ''} checked: {errors} error{'s' if errors != 1 else ''}, "
            f"{warnings} warning{'s' if warnings != 1 else ''}"
        )
    return 1 if errors else 0
