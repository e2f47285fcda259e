"""The HTTP interface of a task bank (FastAPI): one frozen backbone, many tasks, requests for
different tasks batched together (``batcher.DynamicBatcher``).

- ``GET /``: a one-page web UI (upload or record a clip, pick a task, see the answer);
- ``GET /tasks``: every task with its labels, decoding and the units its verbalizer weighs;
- ``POST /predict``: JSON ``{"task": ..., "units": [...]}`` or a form with ``task`` and an
  ``audio`` file (any rate: resampled to 16 kHz) -> label, score, every candidate's score (for
  classification), the predicted label's verbalizer units;
- ``GET /health``, ``GET /metrics`` (Prometheus text).
Errors are JSON ``{"error": "..."}`` naming the problem: 400 bad input, 404 unknown task, 413
upload too large, 429 queue full, 503 shutting down; the server itself never stops on one.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging

import soundfile
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse
from starlette.concurrency import run_in_threadpool

from ..api.multitask import MultiTaskSpeechPrompt
from ..errors import SpeechPromptError
from .batcher import DynamicBatcher, QueueFull, ShuttingDown
from .page import PAGE

logger = logging.getLogger(__name__)


class HTTPProblem(Exception):
    """A request the server answers with ``status`` and a one-line ``message``."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def problem_of(exc: Exception) -> HTTPProblem:
    """The HTTP answer to an error raised while handling a request."""
    if isinstance(exc, HTTPProblem):
        return exc
    if isinstance(exc, QueueFull):
        return HTTPProblem(429, str(exc))
    if isinstance(exc, ShuttingDown):
        return HTTPProblem(503, str(exc))
    if isinstance(exc, SpeechPromptError):
        return HTTPProblem(404 if str(exc).startswith("unknown task") else 400, str(exc))
    logger.exception("request failed")
    return HTTPProblem(500, f"internal error ({type(exc).__name__}); see the server log")


