"""Serving several tasks on one frozen backbone, as ratios measured in one run on this machine.

A GSLM-shaped unit LM (12 layers, d = 1024, FFN 4096, random weights) carries 8 tasks of the
kinds a SpeechPrompt bank serves, with input prompts of 0-10, deep prompts of 0-10, with and
without a separator: 4 classification tasks (2 to 31 labels, each label scored), 2
recognition-like tasks (30 character labels, greedy, up to 0.3 labels per unit + 2) and 2
unit-generation tasks (100 unit labels, greedy continuation as long as the source). A stream of
``--requests`` utterances (``--min-units`` to ``--max-units`` units) whose tasks are drawn at
random, so consecutive requests rarely share a task, is answered:
(a) one task at a time: each request alone by its task's model (a one-task server cannot batch
    an interleaved stream), versus mixed-task batches of up to ``--max-batch`` requests
    (``TaskBank``), either static (consecutive requests; one pass over their sources, the
    classification rows scored, the generation rows searched together until the longest is
    done) or continuous (classification as before; generation with iteration-level batching,
    ``ContinuousDecoder``, as the server runs it: a finished row leaves, a waiting one joins).
    Throughput ratios (goal ≥ 3) for the whole stream and for its classification and
    generation requests apart (``--kinds`` picks which);
(b) tensor memory (backbone + prompts + verbalizers + the bank's stacked prompts and
    precomputed keys/values) of 8 tasks ÷ 1 task (goal ≤ 1.05);
(c) the same batches of one task, deep-prompt keys/values precomputed once (the bank) ÷
    recomputed from the prompt vectors at every request.
Every answer of (a) is checked against the one-at-a-time answer. ``--dtype bfloat16``: the
backbone in bf16 (``precision``); ``--quick``: tiny sizes (seconds).

    python bench/bench_multitask.py [--device cuda] [--dtype bfloat16] [--quick]
"""

from __future__ import annotations

import argparse
import random
from dataclasses import dataclass

import torch
from bench_precision import VOCAB, machine  # (sibling scripts: bench/ is on the path)
from bench_units import timed

from espnet2_speechprompt.prompt.continuous import ContinuousDecoder, GenerationRequest
from espnet2_speechprompt.prompt.multitask import TaskBank
from espnet2_speechprompt.prompt.prompted_lm import PromptedUnitLM
from espnet2_speechprompt.prompt.prompts import PromptConfig
from espnet2_speechprompt.speechlm.transformer_lm import DecoderConfig, TransformerDecoder
from espnet2_speechprompt.verbalizer.fixed import FixedVerbalizer
from espnet2_speechprompt.vocab import NUM_SPECIALS, PAD

GOALS = {"throughput": 3.0, "memory": 1.05}


@dataclass(frozen=True)
class TaskShape:
    inputs: int  # input prompt length
    deep: int  # deep prompt length
    separator: bool
    labels: int
    search: dict | None = None  # greedy search options of a generation task; None: scored


CHARS = {"beam_size": 1, "max_len_a": 0.3, "max_len_b": 2}
CONTINUATION = {"beam_size": 1, "max_len_a": 1.0, "max_len_b": 0}
TASKS = [TaskShape(5, 5, True, 12), TaskShape(0, 10, True, 31), TaskShape(10, 0, True, 2),
         TaskShape(5, 5, False, 6), TaskShape(3, 8, True, 30, CHARS),
         TaskShape(8, 3, True, 30, CHARS), TaskShape(0, 5, False, 100, CONTINUATION),
         TaskShape(5, 10, True, 100, CONTINUATION)]  # fmt: skip
KINDS = {"all": TASKS, "class": [t for t in TASKS if t.search is None],
         "generation": [t for t in TASKS if t.search is not None]}  # fmt: skip


def build_tasks(args, device: torch.device, shapes: list[TaskShape]) -> dict[str, PromptedUnitLM]:
    torch.manual_seed(0)
    config = DecoderConfig(VOCAB) if not args.quick else DecoderConfig(VOCAB, 128, 512, 2, 4)
    backbone = TransformerDecoder(config).to(device)
    tasks = {}
    for i, shape in enumerate(shapes):
        tokens = random.Random(i).sample(range(NUM_SPECIALS, VOCAB), shape.labels)
        prompts = PromptConfig(shape.inputs, shape.deep, shape.separator, dropout=0.0)
        model = PromptedUnitLM(backbone, FixedVerbalizer(tokens), prompts).to(device).eval()
        tasks[f"task{i}"] = model.set_backbone_dtype(getattr(torch, args.dtype))
    return tasks


