"""Pack a trained task for sharing, and find a packed task again (``from_pretrained``).

A package holds no backbone weights: ``config.yaml`` + prompt-only ``speechprompt.safetensors``
+ ``label_list`` + ``RESULTS.md`` (+ images) + ``backbone.yaml`` naming the backbone files with
their sha256, so a user can check that the backbone on their disk is the one it was trained on.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

import yaml
from safetensors.torch import save_file

from ..checkpoints.safe_pickle import CheckpointError
from ..speechlm.backbones import sha256_of

MODEL_KEY, CONFIG_KEY, BACKBONE_KEY = (
    "speechprompt_model_file",
    "speechprompt_train_config",
    "speechprompt_backbone",
)


@contextlib.contextmanager
def _working_directory(path: Path):
    previous = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(previous)


def pack_task(
    train_config: str | os.PathLike,
    model_file: str | os.PathLike,
    outpath: str | os.PathLike,
    results: str | os.PathLike | None = None,
    images: str | os.PathLike | None = None,
) -> Path:
    """Write ``outpath`` (.zip or .tgz) with ESPnet's pack utility."""
    from espnet2.main_funcs.pack_funcs import pack

    from ..bin.speechprompt_inference import load_trainable_state

    with open(train_config, encoding="utf-8") as f:
        config = yaml.safe_load(f)
    backbone = {"backbone": config["backbone"], "files": {}}
    extractor = config.get("unit_extractor_conf") or {}
    named = {**config["backbone_conf"], "kmeans": extractor.get("kmeans")}
    named["feature_checkpoint"] = extractor.get("checkpoint")
    for name, path in named.items():
        if path is None:
            continue
        if not os.path.isfile(path):
            raise CheckpointError(f"backbone {name} {path} not found: pack where it is present")
        backbone["files"][name] = {"name": Path(path).name, "sha256": sha256_of(path)}
    outpath = Path(outpath).resolve()
    with tempfile.TemporaryDirectory() as tmp:
        stage = Path(tmp)
        state = {k: v.contiguous() for k, v in load_trainable_state(model_file).items()}
        save_file(state, os.fspath(stage / "speechprompt.safetensors"), metadata={"format": "pt"})
        (stage / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        (stage / "backbone.yaml").write_text(yaml.safe_dump(backbone, sort_keys=False))
        (stage / "label_list").write_text("\n".join(config["label_list"]) + "\n")
        option = ["label_list"]
        if results is not None:
            shutil.copy(results, stage / "RESULTS.md")
            option.append("RESULTS.md")
        if images is not None and Path(images).is_dir():
            shutil.copytree(images, stage / "images")
            option.append("images")
        tmp_out = outpath.with_name(outpath.name + ".tmp" + "".join(outpath.suffixes))
        with _working_directory(stage):
            pack(
                files={MODEL_KEY: "speechprompt.safetensors"},
                yaml_files={CONFIG_KEY: "config.yaml", BACKBONE_KEY: "backbone.yaml"},
                option=option,
                outpath=tmp_out,
            )
        os.replace(tmp_out, outpath)
    return outpath


def resolve_pretrained(model_tag: str, cache_dir: str | os.PathLike | None = None) -> dict:
    """Keyword arguments of ``SpeechPrompt`` for a packed archive, its unpacked directory, or
    a Hugging Face Hub tag (``org/name``, through espnet_model_zoo)."""
    from espnet2.main_funcs.pack_funcs import unpack

    path = Path(model_tag)
    if path.is_file():
        cache = Path(cache_dir or tempfile.mkdtemp(prefix="speechprompt_"))
        files = unpack(path, cache)
    elif path.is_dir():
        with open(path / "meta.yaml", encoding="utf-8") as f:
            meta = yaml.safe_load(f)
        files = {k: os.fspath(path / v) for k, v in {**meta["yaml_files"], **meta["files"]}.items()}
    else:
        from espnet_model_zoo.downloader import ModelDownloader

        files = ModelDownloader(cache_dir or "~/.cache/espnet").download_and_unpack(model_tag)
    return {
        CONFIG_KEY: files[CONFIG_KEY],
        "speechprompt_model_file": files[MODEL_KEY],
        "backbone_meta": files.get(BACKBONE_KEY),
    }


def verify_backbone(backbone_meta: str | os.PathLike, files: dict[str, str | None]) -> None:
    """The backbone files on disk are those the package was trained with (sha256)."""
    with open(backbone_meta, encoding="utf-8") as f:
        expected = yaml.safe_load(f)["files"]
    for name, info in expected.items():
        if name not in files:  # unit extractor files are checked where they are used
            continue
        path = files.get(name)
        if not path or not os.path.isfile(path):
            raise CheckpointError(
                f"backbone {name} {info['name']} not found at {path}: download it and pass "
                f"backbone_conf={{'{name}': '<path to {info['name']}>'}}"
            )
        digest = sha256_of(path)
        if digest != info["sha256"]:
            raise CheckpointError(
                f"backbone {name} {path} has sha256 {digest[:12]}…, but this package was "
                f"trained with {info['name']} sha256 {info['sha256'][:12]}…: use that file"
            )
