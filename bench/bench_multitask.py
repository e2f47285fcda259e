"""Serving several tasks on one frozen backbone, as ratios measured in one run on this machine.

A GSLM-shaped unit LM (12 layers, d = 1024, FFN 4096, random weights) carries 8 classification
tasks (input prompts of 0-10, deep prompts of 0-10, with and without a separator, 2 to 31
labels). A stream of ``--requests`` utterances (``--min-units`` to ``--max-units`` units) whose
tasks are drawn at random, so consecutive requests rarely share a task, is answered:
(a) one task at a time: each request alone by its task's model (a one-task server cannot batch
    an interleaved stream), versus mixed-task batches of up to ``--max-batch`` consecutive
    requests (``TaskBank``): throughput ratio (goal ≥ 3) and the batch sizes reached;
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

import torch
from bench_precision import VOCAB, machine  # (sibling scripts: bench/ is on the path)
from bench_units import timed

from espnet2_speechprompt.prompt.multitask import TaskBank
from espnet2_speechprompt.prompt.prompted_lm import PromptedUnitLM
from espnet2_speechprompt.prompt.prompts import PromptConfig
from espnet2_speechprompt.speechlm.transformer_lm import DecoderConfig, TransformerDecoder
from espnet2_speechprompt.verbalizer.fixed import FixedVerbalizer
from espnet2_speechprompt.vocab import NUM_SPECIALS, PAD

GOALS = {"throughput": 3.0, "memory": 1.05}
# (input prompt, deep prompt, separator, labels) of the 8 tasks
TASKS = [(5, 5, True, 12), (0, 10, True, 31), (10, 0, True, 2), (5, 5, False, 6),
         (0, 5, False, 10), (3, 8, True, 20), (8, 3, True, 4), (5, 10, False, 15)]  # fmt: skip


def build_tasks(args, device: torch.device, count: int) -> dict[str, PromptedUnitLM]:
    torch.manual_seed(0)
    config = DecoderConfig(VOCAB) if not args.quick else DecoderConfig(VOCAB, 128, 512, 2, 4)
    backbone = TransformerDecoder(config).to(device)
    tasks = {}
    for i, (inputs, deep, separator, labels) in enumerate(TASKS[:count]):
        tokens = random.Random(i).sample(range(NUM_SPECIALS, VOCAB), labels)
        prompts = PromptConfig(inputs, deep, separator, dropout=0.0)
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


def one_at_a_time(tasks, requests, device) -> list[int]:
    answers = []
    for name, units in requests:
        model = tasks[name]
        source, lengths = units[None].to(device), torch.tensor([len(units)], device=device)
        scores = model.score_candidates(source, lengths, candidates_of(model, device))
        answers.append(int(scores.argmax()))
    return answers


def batches(requests, max_batch: int):
    for start in range(0, len(requests), max_batch):
        yield requests[start : start + max_batch]


def padded(batch, device) -> tuple[torch.Tensor, torch.Tensor]:
    units = torch.nn.utils.rnn.pad_sequence([u for _, u in batch], True, PAD).to(device)
    return units, torch.tensor([len(u) for _, u in batch], device=device)


def mixed(bank: TaskBank, tasks, requests, device, max_batch: int) -> list[int]:
    answers = []
    for batch in batches(requests, max_batch):
        source, lengths = padded(batch, device)
        names = [name for name, _ in batch]
        cands = [candidates_of(tasks[name], device) for name in names]
        scores = bank.rows(bank.task_ids(names)).score_each(source, lengths, cands)
        answers += [int(s.argmax()) for s in scores]
    return answers


def tensor_bytes(tasks, bank: TaskBank) -> int:
    """Bytes of every distinct tensor held: models' parameters and the bank's stacks."""
    held = {id(t): t for m in tasks.values() for t in [*m.parameters(), *m.buffers()]}
    stacks = [bank.prompts.input, bank.prompts.input_mask, bank.prompts.deep_mask,
              bank.separator, bank.sep_index, *bank.label_tables]  # fmt: skip
    stacks += [t for kv in bank.prompts.deep_kv or [] for t in kv]
    held.update({id(t): t for t in stacks if t is not None})
    return sum(t.numel() * t.element_size() for t in held.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32", choices=("float32", "bfloat16"))
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run")
    parser.add_argument("--requests", type=int, default=64)
    parser.add_argument("--min-units", type=int, default=25)
    parser.add_argument("--max-units", type=int, default=75)
    parser.add_argument("--max-batch", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if args.quick:
        args.requests, args.repeat = 16, 1
    device = torch.device(args.device)
    print(f"machine: {machine(device)}; backbone {args.dtype}")
    tasks = build_tasks(args, device, len(TASKS))
    bank = TaskBank(tasks)
    requests = stream(args, list(tasks))
    with torch.inference_mode():
        assert mixed(bank, tasks, requests, device, args.max_batch) == one_at_a_time(
            tasks, requests, device
        ), "a mixed batch answered differently from its tasks alone"
        alone = timed(lambda: one_at_a_time(tasks, requests, device), args.repeat, device)
        together = timed(lambda: mixed(bank, tasks, requests, device, args.max_batch),
                         args.repeat, device)  # fmt: skip
        single = build_tasks(args, device, 1)
        memory = tensor_bytes(tasks, bank) / tensor_bytes(single, TaskBank(single))
        one_task = [("task0", units) for _, units in requests]
        model, one_bank = single["task0"], TaskBank(single)
        cands = candidates_of(model, device)
        recompute = timed(lambda: [model.score_candidates(*padded(b, device), cands)
                                   for b in batches(one_task, args.max_batch)], args.repeat, device)  # fmt: skip
        precomputed = timed(lambda: mixed(one_bank, single, one_task, device, args.max_batch),
                            args.repeat, device)  # fmt: skip
    sizes = sorted({len(b) for b in batches(requests, args.max_batch)}, reverse=True)
    ratio = alone / together
    print("| figure | value | goal |\n|---|---|---|")
    print(f"| (a) one task at a time, requests/s | {len(requests) / alone:.1f} | |")
    print(
        f"| (a) mixed-task batches (sizes {sizes}), requests/s | {len(requests) / together:.1f} | |"
    )
    print(f"| (a) mixed ÷ one at a time, throughput | {ratio:.2f} "
          f"{'yes' if ratio >= GOALS['throughput'] else 'NO'} | ≥ {GOALS['throughput']} |")  # fmt: skip
    print(f"| (b) memory, 8 tasks ÷ 1 task | {memory:.4f} "
          f"{'yes' if memory <= GOALS['memory'] else 'NO'} | ≤ {GOALS['memory']} |")  # fmt: skip
    print(
        f"| (c) precomputed ÷ recomputed deep keys/values, time | {precomputed / recompute:.3f} | |"
    )


if __name__ == "__main__":
    main()
