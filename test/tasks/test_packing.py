"""Packing and opening a task: untrusted archives are checked before anything is written, every
file the prompts depend on is verified by sha256, the k-means file travels in the package, and
espnet_model_zoo's keyword arguments load it. Fixed random prompt weights, no training."""

from __future__ import annotations

import argparse
import io
import os
import shutil
import stat
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

pytest.importorskip("espnet2", reason="espnet (the task layer's dependency) is not installed")

from espnet2_speechprompt.api import unpacking  # noqa: E402
from espnet2_speechprompt.api.packing import pack as pack_task  # noqa: E402
from espnet2_speechprompt.api.packing import resolve_pretrained  # noqa: E402
from espnet2_speechprompt.api.unpacking import CACHE_ENV, PackageError  # noqa: E402
from espnet2_speechprompt.bin import pack as pack_cli  # noqa: E402
from espnet2_speechprompt.bin import speechprompt_upload  # noqa: E402
from espnet2_speechprompt.bin.speechprompt_inference import SpeechPrompt  # noqa: E402
from espnet2_speechprompt.errors import CheckpointError  # noqa: E402
from espnet2_speechprompt.tasks.speechprompt import SpeechPromptTask  # noqa: E402
from test.factories.task_data import data_args  # noqa: E402

WAV = (np.sin(np.arange(16000) * 0.05) * 0.3).astype(np.float32)


def _dry_run(data: Path, out: Path, verbalizer: list[str]) -> dict:
    SpeechPromptTask.main(
        cmd=[
            "--output_dir", str(out), "--dry_run", "true",
            "--backbone_conf", f"checkpoint={data / 'lm' / 'checkpoint_best.pt'}",
            "--label_list", str(data / "label_list"), *verbalizer,
            "--prompt_conf", "{input_length: 4, deep_length: 4, dropout: 0.0}",
        ] + data_args(data)
    )  # fmt: skip
    return yaml.safe_load((out / "config.yaml").read_text())


