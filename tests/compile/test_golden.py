"""Golden tests: manifests in, ProxyConfigs and object statuses out.

Each case is a folder ``tests/golden/<case>/``:

* ``input.yaml``: the snapshot, as standard Kubernetes + SMI manifests (multi-document);
* ``proxies.yaml``: ``proxies: [ns/pod, ...]`` to compile for, optional ``settings:``
  (MeshSettings fields) and ``about:`` (what the case pins, for the reviewer);
* ``config.json``: ``{"ns/pod": <ProxyConfig> | null}``; ``statuses.json``: the status of
  every SMI object.  Both are pretty-printed (sorted keys, 2-space indent) and reviewed.

``pytest tests/compile --update-golden`` rewrites the expected files.
"""

from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from smi.compile import IndexCache, MeshSettings
from smi.proxyconfig import encode
from tests.compile.compiling import compile_proxy, object_statuses
from tests.compile.manifests import load_file, snapshot_of

GOLDEN = Path(__file__).resolve().parent.parent / "golden"
CASES = sorted(p.name for p in GOLDEN.iterdir() if (p / "input.yaml").is_file())


def render(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True) + "\n"


def compile_case(case: Path) -> tuple[str, str]:
    spec = yaml.safe_load((case / "proxies.yaml").read_text()) or {}
    settings = MeshSettings(**(spec.get("settings") or {}))
    snapshot = snapshot_of(load_file(case / "input.yaml"))
    cache = IndexCache()
    configs: dict[str, Any] = {}
    for proxy in spec["proxies"]:
        ns, pod = proxy.split("/")
        config = compile_proxy(snapshot, namespace=ns, pod=pod, settings=settings, cache=cache)
        configs[proxy] = None if config is None else encode(config)
    statuses = {
        str(key): {
            "accepted": s.accepted,
            "reason": s.reason,
            "message": s.message,
            "observed_generation": s.observed_generation,
        }
        for key, s in object_statuses(snapshot, settings=settings, cache=cache).items()
    }
    return render(configs), render(statuses)


def compare(path: Path, actual: str, *, update: bool) -> None:
    if update or not path.exists():
        path.write_text(actual)
        if not update:
            pytest.fail(f"{path} did not exist; written now, review it and run again")
        return
    expected = path.read_text()
    if expected != actual:
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(keepends=True),
                actual.splitlines(keepends=True),
                fromfile=f"{path} (expected)",
                tofile="compiled now",
            )
        )
        pytest.fail(f"{path.parent.name}/{path.name} differs (rerun with --update-golden if intended):\n{diff}")


@pytest.mark.parametrize("case", CASES)
def test_golden(case: str, update_golden: bool) -> None:
    configs, statuses = compile_case(GOLDEN / case)
    compare(GOLDEN / case / "config.json", configs, update=update_golden)
    compare(GOLDEN / case / "statuses.json", statuses, update=update_golden)


def test_every_case_is_complete() -> None:
    assert len(CASES) >= 20
    for case in CASES:
        spec = yaml.safe_load((GOLDEN / case / "proxies.yaml").read_text())
        assert spec.get("about"), f"{case}: proxies.yaml needs an 'about:' saying what the case pins"
        assert spec.get("proxies"), f"{case}: no proxies to compile for"
