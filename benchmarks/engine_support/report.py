"""Statistics and the markdown report: tables, ratios to the run's baseline, targets."""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field


def median(values: Iterable[float]) -> float:
    values = list(values)
    return statistics.median(values) if values else math.nan


def percentile(values: Sequence[float], share: float) -> float:
    """Nearest-rank percentile (``share`` in 0..1); missing samples count as +inf."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[rank - 1]


def ratio(value: float, baseline: float) -> float:
    if not baseline or math.isnan(baseline) or math.isnan(value):
        return math.nan
    return value / baseline


def fmt(value: float, digits: int = 1, unit: str = "") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if math.isinf(value):
        return "never"
    return f"{value:,.{digits}f}{unit}"


def fmt_ratio(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.2f}x"


def fmt_ms(seconds: float, window: float | None = None) -> str:
    if math.isinf(seconds) and window is not None:
        return f"> {window:.0f} s (not arrived)"
    return fmt(seconds * 1000, 1, " ms")


@dataclass
class Target:
    description: str
    met: bool | None  # None: could not be judged
    detail: str

    def line(self) -> str:
        verdict = {True: "**met**", False: "**missed**", None: "**not judged**"}[self.met]
        return f"- Target {self.description}: {verdict} ({self.detail})"


@dataclass
class Section:
    title: str
    lines: list[str] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    error: str = ""

    def text(self, line: str = "") -> None:
        self.lines.append(line)

    def table(self, header: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
        self.lines.append("| " + " | ".join(header) + " |")
        self.lines.append("| " + " | ".join("---" for _ in header) + " |")
        for row in rows:
            self.lines.append("| " + " | ".join(str(cell) for cell in row) + " |")
        self.lines.append("")

    def target(self, description: str, met: bool | None, detail: str) -> None:
        self.targets.append(Target(description, met, detail))

    def render(self) -> str:
        parts = [f"## {self.title}", ""]
        parts += self.lines
        if self.targets:
            parts += [target.line() for target in self.targets] + [""]
        if self.error:
            parts += ["**ERROR** — this scenario did not finish:", "", "```", self.error, "```", ""]
        return "\n".join(parts)


def render(header: list[str], sections: list[Section]) -> str:
    summary = [target for section in sections for target in section.targets]
    lines = [*header, ""]
    if summary:
        lines += ["## Targets", ""]
        lines += [
            f"{target.line()} — {section.title}"
            for section in sections
            for target in section.targets
        ]
        lines.append("")
    failed = [section.title for section in sections if section.error]
    if failed:
        lines += [f"**Scenarios with errors: {', '.join(failed)}**", ""]
    lines += [section.render() for section in sections]
    return "\n".join(lines).rstrip() + "\n"
