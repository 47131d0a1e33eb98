"""YAML loading: files, folders, stdin, multi-document streams, and bad input as problems."""

from __future__ import annotations

import io
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from smi.loading import load_documents, load_text
from smi.validation.validating import validate_documents


def test_multi_document_keeps_source_and_index(tmp_path: Path) -> None:
    (tmp_path / "deep" / "er").mkdir(parents=True)
    (tmp_path / "deep" / "er" / "b.yml").write_text("a: 1\n---\n---\nb: 2\n")
    (tmp_path / "a.json").write_text('{"c": 3}')
    (tmp_path / "skip.txt").write_text("x: 1")
    docs = load_documents([tmp_path])
    assert [(Path(d.source).name, d.index, d.raw) for d in docs] == [
        ("a.json", 0, {"c": 3}),
        ("b.yml", 0, {"a": 1}),
        ("b.yml", 2, {"b": 2}),
    ]


def test_timestamps_stay_strings_and_keys_become_strings() -> None:
    (doc,) = load_text("t: 2024-01-01T00:00:00Z\n80: http\ntrue: x\n", source="s.yaml")
    assert doc.raw == {"t": "2024-01-01T00:00:00Z", "80": "http", "true": "x"}


def test_duplicate_keys_are_an_error() -> None:
    (doc,) = load_text("metadata:\n  name: a\n  name: b\n", source="dup.yaml")
    assert doc.raw is None and doc.problem is not None
    assert str(doc.problem) == "dup.yaml: document 1: not valid YAML: duplicate key 'name' (line 3, column 3)"


def test_empty_and_non_yaml_input() -> None:
    (empty,) = load_documents(["-"], stdin=io.StringIO("# only a comment\n"))
    assert empty.problem is not None and empty.problem.severity == "warning"
    docs = load_text("a: 1\n---\nb: [1, 2\n", source="broken.yaml")
    assert docs[0].raw == {"a": 1}
    assert docs[1].problem is not None and docs[1].problem.is_error and docs[1].index == 1
    (binary,) = load_text("\x00\x01", source="bin")
    assert binary.problem is not None and binary.problem.is_error


def test_unreadable_file(tmp_path: Path) -> None:
    (tmp_path / "latin1.yaml").write_bytes(b"name: caf\xe9\n")
    (doc,) = load_documents([tmp_path / "latin1.yaml"])
    assert doc.problem is not None and "UTF-8" in doc.problem.message


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_arbitrary_text_never_crashes_loading_or_validation(text: str) -> None:
    docs = load_text(text, source="fuzz.yaml")
    assert docs
    for problem in validate_documents(docs):
        assert str(problem).startswith("fuzz.yaml: ")
