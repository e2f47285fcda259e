"""The HTTP server (``bin.serve``) on loopback: task listing, answers from units and from
uploaded audio (16 kHz and resampled 8 kHz) equal offline inference, one JSON error per bad
request with the server still answering, metrics, and a shutdown that refuses new requests
(503) while finishing those in flight."""

from __future__ import annotations

import io
import socket
import threading
import time

import numpy as np
import pytest

pytest.importorskip("espnet2", reason="espnet (the task layer's dependency) is not installed")
pytest.importorskip("fastapi", reason="fastapi (the server's dependency) is not installed")
requests = pytest.importorskip("requests", reason="requests is not installed")

import soundfile  # noqa: E402
import uvicorn  # noqa: E402

from espnet2_speechprompt.api.multitask import MultiTaskSpeechPrompt  # noqa: E402
from espnet2_speechprompt.bin.serve import get_parser, load  # noqa: E402
from espnet2_speechprompt.serving.app import GracefulServer, create_app  # noqa: E402
from test.factories.task_bank import task_bank  # noqa: E402
from test.serving.server import running_server  # noqa: E402


@pytest.fixture(scope="module")
def packages(unit_task_data, tmp_path_factory):
    return task_bank(unit_task_data, tmp_path_factory.mktemp("served"))


@pytest.fixture(scope="module")
def server(packages):
    with running_server(list(packages.values()), "--max_batch", "4", "--max_upload_mb", "0.5") as s:
        yield s
        assert s.stop() == 0


@pytest.fixture(scope="module")
def offline(packages) -> MultiTaskSpeechPrompt:
    return MultiTaskSpeechPrompt.from_pretrained([str(p) for p in packages.values()])


def wav_bytes(seconds: float, rate: int) -> tuple[np.ndarray, bytes]:
    """A tone as a 16-bit WAV file, and its samples as stored."""
    samples = (0.3 * np.sin(np.arange(int(seconds * rate)) * 2200 / rate)).astype(np.float32)
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, rate, format="WAV")
    stored, _ = soundfile.read(io.BytesIO(buffer.getvalue()), dtype="float32")
    return stored, buffer.getvalue()


def test_health_and_tasks(server, packages):
    health = requests.get(f"{server.url}/health", timeout=30).json()
    assert health == {"status": "ok", "tasks": list(packages), "backbone": "gslm"}
    tasks = {t["name"]: t for t in requests.get(f"{server.url}/tasks", timeout=30).json()}
    assert list(tasks) == list(packages)
    assert set(tasks["commands"]["verbalizer_units"]) == set(tasks["commands"]["labels"])
    assert tasks["spelled"]["decoding"] == "greedy"


def test_answers_from_units_and_audio_equal_offline_inference(server, offline, unit_task_data):
    line = (unit_task_data / "valid" / "units").read_text().splitlines()[0]
    units = [int(u) for u in line.split()[1:]]
    for name in offline.names:
        answer = requests.post(f"{server.url}/predict", json={"task": name, "units": units},
                               timeout=60).json()  # fmt: skip
        label, score, ids = offline(name, units=units)
        assert (answer["label"], answer["ids"]) == (label, ids)
        assert answer["score"] == pytest.approx(score, abs=1e-4)
    scored = requests.post(f"{server.url}/predict", json={"task": "commands", "units": units},
                           timeout=60).json()  # fmt: skip
    assert set(scored["scores"]) == set(offline.task("commands").labels.labels)
    assert max(scored["scores"].values()) == pytest.approx(scored["score"])
    for rate in (16000, 8000):
        samples, data = wav_bytes(0.8, rate)
        files = {"audio": ("clip.wav", data, "audio/wav")}
        answer = requests.post(f"{server.url}/predict", data={"task": "keywords"}, files=files,
                               timeout=60).json()  # fmt: skip
        assert answer["label"] == offline("keywords", speech=samples, sample_rate=rate)[0]


