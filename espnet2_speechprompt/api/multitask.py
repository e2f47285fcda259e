"""``MultiTaskSpeechPrompt``: several trained tasks on one frozen backbone, answered together.

The backbone is loaded once, from the first task's files; every other package must record the
same backbone (its name and the sha256 of each backbone file in ``backbone.yaml``) and is put
on that backbone, adding only its prompts and verbalizer. Requests for different tasks run as
one mixed-task batch (``prompt.multitask.TaskBank``): one forward pass over every source, then
each row scores its own task's candidates or, for a sequence task, is decoded with its task's
search settings (rows grouped by those settings).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import yaml
from torch.nn.utils.rnn import pad_sequence

from ..errors import SpeechPromptError
from ..precision import dtype_name
from ..prompt.base import LENGTH_LIMITS
from ..prompt.continuous import ContinuousDecoder, GenerationRequest
from ..prompt.multitask import TaskBank
from ..vocab import NUM_SPECIALS, PAD
from .builder import backbone_of
from .config import is_icl_config, load_config, option_values
from .extraction import SpeechUnits
from .packing import ARCHIVE_SUFFIXES, BACKBONE_KEY, CONFIG_KEY, TASK_NAME, resolve_pretrained
from .speechprompt import Result, SpeechPrompt, row_seeds
from .unpacking import META, PackageError

logger = logging.getLogger(__name__)
BACKBONE_FILES = ("checkpoint", "dictionary")  # what makes a backbone (not k-means, features)


@dataclass
class Request:
    """One utterance for one task: its units, or its waveform at ``sample_rate``."""

    task: str
    units: Sequence[int] | np.ndarray | None = None
    speech: np.ndarray | torch.Tensor | None = None
    sample_rate: int = 16000
    utt: str = "input"


def read_record(package: Mapping[str, str]) -> dict:
    """The files a package's ``backbone.yaml`` records (name -> name and sha256)."""
    record_file = package.get(BACKBONE_KEY)
    if record_file is None:
        raise PackageError(f"{package[CONFIG_KEY]}: no backbone record (backbone.yaml): repack it")
    with open(record_file, encoding="utf-8") as f:
        record = yaml.safe_load(f)
    files = record.get("files") if isinstance(record, dict) else None
    return files if isinstance(files, dict) else {}


def backbone_identity(package: Mapping[str, str]) -> dict:
    """The backbone a package was trained on: its name and each backbone file's sha256."""
    identity = {"backbone": load_config(package[CONFIG_KEY]).get("backbone")}
    files = read_record(package)
    for name in BACKBONE_FILES:
        identity[name] = (files.get(name) or {}).get("sha256")
    return identity


def package_task_name(package: Mapping[str, str]) -> str | None:
    """The task name a package's ``meta.yaml`` records (``pack --task_name``), if any."""
    meta_file = Path(package[CONFIG_KEY]).parent / META
    if not meta_file.is_file():
        return None
    with open(meta_file, encoding="utf-8") as f:
        name = (yaml.safe_load(f) or {}).get("task_name")
    return str(name) if name else None


def name_from_tag(model_tag: str) -> str:
    """A task name from a package's file name or Hub tag (``org/name`` -> ``name``)."""
    name = Path(str(model_tag).rstrip("/")).name.split("@")[0]
    for suffix in (".tar.gz", *ARCHIVE_SUFFIXES):
        name = name.removesuffix(suffix)
    return name if TASK_NAME.fullmatch(name or "") else "task"


