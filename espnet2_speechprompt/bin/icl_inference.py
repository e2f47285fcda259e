r"""In-context learning on test tasks with warmed-up prompts, beside the baselines.

    python -m espnet2_speechprompt.bin.icl_inference \
        --speechprompt_train_config exp/icl/config.yaml \
        --speechprompt_model_file exp/icl/valid.loss.best.pth \
        --task arabic_sc --pool dump/units/arabic_sc_pool --test dump/units/arabic_sc_test \
        --task iemocap --pool dump/units/iemocap_pool --test dump/units/iemocap_test \
        --seen_tasks google_sc --seeds 0 1 2 3 4 --output_dir exp/icl/decode

``--task``/``--pool``/``--test`` pair up in order (without ``--task``: the test dir's name);
each dir holds ``units`` (k-means ids) and ``label``. Writes, per task,
``<output_dir>/<task>/seed<s>/text`` (``utt label``: the demonstration label of highest
log-probability), ``<output_dir>/<task>/seed<s>/free`` (``utt label unit``: the unconstrained
prediction, as the episode's label it stands for or ``-`` when it is none of the
demonstrations' labels, and its k-means unit, ``#<token>`` for a token without one) and
``<output_dir>/<task>/result.json`` (every number of ``api.icl_eval``); then
``<output_dir>/RESULTS.md`` over all tasks.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from ..api.icl_eval import (
    SEEDS,
    ICLEvalConfig,
    SeedResult,
    check_queries,
    evaluate_task,
    read_task_dir,
    task_result,
)
from ..baselines.icl import FewShotTuningConfig
from ..data.episodes import Example, TaskPool
from ..errors import SpeechPromptError
from ..fileio import atomic_directory, atomic_write_text, directory_lock
from .cli_errors import exit_on_user_error
from .icl_results import results_markdown

logger = logging.getLogger(__name__)


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--speechprompt_train_config", required=True)
    parser.add_argument("--speechprompt_model_file", required=True)
    parser.add_argument("--task", action="append", default=[], help="name of each test task")
    parser.add_argument("--pool", action="append", required=True, help="demonstration pool dir")
    parser.add_argument("--test", action="append", required=True, help="test data dir")
    parser.add_argument("--seen_tasks", nargs="*", default=[], help="tasks seen in warm-up")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS))
    parser.add_argument("--output_dir", required=True, type=Path)
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--no_svc", action="store_true", help="skip the SVC baseline")
    parser.add_argument(
        "--prompt_tuning_steps",
        type=int,
        default=FewShotTuningConfig.steps,
        help="steps of the few-shot prompt-tuning reference (0: skip it)",
    )
    parser.add_argument(
        "--prompt_tuning_shots",
        type=int,
        default=FewShotTuningConfig.shots_per_label,
        help="examples per label",
    )
    return parser  # fmt: skip


def read_test_tasks(args: argparse.Namespace) -> list[tuple[str, TaskPool, list[Example]]]:
    """(name, demonstration pool, test queries) of each task; one error for bad dirs."""
    if len(args.pool) != len(args.test) or (args.task and len(args.task) != len(args.test)):
        raise SpeechPromptError(
            f"{len(args.task)} --task, {len(args.pool)} --pool and {len(args.test)} --test "
            "options: give one --pool and one --test (and one --task, or none) per test task"
        )
    names = args.task or [Path(test).name for test in args.test]
    if len(set(names)) != len(names):
        raise SpeechPromptError(f"test task names repeat ({' '.join(names)}); name each --task")
    tasks = []
    for name, pool_dir, test_dir in zip(names, args.pool, args.test, strict=True):
        pool = TaskPool(name, read_task_dir(pool_dir, name))
        queries = read_task_dir(test_dir, name)
        check_queries(pool, queries)
        tasks.append((name, pool, queries))
    return tasks


def load_model(config: str, model_file: str, device: str):
    """The warmed-up model: ``.prompted`` (PromptedICL), ``.episode`` (EpisodeConfig),
    ``.unit_encoder`` (UnitEncoder)."""
    from ..api.icl import InContextSpeechPrompt

    return InContextSpeechPrompt(config, model_file, device=device)


def unit_symbols(encoder) -> dict[int, str]:
    """Backbone token -> its k-means unit id (as text)."""
    return {int(token): str(unit) for unit, token in enumerate(encoder.table) if token >= 0}


def write_seed(directory: Path, result: SeedResult, units: dict[int, str]) -> None:
    """``text`` and ``free`` of one seed, one line per query in test order."""
    directory.mkdir(parents=True)
    text, free = [], []
    for p, best, token in zip(result.episodes, result.warm.best, result.warm.free, strict=True):
        utt = p.episode.query.utt
        text.append(f"{utt} {p.labels[best]}\n")
        stands_for = dict(zip(p.label_tokens, p.labels, strict=True)).get(token, "-")
        free.append(f"{utt} {stands_for} {units.get(token, f'#{token}')}\n")
    atomic_write_text(directory / "text", "".join(text))
    atomic_write_text(directory / "free", "".join(free))


def run_task(icl, task: tuple[str, TaskPool, list[Example]], args, config) -> dict:
    """Evaluate one task and write its directory at once; returns its result.json."""
    name, pool, queries = task
    pool.require(icl.episode.num_demos)
    results = evaluate_task(icl.prompted, icl.episode, icl.unit_encoder, pool, queries, config)
    split = "seen" if name in args.seen_tasks else "unseen"
    summary = task_result(name, split, results, config, icl.episode)
    units = unit_symbols(icl.unit_encoder)
    with atomic_directory(args.output_dir / name) as directory:
        for result in results:
            write_seed(directory / f"seed{result.seed}", result, units)
        atomic_write_text(directory / "result.json", json.dumps(summary, indent=2) + "\n")
    accuracy = summary["summary"]["with_warmup"]["accuracy"]
    logger.info(f"{name}: accuracy {accuracy['mean']:.3f} ± {accuracy['std']:.3f}")
    return summary


def eval_config(args: argparse.Namespace) -> ICLEvalConfig:
    tuning = None
    if args.prompt_tuning_steps > 0:
        tuning = FewShotTuningConfig(args.prompt_tuning_shots, args.prompt_tuning_steps)
    return ICLEvalConfig(tuple(args.seeds), args.batch_size, not args.no_svc, tuning)


def main(cmd: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    args = get_parser().parse_args(cmd)
    with exit_on_user_error():
        if args.batch_size < 1 or args.prompt_tuning_shots < 1:
            raise SpeechPromptError("--batch_size and --prompt_tuning_shots must be >= 1")
        if len(set(args.seeds)) != len(args.seeds):
            raise SpeechPromptError(f"--seeds {' '.join(map(str, args.seeds))}: repeated seed")
        tasks = read_test_tasks(args)
        icl = load_model(args.speechprompt_train_config, args.speechprompt_model_file, args.device)
        for _, pool, _ in tasks:
            pool.require(icl.episode.num_demos)
        args.output_dir.mkdir(parents=True, exist_ok=True)
        with directory_lock(args.output_dir):
            summaries = [run_task(icl, task, args, eval_config(args)) for task in tasks]
            atomic_write_text(args.output_dir / "RESULTS.md", results_markdown(summaries))


if __name__ == "__main__":
    main()
