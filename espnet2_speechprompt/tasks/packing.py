"""Pack a trained task for sharing, and find a packed task again (``from_pretrained``).

A package holds no backbone weights: ``config.yaml`` + prompt-only ``speechprompt.safetensors``
+ ``label_list`` + ``RESULTS.md`` (+ images) + the k-means file of its unit extractor, if it
has one + ``backbone.yaml`` naming every file the prompts depend on (backbone checkpoint and
dictionary, k-means, feature model) with its sha256, so that loading can check each file used
is the one the prompts were trained with.
"""

from __future__ import annotations

import argparse
import contextlib
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
from ..checkpoints.trainable_state import load_trainable_state
from ..errors import CheckpointError, SpeechPromptError
from ..fileio import atomic_path, sha256_of
from .unpacking import META, PackageError, package_files, unpack_package

MODEL_KEY, CONFIG_KEY, BACKBONE_KEY, KMEANS_KEY = (
    "speechprompt_model_file",
    "speechprompt_train_config",
    "speechprompt_backbone",
    "speechprompt_kmeans",
)
PACKAGE_KEYS = (CONFIG_KEY, MODEL_KEY, BACKBONE_KEY, KMEANS_KEY)
ARCHIVE_SUFFIXES = {".zip": ".zip", ".tgz": ".tgz", ".gz": ".tgz", ".tar": ".tar"}
HUB_TAG = re.compile(r"[\w.-]+/[\w.-]+(@[\w./-]+)?")


@contextlib.contextmanager
def _working_directory(path: Path):
    previous = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(previous)


def _require_file(what: str, path: str | os.PathLike | None, folder: bool = False) -> None:
    if path is not None and not (Path(path).is_dir() if folder else Path(path).is_file()):
        raise PackageError(f"{what} {path}: no such {'folder' if folder else 'file'}")


def _read_config(path: str | os.PathLike) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            config = yaml.safe_load(f)
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise PackageError(f"{path}: unreadable training config ({exc})") from None
    if not isinstance(config, dict) or config.get("backbone") not in BACKBONES:
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


