"""Run the survivors of a cosmic-ray session again, against slower test files.

Every mutant first meets the module's own, fast test files (``cosmic-ray exec``);
only the few that survive them meet the slow end-to-end files here, which then
cost minutes instead of hours. A mutant they kill is recorded as killed, its
output starting with a note that only the slow files killed it (a gap in the
module's own tests, though not in the suite).

Usage, from the folder the session was run in:
    python .ci/mutation_slow_tests.py SESSION TIMEOUT COMMAND
"""

from __future__ import annotations

import sys

from cosmic_ray.mutating import mutate_and_test
from cosmic_ray.work_db import use_db
from cosmic_ray.work_item import TestOutcome, WorkResult

NOTE = "Killed only by the slow test files: "


def main(session: str, timeout: str, command: str) -> int:
    with use_db(session) as work_db:
        survivors = [
            item
            for item, result in work_db.completed_work_items
            if result.test_outcome == TestOutcome.SURVIVED
        ]
        killed = 0
        for item in survivors:
            again = mutate_and_test(item.mutations, command, float(timeout))
            if again.test_outcome == TestOutcome.KILLED:
                killed += 1
                work_db.set_result(
                    item.job_id,
                    WorkResult(
                        worker_outcome=again.worker_outcome,
                        test_outcome=again.test_outcome,
                        diff=again.diff,
                        output=f"{NOTE}{command}\n{again.output or ''}",
                    ),
                )
    print(f"{killed} of {len(survivors)} survivors killed by the slow test files")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
