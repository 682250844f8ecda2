"""Workload labels: header, then rules on path and model, then the default (pure)."""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["WorkloadRule", "label_for", "parse_rule"]


@dataclass(frozen=True)
class WorkloadRule:
    field: str  # "path" | "model"
    pattern: str  # fnmatch glob
    label: str


def parse_rule(text: str) -> WorkloadRule:
    """`path:GLOB=LABEL` or `model:GLOB=LABEL`; ValueError naming the rule otherwise."""
    field, sep, rest = text.partition(":")
    pattern, eq, label = rest.rpartition("=")
    if not sep or not eq or field not in ("path", "model") or not pattern or not label:
        raise ValueError(f"workload rule {text!r}: expected path:GLOB=LABEL or model:GLOB=LABEL")
    return WorkloadRule(field, pattern, label)


def label_for(
    header: str | None,
    path: str,
    model: str | None,
    rules: Sequence[WorkloadRule],
    default: str,
) -> str:
    if header:
        return header
    for rule in rules:
        value = path if rule.field == "path" else (model or "")
        if fnmatch.fnmatchcase(value, rule.pattern):
            return rule.label
    return default