class MultiTaskSpeechPrompt:
    """Trained tasks by name on one backbone: ``runner(task="commands", units=[...])`` or
    ``runner.predict([Request(task, units=...), ...])`` for a mixed batch."""

    def __init__(
        self,
        packages: Mapping[str, Mapping[str, str]],
        device: str = "cpu",
        backbone_conf: dict | None = None,
        backbone_precision: str | None = None,
        task_options: Mapping[str, Mapping] | None = None,
        **options,
    ):
        """``packages``: task name -> the keyword arguments of its ``SpeechPrompt`` (a
        package's files, as ``resolve_pretrained`` gives them). The first task's backbone
        files (``backbone_conf`` overrides them) are loaded, checked and shared by all.
        ``options``: further ``SpeechPrompt`` settings for every task (``nbest``,
        ``max_len_b``, ...); ``task_options``: task name -> settings of that task alone
        (``{"asr": {"max_len_a": 0.3}}``)."""
        if not packages:
            raise SpeechPromptError("give at least one package")
        names = list(packages)
        own = {name: {**options, **(task_options or {}).get(name, {})} for name in names}
        for name in set(task_options or {}) - set(names):
            raise SpeechPromptError(f"task_options for an unknown task {name!r}: tasks {names}")
        first = names[0]
        reference = backbone_identity(packages[first])
        for name in names[1:]:
            if backbone_identity(packages[name]) != reference:
                raise PackageError(
                    f"task {name!r} ({packages[name][CONFIG_KEY]}) was trained on another "
                    f"backbone than task {first!r} (the backbone name or a backbone file's "
                    "sha256 differs): serve it with its own backbone"
                )
        lead = SpeechPrompt(**packages[first], device=device, backbone_conf=backbone_conf,
                            backbone_precision=backbone_precision, **own[first])  # fmt: skip
        files, _ = backbone_of(option_values(lead.train_args))
        shared = (lead.prompted.backbone, files.load_dictionary())
        self.tasks = {first: lead}
        for name in names[1:]:
            self.tasks[name] = SpeechPrompt(
                **packages[name], device=device, backbone_conf=lead.train_args.backbone_conf,
                backbone_precision=dtype_name(lead.backbone_dtype), shared_backbone=shared,
                **own[name],
            )  # fmt: skip
        self._share_unit_extractors(packages)
        self.bank = TaskBank({name: task.prompted for name, task in self.tasks.items()})
        self.backbone_name, self.device = lead.train_args.backbone, device
        self.backbone_dtype = lead.backbone_dtype
        self.vocab = shared[1]

    def _share_unit_extractors(self, packages: Mapping[str, Mapping[str, str]]) -> None:
        """Tasks whose units come from the same extractor (same settings, same k-means file
        by sha256) share one, so a HuBERT model is held once."""
        shared: dict[str, SpeechUnits] = {}
        for name, task in self.tasks.items():
            kmeans = (read_record(packages[name]).get("kmeans") or {}).get("sha256")
            key = json.dumps([task.unit_extractor_conf, kmeans], sort_keys=True, default=str)
            task.speech_units = shared.setdefault(key, task.speech_units)

    @classmethod
    def from_pretrained(
        cls,
        model_tags: Sequence[str],
        cache_dir: str | os.PathLike | None = None,
        names: Sequence[str] | None = None,
        **kwargs,
    ) -> MultiTaskSpeechPrompt:
        """Packages (archives, unpacked directories or Hub tags, as for
        ``SpeechPrompt.from_pretrained``) served together; a task is named by ``names``, else
        by its package (``pack --task_name``), else after its file name (said in the log)."""
        if names is not None and len(names) != len(model_tags):
            raise SpeechPromptError(f"{len(names)} names for {len(model_tags)} packages")
        packages, tags = {}, {}
        for i, tag in enumerate(model_tags):
            package = resolve_pretrained(str(tag), cache_dir)
            if is_icl_config(load_config(package[CONFIG_KEY])):
                raise SpeechPromptError(
                    f"{tag}: an in-context learning package; a task bank serves trained tasks"
                )
            name = names[i] if names else package_task_name(package)
            if name is None:
                name = name_from_tag(str(tag))
                logger.warning(f"{tag}: the package names no task; it is task {name!r}")
            if name in packages:
                raise SpeechPromptError(
                    f"two packages are task {name!r} ({tags[name]} and {tag}): name them "
                    "apart (names=[...])"
                )
            packages[name], tags[name] = package, tag
        return cls(packages, **kwargs)

    @property
    def names(self) -> list[str]:
        return list(self.tasks)

    def task(self, name: str) -> SpeechPrompt:
        """The task ``name``; an unknown name is one error listing the known ones."""
        if name not in self.tasks:
            raise SpeechPromptError(f"unknown task {name!r}: the tasks are {', '.join(self.tasks)}")
        return self.tasks[name]

    def verbalizer_units(self, name: str, top_k: int = 3) -> dict[str, list[tuple[str, float]]]:
        """Per label of task ``name``, the backbone units its verbalizer weighs most (special
        tokens left out)."""
        task = self.task(name)
        verbalizer, symbols = task.prompted.verbalizer, self.vocab.symbols
        if hasattr(verbalizer, "explain"):
            ranked = verbalizer.explain(top_k + NUM_SPECIALS, symbols)
            specials = set(symbols[:NUM_SPECIALS])
            units = [[(s, w) for s, w in row if s not in specials][:top_k] for row in ranked]
        else:
            units = [[(symbols[int(t)], 1.0)] for t in verbalizer.label_tokens()]
        return dict(zip(task.labels.labels, units, strict=True))

    def __call__(self, task: str, **utterance) -> Result:
        """One utterance for ``task`` (``units=``, or ``speech=`` and ``sample_rate=``)."""
        return self.predict([Request(task, **utterance)])[0]

    def predict(self, requests: Sequence[Request]) -> list[Result]:
        """The best (label text, log-likelihood, label-space ids) of each request."""
        return [nbest[0] for nbest in self.predict_nbest(requests)]

    def predict_nbest(self, requests: Sequence[Request]) -> list[list[Result]]:
        """Each request's n-best (its task's ``nbest``), all requests in one mixed batch."""
        sources = [
            self.task(r.task).source_of(r.units, r.speech, r.sample_rate, r.utt) for r in requests
        ]
        return self.predict_sources([r.task for r in requests], sources)

    def predict_batch(
        self, names: Sequence[str], source: torch.Tensor, lengths: torch.Tensor
    ) -> list[list[Result]]:
        """The n-best of each row of a batch as a task's preprocessing gives it (mapped units
        or 16 kHz audio, right-padded), row ``r`` for task ``names[r]``."""
        rows = [source[r, :n] for r, n in enumerate(lengths.tolist())]
        return self.predict_sources(names, rows)

    @torch.no_grad()
    def predict_sources(self, names: Sequence[str], rows: list[torch.Tensor]) -> list[list[Result]]:
        """The n-best of each source (``SpeechPrompt.source_of``), row ``r`` for ``names[r]``."""
        tasks = [self.task(name) for name in names]
        sources = [self._fit(task, row) for task, row in zip(tasks, rows, strict=True)]
        pad = 0.0 if sources[0].is_floating_point() else PAD
        source = pad_sequence(sources, batch_first=True, padding_value=pad).to(self.device)
        lengths = torch.tensor([len(s) for s in sources], device=self.device)
        model = self.bank.rows(self.bank.task_ids(names))
        state, first = model.start_decoding(source, lengths)
        results: list[list[Result]] = [[] for _ in rows]
        for group, options in self._groups(tasks):
            index = torch.tensor(group, device=self.device)
            start = (state.rows(index), first.index_select(0, index))
            picked = (source.index_select(0, index), lengths.index_select(0, index))
            if options is None:
                candidates = [tasks[r].candidates for r in group]
                scores = model.score_each(*picked, candidates, start=start)
                outputs = [tasks[r].scored(s) for r, s in zip(group, scores, strict=True)]
            else:
                limits = self._row_limits([tasks[r] for r in group])
                nbest = tasks[group[0]].generate(model, *picked, start=start, limits=limits)
                outputs = [tasks[r].decoded(h) for r, h in zip(group, nbest, strict=True)]
            for r, output in zip(group, outputs, strict=True):
                results[r] = output
        return results

    @staticmethod
    def _fit(task: SpeechPrompt, source: torch.Tensor) -> torch.Tensor:
        """``source`` cut as ``task`` cuts its sources (``SpeechPrompt.fit_context``)."""
        fitted, _ = task.fit_context(source[None], torch.tensor([len(source)]))
        return fitted[0]

    def _row_limits(self, tasks: Sequence[SpeechPrompt]) -> dict[str, torch.Tensor]:
        """Each row's own length limits (its task's ``max_len_a``, ``max_len_b``)."""
        return {
            key: torch.tensor([task.search_options[key] for task in tasks], device=self.device)
            for key in LENGTH_LIMITS
        }

    @staticmethod
    def _groups(tasks: Sequence[SpeechPrompt]) -> list[tuple[list[int], tuple | None]]:
        """Rows by how they are decoded: scored (None), or searched or sampled with the same
        settings but for length limits (``(decoding, sampling, seed, search options)``): one
        search serves tasks that differ only in how long their outputs may be."""
        groups: dict[tuple | None, list[int]] = {}
        for r, task in enumerate(tasks):
            key = None
            if task.decoding != "score":
                items = task.search_options.items()
                options = tuple(sorted((k, v) for k, v in items if k not in LENGTH_LIMITS))
                key = (task.decoding == "sample", task.sampling, task.seed, options)
            groups.setdefault(key, []).append(r)
        return [(rows, key) for key, rows in groups.items()]


