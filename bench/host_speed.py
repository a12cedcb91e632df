"""A yardstick of the machine's speed printed with the benchmarks' figures, to compare machines and days
(the shared 2-core hosts differ by 1.5-2x from one session to the next)."""

from __future__ import annotations

import json
import time


def host_reference_ms() -> float:
    """CPU ms of a fixed standard-library workload (regex, JSON, dicts, strings; none of Hunter's code),
    best of five: the machine's speed alone."""
    import re

    text = " ".join(f"Empresa {i} contato{i}@site{i}.com.br (11) 9{i:04d}-{i:04d}" for i in range(2000))
    rx = re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+")
    best = float("inf")
    for _ in range(5):
        t0 = time.process_time()
        for _ in range(5):
            found = rx.findall(text)
            data = json.loads(json.dumps({"found": found, "words": text.split()}))
            counts: dict[str, int] = {}
            for word in data["words"]:
                counts[word.lower()] = counts.get(word.lower(), 0) + 1
        best = min(best, time.process_time() - t0)
    return 1000 * best
