"""egs2/icl local/data.sh on small fake corpora in their real layouts (file names, list files,
label files, JSON, the fold pickle; short generated audio): the seven in-context learning tasks,
the task list, the task group confs and the one-line errors for missing corpora."""

from __future__ import annotations

import io
import json
import os
import pickle
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile

from espnet2_speechprompt.data.dm_speechcommands import OMITTED
from espnet2_speechprompt.data.lt_speechcommands import COMMANDS as LT_COMMANDS
from espnet2_speechprompt.data.speechcommands import WORDS35
from espnet2_speechprompt.data.splits import hash_split
from test.recipes.test_datasets import check_dir, speakers, table

RECIPE = Path(__file__).resolve().parents[2] / "egs2" / "icl" / "speechprompt1"
ICL_VARS = (
    "SPEECHCOMMANDS_V2 LT_SPEECHCOMMANDS AR_SPEECHCOMMANDS DM_SPEECHCOMMANDS SCR_SPLIT_LISTS "
    "VOXFORGE IEMOCAP MUSTARD MUSTARD_VIDEOS"
).split()
FILES = ("wav.scp", "label", "utt2spk")
_TONE = (0.1 * np.sin(2 * np.pi * 220 * np.arange(400) / 16000)).astype(np.float32)


def wav(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(path, _TONE, 16000)
    return path


def data_sh(out: Path, *args: str, **corpora: str | Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ICL_VARS}
    env.update({k: str(v) for k, v in corpora.items()})
    return subprocess.run(
        ["bash", "local/data.sh", "--data_dir", str(out), *args],
        cwd=RECIPE, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def labels(d: Path) -> dict[str, str]:
    return table(d / "label")


def write_list(path: Path, rows: list[tuple[str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("filename\tlabel\n" + "".join(f"{p}\t{label}\n" for p, label in rows))


# ---- Google Speech Commands v2, 35 words ---------------------------------------------------


@pytest.fixture(scope="module")
def gsc_v2(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("speech_commands_v0.02")
    spk = ["0a0b0c0d", "1a1b1c1d", "2a2b2c2d"]
    for word in WORDS35:
        for s in spk:
            wav(root / word / f"{s}_nohash_0.wav")
    (root / "validation_list.txt").write_text(
        "".join(f"{w}/{spk[1]}_nohash_0.wav\n" for w in WORDS35)
    )
    (root / "testing_list.txt").write_text("".join(f"{w}/{spk[2]}_nohash_0.wav\n" for w in WORDS35))
    wav(root / "_background_noise_" / "white_noise.wav")
    for name in ("LICENSE", "README.md"):
        (root / name).write_text("x\n")
    return root


def test_gsc_v2_35_words_official_lists(gsc_v2, tmp_path):
    out = data_sh(tmp_path, "--tasks", "gsc_v2", SPEECHCOMMANDS_V2=gsc_v2)
    assert out.returncode == 0, out.stderr
    for split, speaker in (("train", "0a0b0c0d"), ("valid", "1a1b1c1d"), ("test", "2a2b2c2d")):
        rows = check_dir(tmp_path / f"gsc_v2_{split}", 35, FILES)
        assert sorted(rows["label"].values()) == sorted(WORDS35)
        assert speakers(tmp_path / f"gsc_v2_{split}") == {speaker}
    assert table(tmp_path / "tasks") == {"gsc_v2": "scr en"}


def test_gsc_v2_missing_word_dir_is_one_line(gsc_v2, tmp_path):
    partial = tmp_path / "sc"
    partial.mkdir()
    for name in ("validation_list.txt", "testing_list.txt"):
        (partial / name).write_text("")
    (partial / "yes").mkdir()
    out = data_sh(tmp_path / "data", "--tasks", "gsc_v2", SPEECHCOMMANDS_V2=partial)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert "no dir for the word(s) no, up," in out.stderr and "SPEECHCOMMANDS_V2" in out.stderr


# ---- Lithuanian Speech Commands ------------------------------------------------------------


def lt_speakers(split: str, n: int) -> list[str]:
    names = (f"{i:02d}" for i in range(1, 200))
    return [s for s in names if hash_split(f"{s}_nohash_0.wav") == split][:n]


@pytest.fixture(scope="module")
def lt_corpus(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("lt") / "lt_speech_commands"
    trio = [lt_speakers(split, 1)[0] for split in ("train", "valid", "test")]
    for word in (*LT_COMMANDS, "du", "taip"):
        who = lt_speakers("train", 22) + trio[1:] if word == "ne" else trio
        for s in who:
            wav(root / "dataset" / word / f"{s}_nohash_0.wav")
    for k in range(1, 23):
        wav(root / "dataset" / "_background_noise_" / f"{k}.wav")
    (root / "README.md").write_text("Lithuanian Speech Commands dataset\n")
    return root


def test_lt_sc_hash_split_limit_and_noise(lt_corpus, tmp_path):
    out = data_sh(tmp_path, "--tasks", "lt_sc", LT_SPEECHCOMMANDS=lt_corpus)
    assert out.returncode == 0, out.stderr
    # train: "ne" 20 of 22 + 14 other words + 2 noise; valid/test: 15 words + 10 noise
    train = check_dir(tmp_path / "lt_sc_train", 20 + 14 + 2, FILES)
    valid = check_dir(tmp_path / "lt_sc_valid", 15 + 10, FILES)
    test = check_dir(tmp_path / "lt_sc_test", 15 + 10, FILES)
    classes = {*LT_COMMANDS, "unknown", "silence"}
    assert len(classes) == 15
    for rows in (train, valid, test):
        assert set(rows["label"].values()) == classes
    assert list(train["label"].values()).count("ne") == 20
    assert sorted(u for u in test["label"] if u.startswith("silence-")) == sorted(
        f"silence-{k}" for k in ("1", "10", "11", "12", "13", "14", "15", "16", "17", "18")
    )  # the first 10 clips in sorted (name) order
    assert train["label"]["01-aciu-01_nohash_0"] == "ačiū"  # ASCII ids, labels as written
    assert table(tmp_path / "tasks") == {"lt_sc": "scr lt"}


def test_lt_sc_from_split_lists(lt_corpus, tmp_path):
    data = lt_corpus / "dataset"
    prefix = "/work/someone/lt_speech_commands/dataset"
    rows = {
        "train_limit20.csv": [(f"{prefix}/ne/{lt_speakers('train', 1)[0]}_nohash_0.wav", "ne")],
        "dev_full.csv": [(f"{prefix}/du/{lt_speakers('valid', 1)[0]}_nohash_0.wav", "unknown")],
        "test_full.csv": [(f"{prefix}/į_kairę/{lt_speakers('test', 1)[0]}_nohash_0.wav",
                           "į_kairę")],  # fmt: skip
        "noise_full.csv": [
            (f"{prefix}/_background_noise_/{k}.wav", "silence") for k in range(1, 22)
        ],
    }
    lists = tmp_path / "SpeechAdvReprogram" / "Datasets" / "LT-SCR"
    for name, listed in rows.items():
        write_list(lists / name, listed)
    out = data_sh(tmp_path / "data", "--tasks", "lt_sc", LT_SPEECHCOMMANDS=lt_corpus,
                  SCR_SPLIT_LISTS=lists.parent.parent)  # fmt: skip
    assert out.returncode == 0, out.stderr
    train = check_dir(tmp_path / "data" / "lt_sc_train", 1 + 1, FILES)
    assert sorted(train["label"].values()) == ["ne", "silence"]  # noise rows 21.. -> train
    test = check_dir(tmp_path / "data" / "lt_sc_test", 1 + 10, FILES)
    assert "į_kairę" in test["label"].values()
    assert check_dir(tmp_path / "data" / "lt_sc_valid", 1 + 10, FILES)
    write_list(lists / "dev_full.csv", [(f"{prefix}/du/99_nohash_0.wav", "unknown")])
    out = data_sh(tmp_path / "data", "--tasks", "lt_sc", LT_SPEECHCOMMANDS=lt_corpus,
                  SCR_SPLIT_LISTS=lists.parent.parent)  # fmt: skip
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert f"dev_full.csv:2: {data}/du/99_nohash_0.wav is listed but missing" in out.stderr


# ---- Arabic Speech Commands ----------------------------------------------------------------

AR_WORDS = ("A_Add", "B_Back", "C_Cancel", "D_Delete", "E_Confirm", "F_Continue")


@pytest.fixture(scope="module")
def ar_corpus(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("ar") / "AR_Speech_Database"
    database = root / "AR_ SpeechCommands_Database"
    for n in range(1, 11):
        for word in AR_WORDS:
            wav(database / "Words" / f"{word}{n}.wav")
        for digit in range(10):
            wav(database / "Numbers" / f"{digit}_{n}.wav")
    (root / "README.md").write_text("# Arabic_Database\n")
    return root


def test_ar_sc_session_split_and_space_in_path(ar_corpus, tmp_path):
    out = data_sh(tmp_path, "--tasks", "ar_sc", AR_SPEECHCOMMANDS=ar_corpus)
    assert out.returncode == 0, out.stderr
    sets = {s: check_dir(tmp_path / f"ar_sc_{s}", n, FILES)
            for s, n in (("train", 16 * 7), ("valid", 16), ("test", 16 * 2))}  # fmt: skip
    names = ["add", "back", "cancel", "delete", "confirm", "continue", "zero", "one", "two",
             "three", "four", "five", "six", "seven", "eight", "nine"]  # fmt: skip
    for rows in sets.values():
        assert set(rows["label"].values()) == set(names)
    spk = {s: speakers(tmp_path / f"ar_sc_{s}") for s in sets}
    assert spk["train"].isdisjoint(spk["test"]) and spk["valid"].isdisjoint(spk["test"])
    entry = next(iter(sets["test"]["wav.scp"].values()))
    assert entry.startswith("cat '") and entry.endswith("' |") and "AR_ Speech" in entry
    piped = subprocess.run(entry[:-1], shell=True, capture_output=True, check=True).stdout
    assert soundfile.read(io.BytesIO(piped))[0].size == _TONE.size
    again = tmp_path / "again"
    assert data_sh(again, "--tasks", "ar_sc", AR_SPEECHCOMMANDS=ar_corpus).returncode == 0
    assert speakers(again / "ar_sc_test") == spk["test"]  # the split is seeded
    other = tmp_path / "other"
    assert data_sh(other, "--tasks", "ar_sc", "--split_seed", "3",
                   AR_SPEECHCOMMANDS=ar_corpus).returncode == 0  # fmt: skip
    assert speakers(other / "ar_sc_test") != spk["test"]


def test_ar_sc_from_split_lists(ar_corpus, tmp_path):
    prefix = "/work/someone/AR_SpeechCommands"
    lists = tmp_path / "lists" / "AR-SCR"
    write_list(lists / "train_full.csv", [(f"{prefix}/commands/B_Back3.wav", "B"),
                                          (f"{prefix}/numbers/7_10.wav", "7")])  # fmt: skip
    write_list(lists / "dev_full.csv", [(f"{prefix}/commands/A_Add1.wav", "A")])
    write_list(lists / "test_full.csv", [(f"{prefix}/numbers/0_1.wav", "0")])
    out = data_sh(tmp_path / "data", "--tasks", "ar_sc", AR_SPEECHCOMMANDS=ar_corpus,
                  SCR_SPLIT_LISTS=tmp_path / "lists")  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert labels(tmp_path / "data" / "ar_sc_train") == {"rec003-B_Back3": "back",
                                                         "rec010-7_10": "seven"}  # fmt: skip
    assert labels(tmp_path / "data" / "ar_sc_test") == {"rec001-0_1": "zero"}
    write_list(lists / "test_full.csv", [(f"{prefix}/numbers/0_1.wav", "5")])
    out = data_sh(tmp_path / "data", "--tasks", "ar_sc", AR_SPEECHCOMMANDS=ar_corpus,
                  SCR_SPLIT_LISTS=tmp_path / "lists")  # fmt: skip
    assert (
        out.returncode == 1 and "test_full.csv:2: label 5, but 0_1.wav is class zero" in out.stderr
    )


# ---- Dysarthric Mandarin Speech Commands ---------------------------------------------------


@pytest.fixture(scope="module")
def dm_corpus(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("dm") / "dysarthria_zh_command"
    for k in (1, 2, 3):
        for c in range(1, 20):
            for j in range(1, 6):
                wav(root / f"D_SPK{k}" / f"{c:02d}" / f"D_SPK{k}_c{c} ({j}).wav")
    return root


def test_dm_sc_13_classes_per_speaker_split(dm_corpus, tmp_path):
    out = data_sh(tmp_path, "--tasks", "dm_sc", DM_SPEECHCOMMANDS=dm_corpus)
    assert out.returncode == 0, out.stderr
    # per speaker and class of 5: 2 test (30 %), 1 valid (20 % of 3), 2 train
    train = check_dir(tmp_path / "dm_sc_train", 3 * 13 * 2, FILES)
    check_dir(tmp_path / "dm_sc_valid", 3 * 13, FILES)
    test = check_dir(tmp_path / "dm_sc_test", 3 * 13 * 2, FILES)
    kept = {f"{c:02d}" for c in range(1, 20)} - set(OMITTED)
    assert set(train["label"].values()) == set(test["label"].values()) == kept
    assert speakers(tmp_path / "dm_sc_test") == {"D_SPK1", "D_SPK2", "D_SPK3"}
    assert "D_SPK2-02-D_SPK2_c2__3_" in {**train["label"], **test["label"],
                                         **labels(tmp_path / "dm_sc_valid")}  # fmt: skip
    out = data_sh(tmp_path / "all", "--tasks", "dm_sc", "--dm_all_classes", "true",
                  DM_SPEECHCOMMANDS=dm_corpus)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert len(set(labels(tmp_path / "all" / "dm_sc_test").values())) == 19


def test_dm_sc_from_split_lists(dm_corpus, tmp_path):
    prefix = "/work/someone/dysarthria_zh_command"
    train_rows = [(f"{prefix}/D_SPK1/{c:02d}/D_SPK1_c{c} ({j}).wav", f"{c:02d}")
                  for c in (1, 2, 10) for j in (1, 2, 3, 4, 5)]  # fmt: skip
    write_list(tmp_path / "l" / "DM-SCR" / "train_full.csv", train_rows)
    write_list(tmp_path / "l" / "DM-SCR" / "test_full.csv",
               [(f"{prefix}/D_SPK3/19/D_SPK3_c19 (1).wav", "19"),
                (f"{prefix}/D_SPK3/04/D_SPK3_c4 (1).wav", "04")])  # fmt: skip
    out = data_sh(tmp_path / "data", "--tasks", "dm_sc", DM_SPEECHCOMMANDS=dm_corpus,
                  SCR_SPLIT_LISTS=tmp_path / "l")  # fmt: skip
    assert out.returncode == 0, out.stderr
    train = labels(tmp_path / "data" / "dm_sc_train")
    valid = labels(tmp_path / "data" / "dm_sc_valid")
    assert len(train) + len(valid) == 10 and len(valid) == 2  # class 10 left out; 20 % valid
    assert labels(tmp_path / "data" / "dm_sc_test") == {"D_SPK3-04-D_SPK3_c4__1_": "04"}


# ---- VoxForge ------------------------------------------------------------------------------

VOX_LANGS = ("de", "en", "es", "fr", "it", "ru")


@pytest.fixture(scope="module")
def voxforge(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("voxforge")
    for lang in VOX_LANGS:
        base = root / "www.repository.voxforge1.org" / "downloads" / lang / "Trunk" / "Audio"
        base = base / "Main" / "16kHz_16bit"
        for user in ("anonymous", "anonymous", "alice", "alice", "bob"):
            name = f"{user}-2008050{len(list(base.glob('*')))}-{lang}x"
            (base / f"{name}.tgz").parent.mkdir(parents=True, exist_ok=True)
            (base / f"{name}.tgz").write_bytes(b"\x1f\x8b")
            for k in range(3):
                wav(base / name / "wav" / f"a{k:04d}.wav")
            (base / name / "etc").mkdir()
            (base / name / "etc" / "PROMPTS").write_text("a0000 HELLO\n")
    return root


def test_voxforge_archive_disjoint_quotas(voxforge, tmp_path):
    out = data_sh(tmp_path, "--tasks", "voxforge_lid", "--voxforge_per_language", "4 2 2",
                  VOXFORGE=voxforge)  # fmt: skip
    assert out.returncode == 0, out.stderr
    sets = {s: check_dir(tmp_path / f"voxforge_lid_{s}", 6 * n, FILES)
            for s, n in (("train", 4), ("valid", 2), ("test", 2))}  # fmt: skip
    for rows in sets.values():
        assert sorted(set(rows["label"].values())) == list(VOX_LANGS)
    spk = {s: speakers(tmp_path / f"voxforge_lid_{s}") for s in sets}
    assert all(spk[a].isdisjoint(spk[b]) for a, b in (("train", "valid"), ("train", "test"),
                                                       ("valid", "test")))  # fmt: skip
    for lang in VOX_LANGS:  # alice's two archives: one user, one set (when used at all)
        assert sum(any(s.startswith(f"{lang}_alice-") for s in spk[x]) for x in spk) <= 1
    assert table(tmp_path / "tasks") == {"voxforge_lid": "lid mul"}
    out = data_sh(tmp_path / "short", "--tasks", "voxforge_lid", VOXFORGE=voxforge)
    assert out.returncode == 1 and "de: 15 of 300 test utterances (corpus exhausted)" in out.stderr
    assert "voxforge_lid_train: no utterances to write" in out.stderr


def test_voxforge_unextracted_archives_say_so(tmp_path):
    base = tmp_path / "vf" / "downloads"
    for lang in VOX_LANGS:
        packed = base / lang / "Trunk" / "Audio" / "Main" / "16kHz_16bit" / "x-20080101-abc.tgz"
        packed.parent.mkdir(parents=True)
        packed.write_bytes(b"")
    out = data_sh(tmp_path / "data", "--tasks", "voxforge_lid", VOXFORGE=tmp_path / "vf")
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert "no extracted archive dirs; extract the archives where they lie" in out.stderr


# ---- IEMOCAP -------------------------------------------------------------------------------

IEMOCAP_ROWS = [("impro01_F000", "neu"), ("impro01_M000", "exc"), ("impro01_F001", "fru"),
                ("script01_1_M001", "ang"), ("script01_1_F002", "sad"), ("impro01_M002", "hap"),
                ("impro01_F003", "xxx")]  # fmt: skip


@pytest.fixture(scope="module")
def iemocap(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("iemocap") / "IEMOCAP_full_release"
    for k in (1, 2, 3):
        session = root / f"Session{k}"
        lead = f"Ses0{k}{'F' if k != 2 else 'M'}"
        by_dialog: dict[str, list[str]] = {}
        for n, (tail, emotion) in enumerate(IEMOCAP_ROWS):
            utt = f"{lead}_{tail}"
            dialog = utt.rsplit("_", 1)[0]
            wav(session / "sentences" / "wav" / dialog / f"{utt}.wav")
            by_dialog.setdefault(dialog, []).append(
                f"[{n}.0100 - {n}.9000]\t{utt}\t{emotion}\t[2.5000, 2.5000, 2.5000]\n"
            )
        labels_dir = session / "dialog" / "EmoEvaluation"
        (labels_dir / "Categorical").mkdir(parents=True)
        for dialog, lines in by_dialog.items():
            head = "% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]\n\n"
            (labels_dir / f"{dialog}.txt").write_text(
                head
                + "".join(
                    f"{line}C-E1:\tNeutral;\t()\nA-E1:\tval 3; act 2; dom  2;\t()\n"
                    for line in lines
                )
            )
        (labels_dir / f"._{lead}_impro01.txt").write_bytes(b"\x00\x05\x16\x07")  # macOS junk
    return root


def test_iemocap_four_classes_session_test(iemocap, tmp_path):
    out = data_sh(tmp_path, "--tasks", "iemocap_er", IEMOCAP=iemocap)
    assert out.returncode == 0, out.stderr
    test = check_dir(tmp_path / "iemocap_er_test", 5, FILES)  # fru and xxx left out
    assert test["label"] == {
        "Ses01F-Ses01F_impro01_F000": "neu", "Ses01M-Ses01F_impro01_M000": "hap",
        "Ses01M-Ses01F_script01_1_M001": "ang", "Ses01F-Ses01F_script01_1_F002": "sad",
        "Ses01M-Ses01F_impro01_M002": "hap",
    }  # fmt: skip
    train = labels(tmp_path / "iemocap_er_train")
    valid = labels(tmp_path / "iemocap_er_valid")
    assert len(valid) == 2 and len(train) == 8 and not set(train) & set(valid)  # 20 % of 10
    assert {u[:6] for u in [*train, *valid]} == {"Ses02F", "Ses02M", "Ses03F", "Ses03M"}
    assert speakers(tmp_path / "iemocap_er_test") == {"Ses01F", "Ses01M"}
    assert table(tmp_path / "tasks") == {"iemocap_er": "er en"}


# ---- MUStARD -------------------------------------------------------------------------------

MUSTARD_ITEMS = {
    "1_60": ("SHELDON", "BBT", True), "1_70": ("PENNY", "BBT", True),
    "1_80": ("SHELDON", "BBT", False), "2_169": ("CHANDLER", "FRIENDS", True),
    "2_235": ("MRS. WOLOWITZ", "FRIENDS", False), "1_90": ("DOROTHY", "GOLDENGIRLS", False),
    "1_105": ("MODERATOR", "SARCASMOHOLICS", True), "1_162": ("HOWARD", "BBT", False),
    "1_175": ("RAJ", "BBT", True), "1_182": ("LEONARD", "BBT", False),
    "1_213": ("SHELDON", "BBT", True),
}  # fmt: skip


@pytest.fixture(scope="module")
def mustard(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("mustard")
    data = base / "MUStARD" / "data"
    data.mkdir(parents=True)
    items = {
        key: {"utterance": "Oh, sure.", "speaker": spk, "context": ["Hi."],
              "context_speakers": ["PENNY"], "show": show, "sarcasm": sarcasm}
        for key, (spk, show, sarcasm) in MUSTARD_ITEMS.items()
    }  # fmt: skip
    (data / "sarcasm_data.json").write_text(json.dumps(items, indent=4))
    folds = [
        (
            np.array([i for i in range(11) if i % 5 != f], dtype=np.int64),
            np.array([i for i in range(11) if i % 5 == f], dtype=np.int64),
        )
        for f in range(5)
    ]
    (data / "split_indices.p").write_bytes(pickle.dumps(folds, protocol=2))
    videos = base / "mmsd_raw_data" / "utterances_final"
    videos.mkdir(parents=True)
    for key in MUSTARD_ITEMS:
        (videos / f"{key}.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42")
    wav(videos / "1_60.wav")
    return {"MUSTARD": base / "MUStARD", "MUSTARD_VIDEOS": videos}


def test_mustard_fold_split_and_ffmpeg_entries(mustard, tmp_path):
    out = data_sh(tmp_path, "--tasks", "mustard_sd", **mustard)
    assert out.returncode == 0, out.stderr
    test = check_dir(tmp_path / "mustard_sd_test", 3, FILES)  # indices 0, 5, 10 of fold 0
    assert set(test["label"]) == {"SHELDON-1_60", "DOROTHY-1_90", "SHELDON-1_213"}
    assert test["wav.scp"]["SHELDON-1_60"].endswith("utterances_final/1_60.wav")
    assert test["wav.scp"]["DOROTHY-1_90"].startswith("ffmpeg -nostdin -loglevel error -i ")
    assert "1_90.mp4 -vn -ac 1 -ar 16000 -f wav - |" in test["wav.scp"]["DOROTHY-1_90"]
    train = labels(tmp_path / "mustard_sd_train")
    valid = labels(tmp_path / "mustard_sd_valid")
    assert len(valid) == 1 and len(train) == 7  # 10 % of the 8 others, at least one
    assert "MRS._WOLOWITZ-2_235" in {**train, **valid}
    assert set(test["label"].values()) == {"sarcastic", "not_sarcastic"}
    assert table(tmp_path / "tasks") == {"mustard_sd": "sd en"}


def test_mustard_fold_pickle_may_hold_only_arrays(mustard, tmp_path):
    root = tmp_path / "MUStARD"
    (root / "data").mkdir(parents=True)
    (root / "data" / "sarcasm_data.json").write_bytes(
        (mustard["MUSTARD"] / "data" / "sarcasm_data.json").read_bytes()
    )
    marker = tmp_path / "ran"

    class RunsACommand:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    (root / "data" / "split_indices.p").write_bytes(pickle.dumps([RunsACommand()], protocol=2))
    out = data_sh(tmp_path / "data", "--tasks", "mustard_sd", MUSTARD=root,
                  MUSTARD_VIDEOS=mustard["MUSTARD_VIDEOS"])  # fmt: skip
    assert out.returncode == 1 and not marker.exists() and "Traceback" not in out.stderr
    assert "split_indices.p: not MUStARD's fold index file (refusing posix.system)" in out.stderr


def test_mustard_speaker_independent_tests_on_friends(mustard, tmp_path):
    out = subprocess.run(
        ["bash", "-c", ". ./path.sh; python3 -m espnet2_speechprompt.data.mustard "
         f"--root '{mustard['MUSTARD']}' --videos '{mustard['MUSTARD_VIDEOS']}' "
         f"--data_dir '{tmp_path}' --split speaker_independent"],
        cwd=RECIPE, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert set(labels(tmp_path / "mustard_sd_test")) == {"CHANDLER-2_169", "MRS._WOLOWITZ-2_235"}


# ---- the task list, the group confs, errors ------------------------------------------------


def test_groups_prepare_their_tasks_into_one_task_list(gsc_v2, ar_corpus, iemocap, tmp_path):
    from espnet2_speechprompt.data.tasklist import read_task_group

    assert read_task_group(RECIPE / "conf" / "group1.yaml") == (
        ["gsc_v2", "lt_sc", "dm_sc", "voxforge_lid", "mustard_sd"],
        ["ar_sc", "iemocap_er"],
    )
    assert read_task_group(RECIPE / "conf" / "group2.yaml") == (
        ["dm_sc", "lt_sc", "voxforge_lid", "iemocap_er"],
        ["ar_sc", "gsc_v2", "mustard_sd"],
    )
    corpora = {"SPEECHCOMMANDS_V2": gsc_v2, "AR_SPEECHCOMMANDS": ar_corpus, "IEMOCAP": iemocap}
    (tmp_path / "g.yaml").write_text("train_tasks: [gsc_v2, iemocap_er]\ntest_tasks: [ar_sc]\n")
    out = data_sh(tmp_path / "data", "--group", str(tmp_path / "g.yaml"), **corpora)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "data" / "tasks").read_text() == (
        "ar_sc scr ar\ngsc_v2 scr en\niemocap_er er en\n"
    )
    out = data_sh(tmp_path / "data", "--tasks", "gsc_v2", "--group", str(RECIPE / "conf" /
                  "group2.yaml"), **corpora)  # fmt: skip
    assert out.returncode == 1 and "error: DM_SPEECHCOMMANDS is not set" in out.stderr
    assert len((tmp_path / "data" / "tasks").read_text().splitlines()) == 3


@pytest.mark.parametrize(
    "task, variable",
    [("gsc_v2", "SPEECHCOMMANDS_V2"), ("lt_sc", "LT_SPEECHCOMMANDS"),
     ("ar_sc", "AR_SPEECHCOMMANDS"), ("dm_sc", "DM_SPEECHCOMMANDS"), ("voxforge_lid", "VOXFORGE"),
     ("iemocap_er", "IEMOCAP"), ("mustard_sd", "MUSTARD")],
)  # fmt: skip
def test_missing_corpus_names_the_db_sh_variable(task, variable, tmp_path):
    out = data_sh(tmp_path / "data", "--tasks", task)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert out.stderr.strip().splitlines()[-1].startswith(f"error: {variable} is not set: set ")
    out = data_sh(tmp_path / "data", "--tasks", task, **{variable: tmp_path / "nowhere"})
    assert (
        out.returncode == 1 and f"error: {variable}={tmp_path / 'nowhere'}: no such" in out.stderr
    )


@pytest.mark.parametrize(
    "task, variable, layout",
    [("lt_sc", "LT_SPEECHCOMMANDS", "no dataset/_background_noise_ dir"),
     ("ar_sc", "AR_SPEECHCOMMANDS", "no 'AR_ SpeechCommands_Database/Words'"),
     ("dm_sc", "DM_SPEECHCOMMANDS", "no D_SPK<k>/ speaker dirs"),
     ("voxforge_lid", "VOXFORGE", "no downloads/{de,en,es,fr,it,ru} dirs"),
     ("iemocap_er", "IEMOCAP", "no Session<k> dirs"),
     ("mustard_sd", "MUSTARD", "data/sarcasm_data.json: no such file")],
)  # fmt: skip
def test_wrong_corpus_dir_is_one_line(task, variable, layout, tmp_path):
    out = data_sh(tmp_path / "data", "--tasks", task, **{variable: tmp_path,
                                                          "MUSTARD_VIDEOS": tmp_path})  # fmt: skip
    assert out.returncode == 1 and "Traceback" not in out.stderr
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and layout in last and variable in last


def test_mustard_videos_and_unknown_task(mustard, tmp_path):
    out = data_sh(tmp_path / "data", "--tasks", "mustard_sd", MUSTARD=mustard["MUSTARD"])
    assert out.returncode == 1 and "error: MUSTARD_VIDEOS is not set" in out.stderr
    out = data_sh(tmp_path / "data", "--tasks", "gsc_v3")
    assert out.returncode == 1 and "error: unknown task 'gsc_v3'" in out.stderr


def test_task_list_replaces_lines_and_rejects_bad_input(tmp_path):
    from espnet2_speechprompt.data.kaldi import DataPrepError
    from espnet2_speechprompt.data.tasklist import TaskEntry, read_task_group, update_task_list

    update_task_list(tmp_path, TaskEntry("b_task", "scr", "en"))
    update_task_list(tmp_path, TaskEntry("a_task", "lid", "mul"))
    update_task_list(tmp_path, TaskEntry("b_task", "er", "en"))
    assert (tmp_path / "tasks").read_text() == "a_task lid mul\nb_task er en\n"
    with pytest.raises(DataPrepError, match="bad task name 'Bad-Name'"):
        update_task_list(tmp_path, TaskEntry("Bad-Name", "scr", "en"))
    (tmp_path / "tasks").write_text("a_task lid\n")
    with pytest.raises(DataPrepError, match=r"tasks:1: expected '<task> <family> <language>'"):
        update_task_list(tmp_path, TaskEntry("c_task", "sd", "en"))
    conf = tmp_path / "g.yaml"
    conf.write_text("train_tasks: [a, b]\ntest_tasks: [b]\n")
    with pytest.raises(DataPrepError, match="task\\(s\\) b are both train and test tasks"):
        read_task_group(conf)
    conf.write_text("train_tasks: [a]\n")
    with pytest.raises(DataPrepError, match="test_tasks must be a non-empty list"):
        read_task_group(conf)


def test_recipe_layout_and_readme():
    for name in ("speechprompt.sh", "utils", "path.sh", "db.sh"):
        assert (RECIPE / name).is_symlink() and (RECIPE / name).exists(), name
    template = RECIPE.parents[1] / "TEMPLATE" / "speechprompt1"
    assert (RECIPE / "cmd.sh").read_text() == (template / "cmd.sh").read_text()
    assert (RECIPE / "local" / "data.sh").stat().st_mode & 0o111
    readme = (RECIPE / "README.md").read_text()
    for heading in ("## Stages", "## Corpus layout", "## Commands", "## Published numbers",
                    "## Not verified"):  # fmt: skip
        assert heading in readme, heading
    for variable in ICL_VARS:
        assert f"${variable}" in readme and f"{variable}=" in (template / "db.sh").read_text()
    assert "| 1 | unseen | SCR | Arabic SC | 40.9 ± 1.5 | 28.0 ± 1.0 | 3.9 ± 0.7 | 50.8 |" in readme
