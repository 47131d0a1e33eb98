"""Validate loaded documents: every problem of every document, in input order."""

from __future__ import annotations

from collections.abc import Iterable

from smi.checking.problems import Problem
from smi.loading import Document
from smi.model.parsing import check


def validate_documents(documents: Iterable[Document]) -> list[Problem]:
    problems: list[Problem] = []
    for document in documents:
        if document.problem is not None:
            problems.append(document.problem)
        if document.raw is not None:
            problems.extend(check(document.raw, source=document.source, index=document.index).problems)
    return problems
