"""Pack a trained task for sharing, and find a packed task again (``from_pretrained``).

A package holds no backbone weights: ``config.yaml`` + prompt-only ``speechprompt.safetensors``
+ ``label_list`` (none for in-context learning) + ``RESULTS.md`` (+ images) + the k-means file
of its unit extractor, if it has one + ``backbone.yaml`` naming every file the prompts depend on
(backbone checkpoint and dictionary, k-means, feature model) with its sha256, so that loading
can check each file used is the one the prompts were trained with. A config with
``episode_conf`` is one of in-context learning: its model is ``build_icl``'s.
"""

from __future__ import annotations

import argparse
import copy
import os
import re
import shutil
import tempfile
from pathlib import Path

import torch
import yaml
from safetensors.torch import save_file

from ..checkpoints.backbones import BACKBONES
from ..errors import CheckpointError
from ..fileio import sha256_of
from ..vocab import Dictionary
from .archive import archive_kind, write_archive
from .builder import BuiltSpeechPrompt, Options, backbone_of, build_speechprompt, load_state
from .config import is_icl_config, load_config, option_values
from .icl_builder import build_icl
from .unpacking import META, PackageError, package_files, unpack_package

MODEL_KEY, CONFIG_KEY, BACKBONE_KEY, KMEANS_KEY = (
    "speechprompt_model_file",
    "speechprompt_train_config",
    "speechprompt_backbone",
    "speechprompt_kmeans",
)
PACKAGE_KEYS = (CONFIG_KEY, MODEL_KEY, BACKBONE_KEY, KMEANS_KEY)
ARCHIVE_SUFFIXES = (".zip", ".tgz", ".gz", ".tar")
TASK_NAME = re.compile(r"[\w.-]+")
HUB_TAG = re.compile(r"[\w.-]+/[\w.-]+(@[\w./-]+)?")


def _require_file(what: str, path: str | os.PathLike | None, folder: bool = False) -> None:
    if path is not None and not (Path(path).is_dir() if folder else Path(path).is_file()):
        raise PackageError(f"{what} {path}: no such {'folder' if folder else 'file'}")


def _read_config(path: str | os.PathLike) -> dict:
    config = load_config(path)
    if config.get("backbone") not in BACKBONES:
        raise PackageError(
            f"{path}: not a training config (no backbone among {sorted(BACKBONES)}): give the "
            "config.yaml that training wrote"
        )
    return config


def depended_files(config: dict) -> dict[str, str]:
    """Name -> path of every file the prompts of ``config`` depend on."""
    backbone = BACKBONES[config["backbone"]](**(config.get("backbone_conf") or {}))
    extractor = config.get("unit_extractor_conf") or {}
    named = {**backbone.files(), "kmeans": extractor.get("kmeans")}
    named["feature_checkpoint"] = extractor.get("checkpoint")
    return {name: os.fspath(path) for name, path in named.items() if path}


def build_trained(
    options: Options,
    config_file: str | os.PathLike,
    model_file: str | os.PathLike | None,
    backbone_record: str | os.PathLike | None = None,
    loaded: tuple[torch.nn.Module, Dictionary] | None = None,
) -> tuple[BuiltSpeechPrompt, dict | None]:
    """The model of ``options`` with the weights of ``model_file`` (if given; strictly: every
    trainable tensor, same shapes), its backbone files first checked against
    ``backbone_record`` (a package's ``backbone.yaml``) when given; returns the model and the
    weights as read. ``loaded``: as in ``build_speechprompt``."""
    if backbone_record is not None:
        backbone, _ = backbone_of(option_values(options))
        verify_backbone(backbone_record, backbone.files())
    built = build_speechprompt(options, loaded)
    if model_file is None:
        return built, None
    return built, load_state(built.prompted, model_file, config_file)


def _backbone_record(train_config: str | os.PathLike, config: dict) -> dict:
    record = {"backbone": config["backbone"], "files": {}}
    for name, path in depended_files(config).items():
        if not os.path.isfile(path):
            raise PackageError(
                f"{train_config}: {name} {path} not found: pack where the files the prompts "
                "were trained with are present"
            )
        record["files"][name] = {"name": Path(path).name, "sha256": sha256_of(path)}
    return record


