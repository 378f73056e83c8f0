"""Skip the mutants of a cosmic-ray session that only change a type annotation.

With ``from __future__ import annotations`` no annotation is evaluated at run
time, so a mutant of one (``str | None`` made ``str & None``) is equivalent by
construction: no test can kill it, and running the tests for it costs seconds.

Usage: python .ci/mutation_annotations.py SESSION.sqlite
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

from cosmic_ray.work_db import use_db
from cosmic_ray.work_item import WorkerOutcome, WorkResult

Position = tuple[int, int]


def annotation_spans(source: str) -> list[tuple[Position, Position]]:
    """(start, end) of every annotation: arguments, returns and annotated assignments."""
    spans = []
    for node in ast.walk(ast.parse(source)):
        annotations: list[ast.expr | None] = []
        if isinstance(node, ast.arg):
            annotations.append(node.annotation)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            annotations.append(node.returns)
        elif isinstance(node, ast.AnnAssign):
            annotations.append(node.annotation)
        for annotation in annotations:
            if annotation is not None and annotation.end_lineno is not None:
                start = (annotation.lineno, annotation.col_offset)
                end = (annotation.end_lineno, annotation.end_col_offset or 0)
                spans.append((start, end))
    return spans


def inside(start: Position, end: Position, spans: list[tuple[Position, Position]]) -> bool:
    return any(low <= start and end <= high for low, high in spans)


def main(session: str) -> int:
    spans: dict[Path, list[tuple[Position, Position]]] = {}
    skipped = 0
    with use_db(session) as work_db:
        for item in list(work_db.pending_work_items):
            for mutation in item.mutations:
                path = Path(mutation.module_path)
                if path not in spans:
                    spans[path] = annotation_spans(path.read_text("utf-8"))
                if inside(tuple(mutation.start_pos), tuple(mutation.end_pos), spans[path]):
                    work_db.set_result(
                        item.job_id,
                        WorkResult(
                            output="In a type annotation (never evaluated)",
                            worker_outcome=WorkerOutcome.SKIPPED,
                        ),
                    )
                    skipped += 1
                    break
    print(f"{skipped} mutants in type annotations skipped")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
