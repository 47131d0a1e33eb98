"""LocalRuntime without pods: folder + API objects into the store, implied defaults, tombstones."""

from __future__ import annotations

from pathlib import Path

from smi.model import ObjectKey
from smi.runtime.running import LocalRuntime
from smi.runtime.settings import RuntimeSettings
from tests.runtime import manifests as m
from tests.runtime.harness import unique_base


async def test_folder_and_api_objects_meet_in_the_store(tmp_path: Path) -> None:
    folder = tmp_path / "manifests"
    folder.mkdir()
    (folder / "svc.yaml").write_text(m.service("store", "{app: store}"))
    (folder / "split.yaml").write_text(m.split(1, 1))
    runtime = LocalRuntime(RuntimeSettings(manifests=folder, state_dir=tmp_path / "state", address_base=unique_base()))
    await runtime.start()
    try:
        split_key = ObjectKey("TrafficSplit", "shop", "store-split")
        assert runtime.store.get(split_key) is not None
        assert runtime.store.get(ObjectKey("Namespace", "", "default")) is not None
        assert runtime.store.get(ObjectKey("ServiceAccount", "shop", "default")) is not None
        # `smi delete` of a folder object: gone until its file changes again
        assert runtime.delete_keys([split_key]) == ["TrafficSplit shop/store-split deleted"]
        assert runtime.store.get(split_key) is None
        assert runtime.delete_keys([split_key]) == ["TrafficSplit shop/store-split not found"]
        (folder / "split.yaml").write_text(m.split(2, 1))
        assert runtime.rescan()
        runtime.sync()
        assert runtime.store.get(split_key) is not None
        # a removed file withdraws its objects, but an API-applied object stays
        svc = runtime.store.get(ObjectKey("Service", "shop", "store"))
        assert svc is not None
        (folder / "svc.yaml").unlink()
        runtime.rescan()
        runtime.sync()
        assert runtime.store.get(ObjectKey("Service", "shop", "store")) is None
        assert runtime.apply_objects([svc]) == ["Service shop/store applied"]
        assert runtime.store.get(ObjectKey("Service", "shop", "store")) == svc
    finally:
        await runtime.shutdown()
