"""The load test (``bin.load_test``) against a real server with 8 tasks: concurrent clients,
interleaved tasks, bad requests mixed in; every valid request answered as offline inference,
every bad one a 4xx JSON error, the server still answering, batches of several requests."""

from __future__ import annotations

import pytest

pytest.importorskip("espnet2", reason="espnet (the task layer's dependency) is not installed")
pytest.importorskip("fastapi", reason="fastapi (the server's dependency) is not installed")
pytest.importorskip("requests", reason="requests is not installed")

from espnet2_speechprompt.bin import load_test  # noqa: E402
from test.factories.task_bank import task_bank  # noqa: E402
from test.serving.server import running_server  # noqa: E402


def test_eight_tasks_under_concurrent_mixed_load(unit_task_data, tmp_path_factory, tmp_path):
    packages = [
        str(p) for p in task_bank(unit_task_data, tmp_path_factory.mktemp("load"), 8).values()
    ]
    with running_server(packages, "--max_batch", "8", "--max_wait_ms", "20") as server:
        cmd = [
            "--url", server.url, "--units", str(unit_task_data / "valid" / "units"),
            "--requests", "96", "--clients", "8", "--bad_every", "8",
            "--check_packages", *packages, "--output", str(tmp_path / "report.json"),
        ]  # fmt: skip
        result = load_test.run(load_test.get_parser().parse_args(cmd))
        assert server.stop() == 0
    print(f"load test: {result}")
    assert result["valid_error_count"] == 0, result["valid_errors"]
    assert result["bad"] == 12 and result["bad_answered_4xx"] == 12
    assert result["mismatches"] == 0 and result["server_answers_after"]
    assert load_test.passed(result)
    assert max(result["batch_sizes"]) > 1
