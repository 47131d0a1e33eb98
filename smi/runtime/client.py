"""The CLI's side of the control API: find the running mesh, call it (stdlib only, synchronous).

``read_documents`` reads the files ``smi apply/delete -f`` name (files, folders recursively,
``-`` for stdin, multi-document YAML) into ``(source, raw)`` pairs; the runtime parses them,
so the same rules and messages apply as for the watched folder.
"""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from smi.runtime import statefile
from smi.runtime.folders import SUFFIXES


class NotRunning(Exception):
    pass


class ApiError(Exception):
    def __init__(self, status: int, body: Any) -> None:
        self.status = status
        self.body = body
        super().__init__(f"control API answered {status}: {body}")


def find(state_dir: Path) -> statefile.RuntimeInfo:
    info = statefile.read(state_dir)
    if info is None:
        where = state_dir / statefile.FILE_NAME
        raise NotRunning(f"no local mesh is running here (no {where}); start one with `smi up`")
    if not statefile.pid_alive(info.pid):
        raise NotRunning(f"the local mesh recorded in {state_dir} (pid {info.pid}) is not running any more")
    return info


def call(info: statefile.RuntimeInfo, method: str, path: str, body: Any = None, *, timeout: float = 30.0) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        info.control_url + path, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        try:
            parsed = json.loads(raw)
        except ValueError:
            parsed = raw.decode("utf-8", "replace")
        raise ApiError(exc.code, parsed) from exc
    except (urllib.error.URLError, OSError) as exc:
        raise NotRunning(f"cannot reach the local mesh at {info.control_url}: {exc}") from exc


def _files(path: Path) -> list[Path]:
    if path.is_dir():
        return [
            p
            for p in sorted(path.rglob("*"))
            if p.is_file()
            and p.suffix in SUFFIXES
            and not any(part.startswith(".") for part in p.relative_to(path).parts)
        ]
    return [path]


def read_documents(paths: Iterable[str]) -> tuple[list[dict[str, Any]], list[str]]:
    """``[{"source", "raw"}]`` for every non-empty document, and problem lines for unreadable input."""
    docs: list[dict[str, Any]] = []
    problems: list[str] = []
    for given in paths:
        sources = [("-", sys.stdin.read())] if given == "-" else []
        if given != "-":
            for file in _files(Path(given)):
                try:
                    sources.append((str(file), file.read_text()))
                except OSError as exc:
                    problems.append(f"{file}: cannot be read: {exc.strerror or exc}")
        for source, text in sources:
            try:
                for raw in yaml.safe_load_all(text):
                    if raw is not None:
                        docs.append({"source": source, "raw": raw})
            except yaml.YAMLError as exc:
                problems.append(f"{source}: not valid YAML: {str(exc).splitlines()[0]}")
    return docs, problems