def stream(args, names: list[str]) -> list[tuple[str, torch.Tensor]]:
    rng = random.Random(0)
    return [
        (rng.choice(names), torch.tensor(
            [rng.randrange(NUM_SPECIALS, VOCAB) for _ in range(rng.randint(args.min_units, args.max_units))]))
        for _ in range(args.requests)
    ]  # fmt: skip


def candidates_of(model: PromptedUnitLM, device: torch.device) -> torch.Tensor:
    labels = model.verbalizer.num_labels
    return torch.arange(NUM_SPECIALS, NUM_SPECIALS + labels, device=device)[:, None]


def one_at_a_time(tasks, shapes, requests, device) -> list:
    answers = []
    for name, units in requests:
        model, search = tasks[name], shapes[name].search
        source, lengths = units[None].to(device), torch.tensor([len(units)], device=device)
        if search is None:
            scores = model.score_candidates(source, lengths, candidates_of(model, device))
            answers.append(int(scores.argmax()))
        else:
            answers.append(tuple(model.search(source, lengths, **search)[0][0].tokens))
    return answers


def batches(requests, max_batch: int):
    for start in range(0, len(requests), max_batch):
        yield requests[start : start + max_batch]


def padded(batch, device) -> tuple[torch.Tensor, torch.Tensor]:
    units = torch.nn.utils.rnn.pad_sequence([u for _, u in batch], True, PAD).to(device)
    return units, torch.tensor([len(u) for _, u in batch], device=device)


def groups(names: list[str], shapes) -> dict[tuple | None, list[int]]:
    """Rows by how they are decoded: scored (None) or searched with the same options but for
    their length limits (as ``MultiTaskSpeechPrompt`` groups them)."""
    grouped: dict[tuple | None, list[int]] = {}
    for r, name in enumerate(names):
        search = shapes[name].search
        key = None if search is None else search["beam_size"]
        grouped.setdefault(key, []).append(r)
    return grouped


def row_limits(names: list[str], shapes, device) -> dict[str, torch.Tensor]:
    keys = ("max_len_a", "max_len_b")
    return {k: torch.tensor([shapes[n].search[k] for n in names], device=device) for k in keys}


def mixed(bank: TaskBank, tasks, shapes, requests, device, max_batch: int) -> list:
    """Static mixed batches: one pass over a batch's sources, then its rows scored or searched
    by group until the group's longest row is done."""
    answers = []
    for batch in batches(requests, max_batch):
        source, lengths = padded(batch, device)
        names = [name for name, _ in batch]
        model = bank.rows(bank.task_ids(names))
        state, first = model.start_decoding(source, lengths)
        batch_answers: list = [None] * len(batch)
        for key, rows in groups(names, shapes).items():
            index = torch.tensor(rows, device=device)
            start = (state.rows(index), first.index_select(0, index))
            picked = (source.index_select(0, index), lengths.index_select(0, index))
            if key is None:
                cands = [candidates_of(tasks[names[r]], device) for r in rows]
                found = [int(s.argmax()) for s in model.score_each(*picked, cands, start=start)]
            else:
                limits = row_limits([names[r] for r in rows], shapes, device)
                nbest = model.search(*picked, start=start, beam_size=key, **limits)
                found = [tuple(hyps[0].tokens) for hyps in nbest]
            for r, answer in zip(rows, found, strict=True):
                batch_answers[r] = answer
        answers += batch_answers
    return answers


def continuous(bank: TaskBank, tasks, shapes, requests, device, max_batch: int) -> list:
    """Classification in static mixed batches; generation requests decoded with iteration-
    level batching (``ContinuousDecoder``: rows leave when done, waiting ones join)."""
    scored = [(i, r) for i, r in enumerate(requests) if shapes[r[0]].search is None]
    generated = [(i, r) for i, r in enumerate(requests) if shapes[r[0]].search is not None]
    answers: list = [None] * len(requests)
    if scored:
        found = mixed(bank, tasks, shapes, [r for _, r in scored], device, max_batch)
        for (i, _), answer in zip(scored, found, strict=True):
            answers[i] = answer
    decoder = ContinuousDecoder(bank, max_batch)
    generation = [GenerationRequest(name, units.to(device), shapes[name].search["max_len_a"],
                                    shapes[name].search["max_len_b"]) for _, (name, units) in generated]  # fmt: skip
    for (i, _), hyps in zip(generated, decoder.run(generation), strict=True):
        answers[i] = tuple(hyps[0].tokens)
    return answers


