"""``smi convert -f FILE --to GROUP/VERSION``: rewrite SMI objects in another apiVersion.

Objects of the target group are converted through the hub model and printed as YAML;
other objects pass through unchanged.  A field the target version cannot express is kept
in the ``smi-mesh.io/preserved-fields`` annotation, with one warning line on stderr
(``--strict`` makes that an error instead).  The input's warnings (unknown fields, which
conversion drops as the API server would) are printed on stderr too.  Exit code 1 on any
error.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import yaml

from smi.errors import ConversionError, InvalidObject
from smi.loading import load_documents
from smi.model.conversion import convert
from smi.model.parsing import check
from smi.schemas import SERVED


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("convert", help="convert SMI manifests to another apiVersion")
    parser.add_argument("-f", "--filename", dest="paths", action="append", required=True, metavar="PATH")
    parser.add_argument("--to", required=True, metavar="GROUP/VERSION", help="e.g. split.smi-spec.io/v1alpha2")
    parser.add_argument("--strict", action="store_true", help="fail instead of preserving fields in an annotation")
    parser.set_defaults(func=run)


def _kinds_of(api_version: str) -> list[str]:
    return [kind for kind, versions in SERVED.items() if api_version in versions and "/" in api_version]


def run(args: argparse.Namespace) -> int:
    kinds = _kinds_of(args.to)
    if not kinds:
        groups = sorted({v for versions in SERVED.values() for v in versions if ".smi-spec.io/" in v})
        print(
            f"smi convert: {args.to!r} is not a served SMI apiVersion; choose one of: {', '.join(groups)}",
            file=sys.stderr,
        )
        return 1
    group = args.to.rpartition("/")[0]
    failed = False
    converted = 0
    out: list[Any] = []
    for document in load_documents(args.paths):
        if document.problem is not None and document.problem.is_error:
            print(document.problem, file=sys.stderr)
            failed = True
            continue
        raw = document.raw
        if raw is None:
            continue
        api_version = raw.get("apiVersion")
        if not (isinstance(api_version, str) and api_version.rpartition("/")[0] == group):
            out.append(raw)
            continue
        if raw.get("kind") not in kinds:
            print(
                f"{document.source}: {raw.get('kind')}: {args.to} does not serve this kind "
                f"(it serves {', '.join(kinds)})",
                file=sys.stderr,
            )
            failed = True
            continue
        try:
            rendered = convert(raw, to=args.to, source=document.source, strict=args.strict)
        except (InvalidObject, ConversionError) as exc:
            print(f"{document.source}: {exc}" if isinstance(exc, ConversionError) else exc, file=sys.stderr)
            failed = True
            continue
        converted += 1
        for problem in check(raw, source=document.source).problems:
            print(problem, file=sys.stderr)  # warnings only here, e.g. unknown fields that are dropped
        meta = rendered.raw["metadata"]
        for field in sorted(rendered.preserved):
            print(
                f"{document.source}: {raw['kind']} {meta.get('namespace', '')}/{meta['name']}: {field}: warning: "
                f"{args.to} cannot express this field; kept in annotation smi-mesh.io/preserved-fields",
                file=sys.stderr,
            )
        out.append(rendered.raw)
    if out:
        sys.stdout.write(yaml.safe_dump_all(out, sort_keys=False, default_flow_style=False))
    if converted == 0 and not failed:
        print(f"smi convert: no {group} objects found", file=sys.stderr)
    return 1 if failed else 0