BAD = [  # (request keyword arguments, status, message part)
    ({"json": {"task": "nope", "units": [5]}}, 404, "unknown task 'nope'"),
    ({"json": {"task": "commands", "units": [999]}}, 400, "outside the backbone vocabulary"),
    ({"json": {"task": "commands", "units": "5 6"}}, 400, "list of integer unit ids"),
    ({"json": {"units": [5]}}, 400, '"task"'),
    ({"data": b"{not json", "headers": {"content-type": "application/json"}}, 400, "not valid JSON"),
    ({"data": {"task": "commands"}, "files": {"audio": ("x.wav", b"RIFF....", "audio/wav")}},
     400, "not a readable audio file"),
    ({"data": {"task": "commands"}, "files": {"audio": ("x.wav", b"0" * 600_000, "audio/wav")}},
     413, "the limit is"),
    ({"data": b"units", "headers": {"content-type": "text/plain"}}, 415, "application/json"),
]  # fmt: skip


def test_bad_requests_get_one_json_error_and_the_server_keeps_answering(server):
    for kwargs, status, message in BAD:
        response = requests.post(f"{server.url}/predict", timeout=60, **kwargs)
        assert response.status_code == status, (kwargs, response.text)
        assert message in response.json()["error"]
    assert requests.get(f"{server.url}/health", timeout=30).status_code == 200
    metrics = requests.get(f"{server.url}/metrics", timeout=30).text
    assert f"speechprompt_requests_invalid_total {len(BAD)}" in metrics
    assert 'speechprompt_batch_size_total{size="1"}' in metrics


def test_a_full_queue_and_shutdown_refuse_while_accepted_requests_are_answered(packages):
    cmd = ["--packages", *map(str, packages.values()), "--max_batch", "1", "--max_queue", "1"]
    runner, batcher = load(get_parser().parse_args(cmd))
    held, entered = threading.Event(), threading.Event()
    predict = batcher.predict

    def slow(tasks, sources):
        entered.set()
        held.wait(30)
        return predict(tasks, sources)

    batcher.predict = slow
    listener = socket.create_server(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    config = uvicorn.Config(create_app(runner, batcher, 2**20), log_level="warning")
    server = GracefulServer(config, batcher)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]})
    thread.start()
    body, answers = {"task": "commands", "units": [5, 6, 7]}, []

    def send() -> threading.Thread:
        post = threading.Thread(
            target=lambda: answers.append(requests.post(f"{url}/predict", json=body, timeout=60))
        )
        post.start()
        return post

    try:
        accepted = [send()]
        assert entered.wait(30)  # the first request is being answered
        accepted.append(send())
        for _ in range(300):  # the second waits in the queue
            if batcher.queued == 1:
                break
            time.sleep(0.01)
        full = requests.post(f"{url}/predict", json=body, timeout=60)
        assert full.status_code == 429 and "retry later" in full.json()["error"]
        batcher.begin_shutdown()  # as the server's signal handler does first
        refused = requests.post(f"{url}/predict", json=body, timeout=60)
        assert refused.status_code == 503 and "shutting down" in refused.json()["error"]
        assert requests.get(f"{url}/health", timeout=30).json()["status"] == "shutting down"
        server.handle_exit(15, None)
        held.set()
        for post in accepted:
            post.join(60)
        assert [a.status_code for a in answers] == [200, 200]
    finally:
        held.set()
        server.should_exit = True
        thread.join(60)
    assert not thread.is_alive()


def test_per_task_decoding_settings_on_the_command_line(packages, capsys):
    cmd = [
        "--packages",
        *map(str, packages.values()),
        "--task_options",
        "{spelled: {max_len_b: 3}}",
    ]
    runner, batcher = load(get_parser().parse_args(cmd))
    batcher.close()
    assert runner.task("spelled").search_options["max_len_b"] == 3
    assert runner.task("beamed").search_options["max_len_b"] == 200
    for bad in ("[1, 2]", "{spelled: 3}", "{a: [}"):
        with pytest.raises(SystemExit):
            get_parser().parse_args([*cmd[:-1], bad])
        assert "--task_options" in capsys.readouterr().err