def _stage(stage: Path, config: dict, record: dict, state: dict) -> dict[str, str]:
    """Write the package's own files into ``stage``; returns its ``files`` (key -> name)."""
    state = {k: v.contiguous() for k, v in state.items()}
    save_file(state, os.fspath(stage / "speechprompt.safetensors"), metadata={"format": "pt"})
    (stage / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    (stage / "backbone.yaml").write_text(yaml.safe_dump(record, sort_keys=False))
    if config.get("label_list"):  # in-context learning has no label list
        (stage / "label_list").write_text("\n".join(config["label_list"]) + "\n")
    files = {MODEL_KEY: "speechprompt.safetensors"}
    if "kmeans" in record["files"]:
        files[KMEANS_KEY] = f"kmeans/{record['files']['kmeans']['name']}"
        (stage / "kmeans").mkdir()
        shutil.copyfile(config["unit_extractor_conf"]["kmeans"], stage / files[KMEANS_KEY])
    return files


def pack(
    train_config: str | os.PathLike,
    model_file: str | os.PathLike,
    outpath: str | os.PathLike,
    results: str | os.PathLike | None = None,
    images: str | os.PathLike | None = None,
    task_name: str | None = None,
) -> Path:
    """Write ``outpath`` (.zip, .tgz or .tar) in ESPnet's package format, after checking that
    ``model_file`` is a model of ``train_config``; ``task_name`` (in ``meta.yaml``) names the
    task when several are served together."""
    if task_name is not None and not TASK_NAME.fullmatch(task_name):
        raise PackageError(f"task name {task_name!r}: use letters, digits, '.', '_' and '-'")
    outpath = Path(outpath).absolute()
    archive_kind(outpath)
    for what, path in (("training config", train_config), ("results", results)):
        _require_file(what, path)
    _require_file("model file", model_file)
    _require_file("images", images, folder=True)
    config = _read_config(train_config)
    record = _backbone_record(train_config, config)
    options = argparse.Namespace(**copy.deepcopy(config))
    if is_icl_config(config):
        state = load_state(build_icl(options).prompted, model_file, train_config)
    else:
        _, state = build_trained(options, train_config, model_file)
    with tempfile.TemporaryDirectory() as tmp:
        stage = Path(tmp)
        files = _stage(stage, config, record, state)
        extra = ["label_list"] if config.get("label_list") else []
        if results is not None:
            shutil.copy(results, stage / "RESULTS.md")
            extra.append("RESULTS.md")
        if images is not None:
            shutil.copytree(images, stage / "images")
            extra.append("images")
        yaml_files = {CONFIG_KEY: "config.yaml", BACKBONE_KEY: "backbone.yaml"}
        meta = {"task_name": task_name} if task_name else {}
        return write_archive(outpath, stage, files, yaml_files, extra, meta)


def _hub_snapshot(model_tag: str, cache_dir: str | os.PathLike | None) -> Path:
    from huggingface_hub import snapshot_download

    repo, _, revision = model_tag.partition("@")
    try:
        hub_cache = None if cache_dir is None else os.fspath(Path(cache_dir) / "hub")
        return Path(snapshot_download(repo, revision=revision or None, cache_dir=hub_cache))
    except Exception as exc:  # network / Hub errors of many types
        raise PackageError(
            f"{model_tag}: no such local package, and the Hub gave {type(exc).__name__}: "
            "give a packed .zip/.tgz, its unpacked directory, or a Hub tag org/name"
        ) from None


def resolve_pretrained(model_tag: str, cache_dir: str | os.PathLike | None = None) -> dict:
    """Keyword arguments of ``SpeechPrompt`` for a packed archive (unpacked, once, into the
    cache), its unpacked directory, or a Hugging Face Hub tag (``org/name``)."""
    path = Path(model_tag).expanduser()
    if path.is_file():
        root = unpack_package(path, cache_dir)
    elif path.is_dir():
        root = path
    elif HUB_TAG.fullmatch(str(model_tag)) and path.suffix not in ARCHIVE_SUFFIXES:
        root = _hub_snapshot(str(model_tag), cache_dir)
    else:
        raise PackageError(f"{model_tag}: no such package file or directory")
    files = package_files(root)
    for key in (CONFIG_KEY, MODEL_KEY):
        if key not in files:
            raise PackageError(f"{root / META} declares no {key}: not a packed SpeechPrompt task")
    return {key: files[key] for key in PACKAGE_KEYS if key in files}


def _override(name: str, file: str) -> str:
    if name == "kmeans":
        return f"kmeans='<path to {file}>'"
    if name == "feature_checkpoint":
        return f"unit_extractor_conf={{'checkpoint': '<path to {file}>'}}"
    return f"backbone_conf={{'{name}': '<path to {file}>'}}"


def _read_record(backbone_meta: str | os.PathLike) -> dict[str, dict[str, str]]:
    try:
        with open(backbone_meta, encoding="utf-8") as f:
            record = yaml.safe_load(f)
    except (OSError, yaml.YAMLError, UnicodeDecodeError) as exc:
        raise PackageError(f"{backbone_meta}: unreadable ({type(exc).__name__})") from None
    files = record.get("files") if isinstance(record, dict) else None
    valid = isinstance(files, dict) and all(
        isinstance(info, dict) and {"name", "sha256"} <= info.keys() for info in files.values()
    )
    if not valid:
        raise PackageError(f"{backbone_meta}: no 'files' with a name and sha256 for each")
    return files


def verify_backbone(backbone_meta: str | os.PathLike, files: dict[str, str | None]) -> None:
    """Each of ``files`` (name -> path on disk) that ``backbone_meta`` records is the file the
    package was trained with (sha256); names it does not record are not checked."""
    for name, info in _read_record(backbone_meta).items():
        if name not in files:
            continue
        path, override = files[name], _override(name, info["name"])
        if not path or not os.path.isfile(path):
            raise CheckpointError(
                f"{name} {info['name']} not found at {path}: download it and pass {override}"
            )
        digest = sha256_of(path)
        if digest != info["sha256"]:
            raise CheckpointError(
                f"{name} {path} has sha256 {digest[:12]}…, but this package was trained with "
                f"{info['name']} (sha256 {str(info['sha256'])[:12]}…): use that file "
                f"({override})"
            )