def _write_run(folder: Path, config: dict, kmeans: Path, seed: int) -> tuple[Path, Path]:
    """``folder/{config.yaml,model.pth,km.npy}``: a config with an MFCC unit extractor and
    prompt weights drawn from a fixed seed."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(kmeans, folder / "km.npy")
    config = {
        **config,
        "unit_extractor_conf": {"kmeans": str(folder / "km.npy"), "feature": "mfcc"},
    }
    (folder / "config.yaml").write_text(yaml.safe_dump(config))
    model = SpeechPromptTask.build_model(
        argparse.Namespace(**yaml.safe_load(yaml.safe_dump(config)))
    )
    generator = torch.Generator().manual_seed(seed)
    state = {
        k: torch.randn(v.shape, generator=generator) * 0.1 for k, v in model.state_dict().items()
    }
    torch.save(state, folder / "model.pth")
    return folder / "config.yaml", folder / "model.pth"


@pytest.fixture(scope="module")
def run(unit_task_data, tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("packing")
    kmeans = root / "km.npy"
    np.save(kmeans, np.random.default_rng(0).normal(size=(20, 39)).astype(np.float32))
    learnable = _dry_run(unit_task_data, root / "learnable", ["--verbalizer", "learnable"])
    fixed = _dry_run(
        unit_task_data,
        root / "fixed",
        ["--verbalizer", "fixed", "--verbalizer_conf", "mode=frequency"],
    )
    config, model = _write_run(root / "run", learnable, kmeans, seed=0)
    units = [
        [int(u) for u in line.split()[1:]]
        for line in (unit_task_data / "valid" / "units").read_text().splitlines()[:6]
    ]
    return dict(
        root=root, kmeans=kmeans, config=config, model=model, units=units, learnable=learnable,
        fixed_config=_write_run(root / "fixed_run", fixed, kmeans, seed=1)[0],
        packed=pack_task(config, model, root / "packed" / "model.zip"),
    )  # fmt: skip


def _same_predictions(a: SpeechPrompt, b: SpeechPrompt, units: list[list[int]]) -> None:
    for row in units:
        assert a(units=row)[0] == b(units=row)[0]
        assert a(units=row)[1] == pytest.approx(b(units=row)[1], abs=1e-5)
    assert a(speech=WAV) == b(speech=WAV)


def _tree(root: Path) -> list[str]:
    return sorted(os.fspath(p.relative_to(root)) for p in root.rglob("*"))


@pytest.mark.parametrize("suffix", [".zip", ".tgz"])
def test_packed_task_predicts_as_the_original(run, tmp_path, suffix):
    packed = pack_task(run["config"], run["model"], tmp_path / f"model{suffix}")
    loaded = SpeechPrompt.from_pretrained(str(packed), cache_dir=tmp_path / "cache")
    _same_predictions(SpeechPrompt(run["config"], run["model"]), loaded, run["units"])


def test_same_archive_reuses_one_cache_entry(run, tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    first = resolve_pretrained(str(run["packed"]))
    listing = _tree(tmp_path)
    second = resolve_pretrained(str(run["packed"]))
    assert first == second and _tree(tmp_path) == listing
    entries = list((tmp_path / "cache").iterdir())
    assert len(entries) == 1 and first["speechprompt_model_file"].startswith(str(entries[0]))


def _zip(path: Path, members: dict[str, bytes], meta: dict | None = None, link: str = "") -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("meta.yaml", yaml.safe_dump(meta or _meta(list(members))))
        for name, content in members.items():
            archive.writestr(name, content)
        if link:
            info = zipfile.ZipInfo(link)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, "/etc/passwd")
    return path


def _meta(names: list[str]) -> dict:
    return {"yaml_files": {"speechprompt_train_config": names[0]}, "files": {}}


def _tar(path: Path, name: str, kind: bytes = tarfile.REGTYPE) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for member, content in (("meta.yaml", yaml.safe_dump(_meta(["c.yaml"]))), (name, "x")):
            info = tarfile.TarInfo(member)
            info.type = kind if member == name else tarfile.REGTYPE
            info.linkname = "/etc/passwd" if info.type != tarfile.REGTYPE else ""
            data = content.encode() if info.type == tarfile.REGTYPE else b""
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


MALICIOUS = {
    "dotdot member": (lambda d: _zip(d / "p.zip", {"c.yaml": b"a: 1", "../x": b"evil"}), "../x"),
    "backslash": (lambda d: _zip(d / "p.zip", {"c.yaml": b"", "..\\x": b"evil"}), "backslash"),
    "absolute member": (lambda d: _tar(d / "p.tgz", str(d / "abs_evil")), "abs_evil"),
    "tar symlink": (lambda d: _tar(d / "p.tgz", "link", tarfile.SYMTYPE), "link"),
    "tar hardlink": (lambda d: _tar(d / "p.tgz", "hard", tarfile.LNKTYPE), "hard"),
    "zip symlink": (lambda d: _zip(d / "p.zip", {"c.yaml": b""}, link="ln"), "ln"),
    "meta names ../evil": (
        lambda d: _zip(
            d / "p.zip", {"c.yaml": b""}, {**_meta(["c.yaml"]), "files": {"m": "../evil"}}
        ),
        "../evil",
    ),
    "file and folder": (lambda d: _zip(d / "p.zip", {"c.yaml": b"", "a": b"", "a/b": b""}), "'a'"),
    "meta names an absent file": (lambda d: _zip(d / "p.zip", {}, _meta(["gone.yaml"])), "gone"),
}


@pytest.mark.parametrize("case", list(MALICIOUS))
def test_malicious_archives_are_refused_before_writing(case, tmp_path, monkeypatch):
    build, named = MALICIOUS[case]
    (tmp_path / "src").mkdir()
    archive = build(tmp_path / "src")
    monkeypatch.chdir(tmp_path / "src")
    before = _tree(tmp_path)
    with pytest.raises(PackageError, match=named.replace(".", r"\.")) as refused:
        SpeechPrompt.from_pretrained(str(archive), cache_dir=tmp_path / "cache" / "packages")
    assert "\n" not in str(refused.value) and str(archive) in str(refused.value)
    after = [p for p in _tree(tmp_path) if p not in ("cache", "cache/packages")]
    assert after == before and not list(tmp_path.glob("cache/packages/*"))


def test_a_zip_bomb_is_refused_as_it_unpacks(tmp_path, monkeypatch):
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("meta.yaml", yaml.safe_dump(_meta(["c.yaml"])))
        archive.writestr("c.yaml", b"a: 1")
        archive.writestr("zeros", bytes(4 << 20))  # 4 MiB of zeros: a few kB packed
    assert bomb.stat().st_size < 64 << 10
    monkeypatch.setenv(unpacking.MAX_BYTES_ENV, str(1 << 20))
    with pytest.raises(PackageError, match=r"unpacks to more than 1048576 bytes") as refused:
        unpacking.unpack_package(bomb, tmp_path / "cache")
    assert "\n" not in str(refused.value) and _tree(tmp_path) == ["bomb.zip", "cache"]
    monkeypatch.setenv(unpacking.MAX_BYTES_ENV, str(5 << 20))
    assert (unpacking.unpack_package(bomb, tmp_path / "cache") / "zeros").stat().st_size == 4 << 20
    monkeypatch.setenv(unpacking.MAX_BYTES_ENV, "lots")
    with pytest.raises(PackageError, match="give a positive number of bytes"):
        unpacking.extract_package(bomb, tmp_path / "out")


def test_upload_staging_refuses_a_malicious_archive(tmp_path):
    archive = MALICIOUS["dotdot member"][0](tmp_path)
    with pytest.raises(PackageError, match="'../x' has a '..' component"):
        speechprompt_upload.stage_folder(str(archive), "me/kws", tmp_path / "stage" / "hf")
    assert _tree(tmp_path) == ["p.zip"]


def test_interrupted_unpacking_leaves_no_cache_entry(run, tmp_path, monkeypatch):
    def fail(source, members, folder):
        (folder / "config.yaml").write_text("half")
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(unpacking, "_write_members", fail)
        with pytest.raises(KeyboardInterrupt):
            resolve_pretrained(str(run["packed"]), tmp_path / "cache")
    assert _tree(tmp_path) == ["cache"]
    assert SpeechPrompt.from_pretrained(str(run["packed"]), tmp_path / "cache")(units=[1, 2, 3])


def test_unpacked_directory_gets_the_same_checks(run, tmp_path):
    outside = tmp_path / "secret.yaml"
    outside.write_text("a: 1\n")
    folder = tmp_path / "pkg"
    unpacked = resolve_pretrained(str(run["packed"]), tmp_path / "cache")
    shutil.copytree(Path(unpacked["speechprompt_train_config"]).parent, folder)
    (folder / "meta.yaml").write_text(yaml.safe_dump(_meta([str(outside)])))
    with pytest.raises(PackageError, match="is an absolute path"):
        resolve_pretrained(str(folder))
    (folder / "link.yaml").symlink_to(outside)
    (folder / "meta.yaml").write_text(yaml.safe_dump(_meta(["link.yaml"])))
    with pytest.raises(PackageError, match="leads outside the package"):
        resolve_pretrained(str(folder))


def test_swapped_dictionary_is_refused(run, tmp_path):
    lm = Path(run["learnable"]["backbone_conf"]["checkpoint"]).parent
    shutil.copyfile(lm / "checkpoint_best.pt", tmp_path / "checkpoint_best.pt")
    lines = (lm / "dict.txt").read_text().splitlines()
    (tmp_path / "dict.txt").write_text("\n".join([lines[1], lines[0], *lines[2:]]) + "\n")
    swapped = {"checkpoint": str(tmp_path / "checkpoint_best.pt")}
    message = f"dictionary {tmp_path / 'dict.txt'} has sha256 .* trained with dict.txt"
    with pytest.raises(CheckpointError, match=message):
        SpeechPrompt.from_pretrained(str(run["packed"]), tmp_path / "c", backbone_conf=swapped)


def test_swapped_kmeans_is_refused(run, tmp_path):
    other = tmp_path / "other_km.npy"
    np.save(other, np.load(run["kmeans"]) + 1)
    task = SpeechPrompt.from_pretrained(str(run["packed"]), tmp_path / "c", kmeans=other)
    assert task(units=run["units"][0])  # units do not need the k-means
    with pytest.raises(CheckpointError, match=f"kmeans {other} has sha256 .* trained with km.npy"):
        task(speech=WAV)


def test_packaged_kmeans_works_after_the_original_is_gone(run, tmp_path, monkeypatch):
    config, model = _write_run(tmp_path / "run", run["learnable"], run["kmeans"], seed=2)
    expected = SpeechPrompt(config, model)(speech=WAV)
    pack_task(config, model, tmp_path / "model.zip")
    (tmp_path / "run" / "km.npy").unlink()
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    task = SpeechPrompt.from_pretrained("../model.zip", cache_dir="../cache")
    assert task(speech=WAV) == expected
    assert task.unit_extractor.kmeans_path.startswith(str(tmp_path / "cache"))


def test_model_zoo_keyword_arguments(run, tmp_path):
    downloader = pytest.importorskip("espnet_model_zoo.downloader", reason="no espnet_model_zoo")
    with pytest.warns(UserWarning, match="Expanding a local model"):
        kwargs = downloader.ModelDownloader(tmp_path / "zoo").download_and_unpack(
            str(run["packed"])
        )
    assert "speechprompt_backbone" in kwargs and "speechprompt_kmeans" in kwargs
    _same_predictions(
        SpeechPrompt(run["config"], run["model"]), SpeechPrompt(**kwargs), run["units"]
    )


def _pack_cli(capsys, *args: str) -> str:
    with pytest.raises(SystemExit) as exited:
        pack_cli.main(list(args))
    assert exited.value.code == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err
    return err


def test_pack_refuses_a_mismatched_config_and_model(run, tmp_path, capsys):
    out = tmp_path / "out" / "model.zip"
    err = _pack_cli(
        capsys, "--train_config", str(run["fixed_config"]), "--model_file", str(run["model"]),
        "--outpath", str(out),
    )  # fmt: skip
    assert f"model file {run['model']} does not match the training config" in err
    assert str(run["fixed_config"]) in err and "unexpected" in err
    assert not out.parent.exists() or not any(out.parent.iterdir())


@pytest.mark.parametrize("missing", ["train_config", "model_file", "results", "kmeans"])
def test_pack_refuses_missing_files(run, tmp_path, capsys, missing):
    config, model = _write_run(tmp_path / "run", run["learnable"], run["kmeans"], seed=0)
    results = tmp_path / "RESULTS.md"
    results.write_text("acc 0.5\n")
    files = {"train_config": config, "model_file": model, "results": results}
    if missing == "kmeans":
        (tmp_path / "run" / "km.npy").unlink()
    else:
        files[missing] = tmp_path / "absent"
    args = [item for key, path in files.items() for item in (f"--{key}", str(path))]
    err = _pack_cli(capsys, *args, "--outpath", str(tmp_path / "model.zip"))
    assert str(tmp_path / ("run/km.npy" if missing == "kmeans" else "absent")) in err
    assert not (tmp_path / "model.zip").exists()


def test_hub_snapshot_gets_the_same_checks_and_a_missing_path_one_line(run, tmp_path, monkeypatch):
    hub = pytest.importorskip("huggingface_hub", reason="no huggingface_hub")
    snapshot = tmp_path / "snapshot"
    snapshot.mkdir()
    (snapshot / "meta.yaml").write_text(yaml.safe_dump(_meta(["../../etc/passwd"])))
    monkeypatch.setattr(hub, "snapshot_download", lambda repo, **kwargs: str(snapshot))
    with pytest.raises(PackageError, match="'../../etc/passwd' has a '..' component"):
        SpeechPrompt.from_pretrained("org/name", cache_dir=tmp_path / "cache")
    with pytest.raises(PackageError, match="exp/missing.zip: no such package file or directory"):
        SpeechPrompt.from_pretrained("exp/missing.zip", cache_dir=tmp_path / "cache")
