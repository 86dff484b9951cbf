"""What every part of `make bench` reports alike: its targets, the machine, and the JSON file."""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from tests.perf.servers import ROOT


@dataclass(frozen=True)
class Target:
    """One of the issue's targets and whether this run met it."""

    name: str
    measured: str
    required: str
    met: bool


def machine(load_before: tuple[float, float, float]) -> dict[str, Any]:
    """The machine the numbers came from, and how busy it was before and after."""
    return {
        "cpu_count": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)),
        "platform": platform.platform(),
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
    }


def save(out: Path, started: datetime, result: Mapping[str, Any]) -> Path:
    """Write a run's results to `out/<started>.json`; returns the path."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    return path


def shown(path: Path) -> str:
    """A written file's path as the README would name it (relative to the repository)."""
    return str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)


def targets_table(targets: list[Target]) -> list[str]:
    """The targets as Markdown table lines."""
    lines = ["| target | measured | required | met |", "| --- | --- | --- | --- |"]
    for target in targets:
        lines.append(
            f"| {target.name} | {target.measured} | {target.required} | "
            f"{'yes' if target.met else '**NO**'} |"
        )
    return lines
