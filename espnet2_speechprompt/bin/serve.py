r"""Serve packed tasks that share one frozen backbone over HTTP, requests for different tasks
batched together.

    python -m espnet2_speechprompt.bin.serve --packages exp/commands.zip exp/intents.zip \
        --port 8000

The backbone is loaded once (every package must record the same backbone files); each task
adds its prompts and verbalizer. Open ``http://127.0.0.1:8000/`` for a web UI; the API:
``GET /tasks``, ``POST /predict`` (JSON ``{"task": ..., "units": [...]}`` or a form with
``task`` and an ``audio`` file), ``GET /health``, ``GET /metrics`` (Prometheus text). Requests
wait at most ``--max_wait_ms`` for others to share their batch (at most ``--max_batch``); past
``--max_queue`` waiting requests the server answers 429. Ctrl-C / SIGTERM: new requests get
503, those accepted are answered, then the server stops. Listens on loopback unless --host
says otherwise; ``--port 0`` picks a free port (printed).
"""

from __future__ import annotations

import argparse
import logging
import signal
import socket

from ..errors import SpeechPromptError
from ..options import str2bool
from ..precision import BACKBONE_PRECISIONS
from .cli_errors import exit_on_user_error


def key_values(pairs: list[str] | None) -> dict[str, str] | None:
    """``["checkpoint=/x.pt", ...]`` -> ``{"checkpoint": "/x.pt"}``."""
    if not pairs:
        return None
    bad = [pair for pair in pairs if "=" not in pair]
    if bad:
        raise SpeechPromptError(f"--backbone_conf {bad[0]!r}: write key=value")
    return dict(pair.split("=", 1) for pair in pairs)


def task_options(text: str) -> dict[str, dict]:
    """``--task_options``: a YAML mapping, task name -> its own decoding settings."""
    import yaml

    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise argparse.ArgumentTypeError(f"not YAML ({error.__class__.__name__})") from None
    if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
        raise argparse.ArgumentTypeError("write {task: {setting: value, ...}, ...}")
    return value


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n".join(__doc__.splitlines()[2:]),
    )  # fmt: skip
    parser.add_argument("--packages", nargs="+", required=True, help="packed tasks (.zip/.tgz, "
                        "unpacked directories or Hub tags)")  # fmt: skip
    parser.add_argument("--names", nargs="+", help="task names (default: from the packages)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--backbone_precision", choices=BACKBONE_PRECISIONS, default=None)
    parser.add_argument("--backbone_conf", nargs="+", metavar="KEY=VALUE",
                        help="backbone files, e.g. checkpoint=/path/checkpoint_best.pt")  # fmt: skip
    parser.add_argument("--task_options", type=task_options, default=None,
                        help="per-task decoding settings, YAML: '{asr: {max_len_a: 0.3}}'")  # fmt: skip
    parser.add_argument("--max_batch", type=int, default=16)
    parser.add_argument("--max_wait_ms", type=float, default=10.0)
    parser.add_argument("--continuous_batching", type=str2bool, default=True,
                        help="greedy and sampled generation requests join a running batch "
                        "(one label per step for all) instead of waiting for a batch")  # fmt: skip
    parser.add_argument("--max_queue", type=int, default=256)
    parser.add_argument("--max_upload_mb", type=float, default=10.0)
    parser.add_argument("--shutdown_timeout", type=float, default=30.0,
                        help="seconds to finish accepted requests after SIGTERM")  # fmt: skip
    parser.add_argument("--log_level", default="INFO")
    return parser


def load(args: argparse.Namespace):
    """The task bank and its batcher (every candidate's score kept for classification)."""
    from ..api.multitask import MultiTaskSpeechPrompt, StreamingTasks
    from ..serving.batcher import DynamicBatcher

    runner = MultiTaskSpeechPrompt.from_pretrained(
        args.packages, names=args.names, device=args.device,
        backbone_conf=key_values(args.backbone_conf), backbone_precision=args.backbone_precision,
        task_options=args.task_options,
    )  # fmt: skip
    for task in runner.tasks.values():
        if task.decoding == "score":
            task.nbest = len(task.candidates)
    streaming = StreamingTasks(runner, args.max_batch) if args.continuous_batching else None
    batcher = DynamicBatcher(
        runner.predict_sources, args.max_batch, args.max_wait_ms / 1000, args.max_queue, streaming
    )
    return runner, batcher


def main(cmd: list[str] | None = None) -> None:
    args = get_parser().parse_args(cmd)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(message)s")
    with exit_on_user_error():
        runner, batcher = load(args)
    import uvicorn

    from ..serving.app import GracefulServer, create_app

    app = create_app(runner, batcher, int(args.max_upload_mb * 2**20))
    config = uvicorn.Config(
        app, log_level=args.log_level.lower(), timeout_graceful_shutdown=args.shutdown_timeout
    )
    listener = socket.create_server((args.host, args.port))
    host, port = listener.getsockname()[:2]
    print(f"serving tasks {', '.join(runner.names)} on http://{host}:{port}/", flush=True)
    for sig in (signal.SIGINT, signal.SIGTERM):  # uvicorn raises it again once it has stopped
        signal.signal(sig, _stopped)
    GracefulServer(config, batcher).run(sockets=[listener])


def _stopped(sig, _frame) -> None:
    """After a graceful shutdown: exit 0 (uvicorn re-raises the signal that stopped it)."""
    logging.getLogger(__name__).info(f"stopped ({signal.Signals(sig).name})")
    raise SystemExit(0)


if __name__ == "__main__":
    main()