def read_audio(data: bytes, name: str):
    """(samples, rate) of an uploaded audio file; one clear error if it is not audio."""
    try:
        samples, rate = soundfile.read(io.BytesIO(data), dtype="float32")
    except (soundfile.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise HTTPProblem(400, f"audio {name!r}: not a readable audio file ({reason}); send "
                               "WAV, FLAC or OGG") from None  # fmt: skip
    if len(samples) == 0:
        raise HTTPProblem(400, f"audio {name!r}: no samples")
    return samples, rate


def check_units(units) -> list[int]:
    if not isinstance(units, list) or not units:
        raise HTTPProblem(400, "units: give a non-empty list of integer unit ids")
    if not all(isinstance(u, int) and not isinstance(u, bool) for u in units):
        raise HTTPProblem(400, "units: every unit id must be an integer")
    return units


class TaskServer:
    """The routes' logic over a ``MultiTaskSpeechPrompt`` and its batcher."""

    def __init__(self, runner: MultiTaskSpeechPrompt, batcher: DynamicBatcher, max_upload: int):
        self.runner, self.batcher, self.max_upload = runner, batcher, max_upload
        self.invalid = 0

    def tasks(self) -> list[dict]:
        return [
            {
                "name": name,
                "labels": task.labels.labels,
                "decoding": task.decoding,
                "backbone": self.runner.backbone_name,
                "verbalizer_units": self.runner.verbalizer_units(name),
            }
            for name, task in self.runner.tasks.items()
        ]

    async def read_request(self, request: Request) -> tuple[str, dict]:
        """(task, utterance keyword arguments of ``SpeechPrompt.source_of``)."""
        length = request.headers.get("content-length")
        if length is None or not length.isdigit():
            raise HTTPProblem(411, "send a Content-Length header")
        if int(length) > self.max_upload:
            raise HTTPProblem(
                413, f"request of {int(length)} bytes; the limit is {self.max_upload}"
            )
        kind = request.headers.get("content-type", "")
        if kind.startswith("application/json"):
            try:
                body = json.loads(await request.body())
            except (ValueError, UnicodeDecodeError):
                raise HTTPProblem(400, "the body is not valid JSON") from None
            if not isinstance(body, dict) or not isinstance(body.get("task"), str):
                raise HTTPProblem(400, 'give {"task": <name>, "units": [...]}')
            return body["task"], {"units": check_units(body.get("units"))}
        if kind.startswith("multipart/form-data"):
            form = await request.form(max_files=1, max_fields=4)
            task, audio = form.get("task"), form.get("audio")
            if not isinstance(task, str) or audio is None or isinstance(audio, str):
                raise HTTPProblem(400, "give the form fields 'task' and 'audio' (a file)")
            samples, rate = read_audio(await audio.read(), audio.filename or "upload")
            return task, {"speech": samples, "sample_rate": rate, "utt": audio.filename or "upload"}
        raise HTTPProblem(415, "send application/json (units) or multipart/form-data (audio)")

    async def predict(self, request: Request) -> dict:
        name, utterance = await self.read_request(request)
        task = self.runner.task(name)
        source = await run_in_threadpool(task.source_of, **utterance)
        nbest = await asyncio.wrap_future(self.batcher.submit(name, source))
        label, score, ids = nbest[0]
        answer = {"task": name, "label": label, "score": score, "ids": ids}
        if task.decoding == "score":
            answer["scores"] = {text: value for text, value, _ in nbest}
            answer["verbalizer_units"] = self.runner.verbalizer_units(name).get(label, [])
        return answer

    def metrics(self) -> str:
        stats, lines = self.batcher.stats, []
        gauges = {
            "speechprompt_requests_answered_total": stats.answered,
            "speechprompt_requests_failed_total": stats.failed,
            "speechprompt_requests_invalid_total": self.invalid,
            "speechprompt_batches_total": stats.batches,
            "speechprompt_queue_length": self.batcher.queued,
            "speechprompt_latency_p50_seconds": stats.quantile(0.5),
            "speechprompt_latency_p99_seconds": stats.quantile(0.99),
        }
        lines += [f"{name} {value}" for name, value in gauges.items()]
        lines += [f'speechprompt_batch_size_total{{size="{size}"}} {count}'
                  for size, count in sorted(stats.batch_sizes.items())]  # fmt: skip
        lines += [f'speechprompt_decoding_steps_total{{requests="{size}"}} {count}'
                  for size, count in sorted(stats.step_requests.items())]  # fmt: skip
        return "\n".join(lines) + "\n"


def create_app(runner: MultiTaskSpeechPrompt, batcher: DynamicBatcher, max_upload: int) -> FastAPI:
    """The FastAPI application (``batcher`` is closed when the application shuts down)."""
    server = TaskServer(runner, batcher, max_upload)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI):
        yield
        await run_in_threadpool(batcher.close)  # answers what is queued, then stops

    app = FastAPI(title="SpeechPrompt task bank", docs_url=None, redoc_url=None, lifespan=lifespan)
    app.state.server = server

    @app.exception_handler(HTTPProblem)
    async def _problem(_request: Request, exc: HTTPProblem) -> JSONResponse:
        return JSONResponse({"error": exc.message}, status_code=exc.status)

    @app.get("/", response_class=HTMLResponse)
    async def page() -> str:
        return PAGE

    @app.get("/health")
    async def health() -> JSONResponse:
        status = "shutting down" if batcher.closing else "ok"
        body = {"status": status, "tasks": runner.names, "backbone": runner.backbone_name}
        return JSONResponse(body, status_code=503 if batcher.closing else 200)

    @app.get("/tasks")
    async def tasks() -> list[dict]:
        return server.tasks()

    @app.get("/metrics", response_class=PlainTextResponse)
    async def metrics() -> str:
        return server.metrics()

    @app.post("/predict")
    async def predict(request: Request) -> dict:
        try:
            return await server.predict(request)
        except Exception as exc:  # noqa: BLE001 - every failure is a JSON answer
            problem = problem_of(exc)
            server.invalid += problem.status < 500
            raise problem from None

    return app


class GracefulServer(uvicorn.Server):
    """uvicorn's server; on SIGINT/SIGTERM new requests get 503 at once while the accepted
    ones are answered (uvicorn waits for them), then the batcher stops."""

    def __init__(self, config: uvicorn.Config, batcher: DynamicBatcher):
        super().__init__(config)
        self.batcher = batcher

    def handle_exit(self, sig, frame) -> None:
        self.batcher.begin_shutdown()
        super().handle_exit(sig, frame)
