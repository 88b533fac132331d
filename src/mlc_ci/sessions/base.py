"""What a session is: an argument parser plus a plan of steps."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from mlc_ci.config import Config
from mlc_ci.run import Step


@dataclass
class Plan:
    """What a session will do: its steps and what the report should say up front."""

    report_name: str
    steps: list[Step]
    data: dict[str, Any] = field(default_factory=dict)
    cleanup: list[Step] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def config_flag(args: argparse.Namespace) -> str | None:
    """The --config the user gave (None without one), for the hints that name a command to run
    first: that command must read the same pipeline.toml."""
    return getattr(args, "config", None)


PlanFn = Callable[[argparse.Namespace, Config, Mapping[str, str]], Plan]


@dataclass(frozen=True)
class SessionDef:
    """A session as the CLI and noxfile see it."""

    name: str
    description: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    plan: PlanFn
