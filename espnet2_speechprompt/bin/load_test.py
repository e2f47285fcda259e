r"""Load-test a running task-bank server (``bin.serve``): concurrent clients send a fixed number
of requests whose tasks interleave, with bad requests mixed in, then stop.

    python -m espnet2_speechprompt.bin.load_test --url http://127.0.0.1:8000 \
        --units dump/units/test/units --requests 400 --clients 8 \
        --check_packages exp/commands.zip exp/intents.zip

Reports throughput, p50/p99 latency, the batch sizes the server reached, errors on valid
requests (there must be none), that every bad request got a 4xx JSON error and that the server
still answers afterwards; with ``--check_packages`` (the served packages), that every answer
equals offline inference. Exits 1 when any of these fails. Talks to the given URL only.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from .cli_errors import exit_on_user_error

BAD_REQUESTS = [
    {"task": "no-such-task", "units": [1, 2, 3]},
    {"units": [1, 2, 3]},
    {"task": None, "units": "not a list"},
]


@dataclass
class Outcome:
    index: int
    status: int
    body: dict
    seconds: float


def make_requests(tasks: list[str], utterances: list[list[int]], count: int, bad_every: int):
    """``count`` request bodies, tasks in a seeded random order; every ``bad_every``-th bad."""
    rng = random.Random(0)
    bodies = []
    for i in range(count):
        if bad_every and i % bad_every == bad_every - 1:
            bad = dict(BAD_REQUESTS[(i // bad_every) % len(BAD_REQUESTS)])
            if "task" in bad and bad["task"] is None:  # a known task, bad units
                bad["task"] = tasks[0]
            bodies.append((False, bad))
        else:
            bodies.append(
                (True, {"task": rng.choice(tasks), "units": utterances[i % len(utterances)]})
            )
    return bodies


def send_all(url: str, bodies, clients: int, timeout: float) -> tuple[list[Outcome], float]:
    import requests

    local = threading.local()  # one HTTP session per client thread

    def send(item) -> Outcome:
        index, (_, body) = item
        if not hasattr(local, "session"):
            local.session = requests.Session()
        session = local.session
        start = time.perf_counter()
        try:
            response = session.post(f"{url}/predict", json=body, timeout=timeout)
            status, answer = response.status_code, response.json()
        except (requests.RequestException, ValueError) as exc:
            status, answer = 0, {"error": f"{type(exc).__name__}: {exc}"}
        return Outcome(index, status, answer, time.perf_counter() - start)

    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        outcomes = list(pool.map(send, enumerate(bodies)))
    return outcomes, time.perf_counter() - start


def offline_answers(packages: list[str], bodies) -> dict[int, tuple]:
    from ..api.multitask import MultiTaskSpeechPrompt, Request

    runner = MultiTaskSpeechPrompt.from_pretrained(packages)
    valid = [(i, body) for i, (ok, body) in enumerate(bodies) if ok]
    answers = {}
    for start in range(0, len(valid), 16):
        chunk = valid[start : start + 16]
        results = runner.predict([Request(b["task"], units=b["units"]) for _, b in chunk])
        answers.update({i: r for (i, _), r in zip(chunk, results, strict=True)})
    return answers


def report(bodies, outcomes: list[Outcome], seconds: float, url: str, expected) -> dict:
    import requests

    valid = [o for o in outcomes if bodies[o.index][0]]
    bad = [o for o in outcomes if not bodies[o.index][0]]
    latencies = sorted(o.seconds for o in valid)
    mismatches = [
        o.index for o in valid
        if expected is not None and o.status == 200 and not _same(o.body, expected[o.index])
    ]  # fmt: skip
    metrics = requests.get(f"{url}/metrics", timeout=30).text
    sizes = {
        int(s): int(n) for s, n in re.findall(r'batch_size_total\{size="(\d+)"\} (\d+)', metrics)
    }
    return {
        "requests": len(outcomes),
        "valid": len(valid),
        "seconds": round(seconds, 3),
        "throughput_per_s": round(len(valid) / seconds, 2),
        "latency_p50_s": round(statistics.median(latencies), 4) if latencies else None,
        "latency_p99_s": round(latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))], 4)
        if latencies else None,
        "valid_errors": [o.body.get("error") for o in valid if o.status != 200][:5],
        "valid_error_count": sum(o.status != 200 for o in valid),
        "bad": len(bad),
        "bad_answered_4xx": sum(400 <= o.status < 500 and "error" in o.body for o in bad),
        "mismatches": len(mismatches) if expected is not None else None,
        "server_answers_after": requests.get(f"{url}/health", timeout=30).status_code == 200,
        "batch_sizes": sizes,
    }  # fmt: skip


def _same(body: dict, expected: tuple) -> bool:
    label, score, ids = expected
    return (
        body.get("label") == label and body.get("ids") == ids and abs(body["score"] - score) < 1e-4
    )


def passed(result: dict) -> bool:
    return (
        result["valid_error_count"] == 0
        and result["bad_answered_4xx"] == result["bad"]
        and result["server_answers_after"]
        and not result["mismatches"]
    )


def read_units(path: str) -> list[list[int]]:
    from ..units.datadir import read_units as read_units_file

    utterances = [units for _, units in read_units_file(path)]
    if not utterances:
        from ..errors import SpeechPromptError

        raise SpeechPromptError(f"{path}: no utterances")
    return utterances


def run(args: argparse.Namespace) -> dict:
    import requests

    tasks = [t["name"] for t in requests.get(f"{args.url}/tasks", timeout=30).json()]
    bodies = make_requests(tasks, read_units(args.units), args.requests, args.bad_every)
    expected = offline_answers(args.check_packages, bodies) if args.check_packages else None
    outcomes, seconds = send_all(args.url, bodies, args.clients, args.timeout)
    return report(bodies, outcomes, seconds, args.url, expected)


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n".join(__doc__.splitlines()[2:]),
    )  # fmt: skip
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--units", required=True, help="Kaldi-style units file (utt u1 u2 ...)")
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--bad_every", type=int, default=10, help="every n-th request is bad")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per request")
    parser.add_argument("--check_packages", nargs="+", help="the served packages: compare "
                        "every answer with offline inference")  # fmt: skip
    parser.add_argument("--output", help="write the report as JSON here too")
    return parser


def main(cmd: list[str] | None = None) -> None:
    args = get_parser().parse_args(cmd)
    with exit_on_user_error():
        result = run(args)
    text = json.dumps(result, indent=2)
    print(text)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(text + "\n")
    sys.exit(0 if passed(result) else 1)


if __name__ == "__main__":
    main()
