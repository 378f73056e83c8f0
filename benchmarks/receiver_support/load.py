"""The load generator: ``python -m benchmarks.receiver_support.load PORT PATH FILE CONNECTIONS``.

``FILE`` is a pickle of ``[(headers, body), ...]``, signed beforehand. Each of
CONNECTIONS threads keeps one ``http.client`` connection (re-opened when the
server closes it, as gunicorn's sync workers do after every response) and
takes the next request from the shared list until none is left. Prints one
JSON line: seconds from the first request to the last answer, the count of
each status, and this process's CPU seconds.
"""

from __future__ import annotations

import http.client
import json
import os
import pickle
import sys
import threading
import time
from collections import Counter
from pathlib import Path


def main(port: int, path: str, requests_file: Path, connections: int) -> dict:
    requests = pickle.loads(requests_file.read_bytes())  # our own file
    pending = iter(requests)
    take = threading.Lock()
    statuses: Counter[int] = Counter()
    errors: list[str] = []

    def client() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while True:
            with take:
                item = next(pending, None)
            if item is None:
                break
            headers, body = item
            try:
                connection.request("POST", path, body, headers)
                response = connection.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException) as exc:
                connection.close()
                errors.append(f"{type(exc).__name__}: {exc}")
                status = 0
            with take:
                statuses[status] += 1
        connection.close()

    threads = [threading.Thread(target=client) for _ in range(connections)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    times = os.times()
    return {
        "elapsed": elapsed,
        "statuses": dict(statuses),
        "errors": errors[:5],
        "cpu": times.user + times.system,
    }


if __name__ == "__main__":
    port, path, requests_file, connections = sys.argv[1:5]
    print(json.dumps(main(int(port), path, Path(requests_file), int(connections))))
