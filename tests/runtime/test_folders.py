"""The manifest folder: valid files become objects; bad input is reported and the last good version kept."""

from __future__ import annotations

from pathlib import Path

from smi.model import ObjectKey, TrafficSplit
from smi.runtime.folders import ManifestFolder

SPLIT = """\
apiVersion: split.smi-spec.io/v1alpha4
kind: TrafficSplit
metadata:
  name: web-split
  namespace: shop
spec:
  service: web
  backends:
    - service: web-v1
      weight: {w1}
    - service: web-v2
      weight: {w2}
"""
SERVICE = """\
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: shop
spec:
  selector: {app: web}
  ports: [{port: 80, name: http}]
"""
KEY = ObjectKey("TrafficSplit", "shop", "web-split")


def weights(folder: ManifestFolder) -> list[int]:
    obj = folder.objects()[KEY]
    assert isinstance(obj, TrafficSplit)
    return [int(b.weight) for b in obj.backends]


def test_files_are_read_recursively_and_hidden_or_backup_files_are_skipped(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "svc.yaml").write_text(SERVICE)
    (tmp_path / "split.yml").write_text(SPLIT.format(w1=1, w2=0))
    (tmp_path / ".split.yaml.swp").write_text("garbage: [")
    (tmp_path / "split.yaml~").write_text("garbage: [")
    folder = ManifestFolder(tmp_path)
    changes = folder.rescan()
    assert set(changes.changed_files) == {"sub/svc.yaml", "split.yml"}
    assert changes.problems == ()
    assert set(folder.objects()) == {KEY, ObjectKey("Service", "shop", "web")}
    assert not folder.rescan()  # nothing changed on disk: nothing re-read


def test_an_invalid_object_is_reported_by_file_object_and_field_and_its_last_good_version_kept(
    tmp_path: Path,
) -> None:
    path = tmp_path / "split.yaml"
    path.write_text(SPLIT.format(w1=75, w2=25) + "---\n" + SERVICE)
    folder = ManifestFolder(tmp_path)
    folder.rescan()
    path.write_text(SPLIT.format(w1=75, w2=-5) + "---\n" + SERVICE.replace("port: 80", "port: 81"))
    changes = folder.rescan()
    text = "\n".join(changes.problems)
    assert "split.yaml: TrafficSplit shop/web-split: spec.backends[1].weight" in text
    assert "keeping its last good version" in text
    assert weights(folder) == [75, 25]
    service = folder.objects()[ObjectKey("Service", "shop", "web")]
    assert service.ports[0].port == 81  # type: ignore[union-attr]  # the valid document still applies
    path.write_text(SPLIT.format(w1=10, w2=90))
    changes = folder.rescan()
    assert changes.problems == ()
    assert weights(folder) == [10, 90]
    assert ObjectKey("Service", "shop", "web") not in folder.objects()  # removed from the file


def test_a_file_that_is_not_yaml_keeps_everything_it_declared(tmp_path: Path) -> None:
    path = tmp_path / "split.yaml"
    path.write_text(SPLIT.format(w1=1, w2=1))
    folder = ManifestFolder(tmp_path)
    folder.rescan()
    path.write_text("kind: [TrafficSplit\n  oops: {")
    changes = folder.rescan()
    assert len(changes.problems) == 1
    assert changes.problems[0].startswith("split.yaml: not valid YAML (line ")
    assert "keeping its last good version (1 objects)" in changes.problems[0]
    assert weights(folder) == [1, 1]
    assert folder.problems() == list(changes.problems)


def test_non_mapping_documents_and_unknown_kinds_are_reported(tmp_path: Path) -> None:
    (tmp_path / "odd.yaml").write_text("- just\n- a list\n---\napiVersion: v1\nkind: Gadget\nmetadata: {name: g}\n")
    folder = ManifestFolder(tmp_path)
    changes = folder.rescan()
    assert any("odd.yaml: document 1: must be a mapping" in p for p in changes.problems)
    assert any("odd.yaml" in p and "Gadget" in p for p in changes.problems)
    assert folder.objects() == {}


def test_a_deleted_file_withdraws_its_objects(tmp_path: Path) -> None:
    path = tmp_path / "split.yaml"
    path.write_text(SPLIT.format(w1=1, w2=1))
    folder = ManifestFolder(tmp_path)
    folder.rescan()
    path.unlink()
    changes = folder.rescan()
    assert changes.removed_files == ("split.yaml",)
    assert folder.objects() == {}


def test_a_file_nested_too_deeply_is_reported_and_later_edits_still_apply(tmp_path: Path) -> None:
    (tmp_path / "a-deep.yaml").write_text("[" * 100_000 + "]" * 100_000)
    (tmp_path / "b-split.yaml").write_text(SPLIT.format(w1=50, w2=50))
    folder = ManifestFolder(tmp_path)
    changes = folder.rescan()
    assert any(p.startswith("a-deep.yaml: not usable: nested too deeply") for p in changes.problems)
    assert weights(folder) == [50, 50]
    (tmp_path / "b-split.yaml").write_text(SPLIT.format(w1=10, w2=90))
    assert folder.rescan().changed_files == ("b-split.yaml",)
    assert weights(folder) == [10, 90]
    assert any("a-deep.yaml" in p for p in folder.problems())  # still listed until fixed


def test_an_object_declared_in_two_files_is_a_reported_conflict_and_keeps_its_first_file(tmp_path: Path) -> None:
    (tmp_path / "b.yaml").write_text(SPLIT.format(w1=50, w2=50))
    folder = ManifestFolder(tmp_path)
    folder.rescan()
    (tmp_path / "a.yaml").write_text(SPLIT.format(w1=0, w2=100))  # sorts first, arrives later
    changes = folder.rescan()
    conflict = f"{KEY}: declared in b.yaml and a.yaml; keeping the one in b.yaml (remove the other)"
    assert conflict in changes.problems and conflict in folder.problems()
    assert weights(folder) == [50, 50]  # the running version stays
    (tmp_path / "b.yaml").unlink()
    folder.rescan()
    assert weights(folder) == [0, 100] and not folder.conflicts()