def tensor_bytes(tasks, bank: TaskBank) -> int:
    """Bytes of every distinct tensor held: models' parameters and the bank's stacks."""
    held = {id(t): t for m in tasks.values() for t in [*m.parameters(), *m.buffers()]}
    stacks = [bank.prompts.input, bank.prompts.input_mask, bank.prompts.deep_mask,
              bank.separator, bank.sep_index, *bank.label_tables]  # fmt: skip
    stacks += [t for kv in bank.prompts.deep_kv or [] for t in kv]
    held.update({id(t): t for t in stacks if t is not None})
    return sum(t.numel() * t.element_size() for t in held.values())


def serve_stream(args, device, tasks, shapes, bank, requests) -> dict[str, float]:
    """Seconds one at a time, in static mixed batches and with generation decoded
    continuously (answers checked equal)."""
    ways = {"one at a time": lambda: one_at_a_time(tasks, shapes, requests, device),
            "static": lambda: mixed(bank, tasks, shapes, requests, device, args.max_batch),
            "continuous": lambda: continuous(bank, tasks, shapes, requests, device, args.max_batch)}  # fmt: skip
    answers = {name: serve() for name, serve in ways.items()}
    if len({tuple(a) for a in answers.values()}) != 1:
        raise SystemExit("a mixed batch answered differently from its tasks alone")
    return {name: timed(serve, args.repeat, device) for name, serve in ways.items()}


def deep_prompt_cost(args, device) -> tuple[float, float]:
    """Tensor memory of 8 tasks ÷ 1; one task's batches, precomputed ÷ recomputed deep K/V."""
    tasks = build_tasks(args, device, TASKS)
    single = build_tasks(args, device, TASKS[:1])
    memory = tensor_bytes(tasks, TaskBank(tasks)) / tensor_bytes(single, TaskBank(single))
    model, one_bank = single["task0"], TaskBank(single)
    one_task = [("task0", units) for _, units in stream(args, ["task0"])]
    shapes, cands = {"task0": TASKS[0]}, candidates_of(model, device)
    recompute = timed(lambda: [model.score_candidates(*padded(b, device), cands)
                               for b in batches(one_task, args.max_batch)], args.repeat, device)  # fmt: skip
    precomputed = timed(lambda: mixed(one_bank, single, shapes, one_task, device, args.max_batch),
                        args.repeat, device)  # fmt: skip
    return memory, precomputed / recompute


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32", choices=("float32", "bfloat16"))
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run")
    parser.add_argument("--requests", type=int, default=64)
    parser.add_argument("--min-units", type=int, default=25)
    parser.add_argument("--max-units", type=int, default=75)
    parser.add_argument("--max-batch", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--kinds", nargs="+", default=list(KINDS), choices=list(KINDS),
                        help="serve the whole stream and/or only its requests of one kind")  # fmt: skip
    args = parser.parse_args()
    if args.quick:
        args.requests = 16
    device = torch.device(args.device)
    print(f"machine: {machine(device)}; backbone {args.dtype}")
    tasks = build_tasks(args, device, TASKS)
    shapes = dict(zip(tasks, TASKS, strict=True))
    bank = TaskBank(tasks)
    requests = stream(args, list(tasks))
    print("| figure | value | goal |\n|---|---|---|")
    goal = GOALS["throughput"]
    with torch.inference_mode():
        for kind in args.kinds:
            part = [(n, u) for n, u in requests if shapes[n] in KINDS[kind]]
            seconds = serve_stream(args, device, tasks, shapes, bank, part)
            for way, time in seconds.items():
                print(f"| (a) {kind} ({len(part)} requests), {way}: requests/s | "
                      f"{len(part) / time:.2f} | |")  # fmt: skip
            for way in ("static", "continuous"):
                ratio = seconds["one at a time"] / seconds[way]
                verdict = "" if kind != "all" else (" yes" if ratio >= goal else " NO")
                print(f"| (a) {kind}: {way} mixed ÷ one at a time, throughput | "
                      f"{ratio:.2f}{verdict} | {'≥ 3' if kind == 'all' else ''} |")  # fmt: skip
        memory, precomputed = deep_prompt_cost(args, device)
    print(f"| (b) memory, 8 tasks ÷ 1 task | {memory:.4f} "
          f"{'yes' if memory <= GOALS['memory'] else 'NO'} | ≤ {GOALS['memory']} |")  # fmt: skip
    print(f"| (c) precomputed ÷ recomputed deep keys/values, time | {precomputed:.3f} | |")


if __name__ == "__main__":
    main()