def read_trainable_state(model_file: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The prompt-only weights of ``model_file``, or one line saying why they cannot be read."""

    _require_file("model file", model_file)
    try:
        return load_trainable_state(model_file)
    except SpeechPromptError:
        raise
    except Exception as exc:  # torch / safetensors raise many types for a bad file
        raise CheckpointError(
            f"{model_file}: not a readable model file ({type(exc).__name__}): give the .pth "
            "or .safetensors file that training wrote"
        ) from None


def _mismatch(expected: dict[str, torch.Tensor], state: dict) -> str:
    def listed(what: str, keys: list[str]) -> list[str]:
        more = f" and {len(keys) - 3} more" if len(keys) > 3 else ""
        return [f"{what} {', '.join(keys[:3])}{more}"] if keys else []

    shapes = [
        f"{key} {tuple(getattr(state[key], 'shape', ()))} vs {tuple(expected[key].shape)}"
        for key in sorted(expected.keys() & state.keys())
        if getattr(state[key], "shape", None) != expected[key].shape
    ]
    return "; ".join(
        listed("missing", sorted(expected.keys() - state.keys()))
        + listed("unexpected", sorted(state.keys() - expected.keys()))
        + listed("shape of", shapes)
    )


def extractor_conf(
    config_conf: dict | None,
    packaged_kmeans: str | os.PathLike | None = None,
    override: dict | None = None,
    kmeans: str | os.PathLike | None = None,
) -> dict:
    """Unit extractor settings: the config's, the package's k-means file, then the overrides."""
    conf = dict(config_conf or {})
    if packaged_kmeans:
        conf["kmeans"] = os.fspath(packaged_kmeans)
    conf.update(override or {})
    if kmeans:
        conf["kmeans"] = os.fspath(kmeans)
    return conf


def build_trained_model(
    args: argparse.Namespace,
    config_file: str | os.PathLike,
    model_file: str | os.PathLike | None,
    backbone_record: str | os.PathLike | None = None,
):
    """The model of ``args`` with the weights of ``model_file`` (strictly: every trainable
    tensor, same shapes), its backbone files first checked against ``backbone_record`` (a
    package's ``backbone.yaml``) when given; returns ``(model, state)``."""
    from .speechprompt import SpeechPromptTask, backbone_choices

    if backbone_record is not None:
        backbone = backbone_choices.get_class(args.backbone)(**args.backbone_conf)
        verify_backbone(backbone_record, backbone.files())
    model = SpeechPromptTask.build_model(args)
    if model_file is None:
        return model, None
    state = read_trainable_state(model_file)
    detail = _mismatch(model.state_dict(), state)
    try:
        if not detail:
            model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        detail = str(exc).splitlines()[0]
    if detail:
        raise CheckpointError(
            f"model file {model_file} does not match the training config {config_file} "
            f"({detail}): give the config.yaml of the run that wrote this model file"
        )
    return model, state


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


def _archive_suffix(outpath: Path) -> str:
    suffix = ARCHIVE_SUFFIXES.get(outpath.suffix)
    if suffix is None or (outpath.suffix == ".gz" and not outpath.name.endswith(".tar.gz")):
        raise PackageError(f"--outpath {outpath}: name it .zip, .tgz, .tar.gz or .tar")
    return suffix


def pack_task(
    train_config: str | os.PathLike,
    model_file: str | os.PathLike,
    outpath: str | os.PathLike,
    results: str | os.PathLike | None = None,
    images: str | os.PathLike | None = None,
) -> Path:
    """Write ``outpath`` (.zip or .tgz) in ESPnet's package format, after checking that
    ``model_file`` is a model of ``train_config``."""
    from espnet2.main_funcs.pack_funcs import pack

    outpath = Path(outpath).absolute()
    suffix = _archive_suffix(outpath)
    for what, path in (("training config", train_config), ("results", results)):
        _require_file(what, path)
    _require_file("model file", model_file)
    _require_file("images", images, folder=True)
    config = _read_config(train_config)
    record = _backbone_record(train_config, config)
    _, state = build_trained_model(
        argparse.Namespace(**copy.deepcopy(config)), train_config, model_file
    )
    with tempfile.TemporaryDirectory() as tmp:
        stage = Path(tmp)
        state = {k: v.contiguous() for k, v in state.items()}
        save_file(state, os.fspath(stage / "speechprompt.safetensors"), metadata={"format": "pt"})
        (stage / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        (stage / "backbone.yaml").write_text(yaml.safe_dump(record, sort_keys=False))
        (stage / "label_list").write_text("\n".join(config["label_list"]) + "\n")
        files = {MODEL_KEY: "speechprompt.safetensors"}
        if "kmeans" in record["files"]:
            files[KMEANS_KEY] = f"kmeans/{record['files']['kmeans']['name']}"
            (stage / "kmeans").mkdir()
            shutil.copyfile(config["unit_extractor_conf"]["kmeans"], stage / files[KMEANS_KEY])
        option = ["label_list"]
        if results is not None:
            shutil.copy(results, stage / "RESULTS.md")
            option.append("RESULTS.md")
        if images is not None:
            shutil.copytree(images, stage / "images")
            option.append("images")
        with atomic_path(outpath, suffix) as tmp_out, _working_directory(stage):
            yaml_files = {CONFIG_KEY: "config.yaml", BACKBONE_KEY: "backbone.yaml"}
            pack(files=files, yaml_files=yaml_files, option=option, outpath=tmp_out)
    return outpath


def _hub_snapshot(model_tag: str, cache_dir: str | os.PathLike | None) -> Path:
    from espnet_model_zoo.downloader import ModelDownloader

    try:
        hub_cache = None if cache_dir is None else Path(cache_dir) / "hub"
        return Path(ModelDownloader(hub_cache).huggingface_download(name=model_tag))
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