class StreamingTasks:
    """The greedy and sampled generation tasks of a ``MultiTaskSpeechPrompt`` decoded with
    iteration-level batching (``ContinuousDecoder``): ``submit`` sources as they come, call
    ``step`` while ``busy``; each request answers as ``predict`` would."""

    def __init__(self, runner: MultiTaskSpeechPrompt, max_rows: int = 16):
        self.runner = runner
        self.decoder = ContinuousDecoder(runner.bank, max_rows)
        self._tasks: dict[int, SpeechPrompt] = {}

    @property
    def busy(self) -> bool:
        return self.decoder.busy

    def accepts(self, name: str) -> bool:
        """Whether task ``name`` decodes row by row (sampling, or a search of beam size 1)."""
        task = self.runner.task(name)
        return task.decoding == "sample" or (
            task.decoding != "score" and task.search_options.get("beam_size") == 1
        )

    def submit(self, name: str, source: torch.Tensor) -> int:
        """Queue one source (as ``predict_sources`` takes it); returns its handle."""
        task = self.runner.task(name)
        fitted = MultiTaskSpeechPrompt._fit(task, source).to(self.runner.device)
        options, sampling, seed = task.search_options, None, 0
        if task.decoding == "sample":
            sampling = task.sampling
            seed = row_seeds(fitted[None], torch.tensor([len(fitted)]), task.seed)[0]
        request = GenerationRequest(
            name, fitted, options["max_len_a"], options["max_len_b"], sampling, seed,
            options.get("length_penalty", 1.0),
        )  # fmt: skip
        handle = self.decoder.submit(request)
        self._tasks[handle] = task
        return handle

    def step(self) -> dict[int, list[Result]]:
        """One label for every running row; the n-best of the requests finished by it."""
        finished = self.decoder.step()
        return {h: self._tasks.pop(h).decoded(hyps) for h, hyps in finished.items()}

    def reset(self) -> list[int]:
        """Drop every request (after a failed step); returns their handles."""
        handles = list(self._tasks)
        self.decoder = ContinuousDecoder(self.runner.bank, self.decoder.max_rows)
        self._tasks.clear()
        return handles
