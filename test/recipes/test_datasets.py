"""The six dataset recipes' local/data.sh on small fake corpora in their real layouts (made here:
file names, csv/tsv columns, list files, transcripts, short generated audio), the missing-path
errors, the label formats and the seeded few-shot sampler."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile

from espnet2_speechprompt.data.fewshot import fewshot_name, sample_n_shot
from espnet2_speechprompt.data.kaldi import DataPrepError, label_to_text, to_char_label
from espnet2_speechprompt.data.snips import tag_words

ROOT = Path(__file__).resolve().parents[2]
EGS = ROOT / "egs2"
CORPUS_VARS = (
    "SPEECHCOMMANDS SPEECHCOMMANDS_TEST FSC LIBRISPEECH SNIPS COMMONVOICE COVOST2 CVSS FISHER "
    "FISHER_TRANSLATIONS LJSPEECH VCTK"
).split()


def wav(path: Path, seconds: float = 0.1, rate: int = 16000, fmt: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * rate)) / rate
    soundfile.write(path, 0.1 * np.sin(2 * np.pi * 220 * t), rate, format=fmt)
    return path


def data_sh(
    recipe: str, out: Path, *args: str, **corpora: str | Path
) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in CORPUS_VARS}
    env.update({k: str(v) for k, v in corpora.items()})
    return subprocess.run(
        ["bash", "local/data.sh", "--data_dir", str(out), *args],
        cwd=EGS / recipe / "speechprompt1",
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def table(path: Path) -> dict[str, str]:
    rows = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        key, _, value = line.partition(" ")
        rows[key] = value
    return rows


def check_dir(d: Path, n: int, files=("wav.scp", "utt2spk", "spk2utt")) -> dict[str, dict]:
    """Kaldi invariants: same sorted keys in every file, spk2utt inverts utt2spk."""
    tables = {name: table(d / name) for name in files if name != "spk2utt"}
    keys = list(tables["wav.scp"])
    assert len(keys) == n, (d, len(keys))
    assert keys == sorted(keys, key=lambda k: k.encode())
    for name, rows in tables.items():
        assert list(rows) == keys, name
    spk2utt = {s: u.split() for s, u in table(d / "spk2utt").items()}
    assert sorted(u for us in spk2utt.values() for u in us) == sorted(keys)
    assert all(tables["utt2spk"][u] == s for s, us in spk2utt.items() for u in us)
    assert all(u.startswith(tables["utt2spk"][u]) for u in keys)
    return tables


def speakers(d: Path, ignore: set[str] = frozenset()) -> set[str]:
    return set(table(d / "utt2spk").values()) - ignore


# ---- Speech Commands v0.01 (SUPERB KS) ------------------------------------------------------

EXTRA_WORDS = ("bed", "cat")


@pytest.fixture(scope="module")
def speechcommands(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("speech_commands_v0.01")
    spk = ["aaaa0001", "aaaa0002", "aaaa0003", "aaaa0004"]
    words = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go", *EXTRA_WORDS)
    for word in words:
        for s in spk:
            wav(root / word / f"{s}_nohash_0.wav")
    (root / "validation_list.txt").write_text(
        "".join(f"{w}/{spk[2]}_nohash_0.wav\n" for w in words)
    )
    (root / "testing_list.txt").write_text("".join(f"{w}/{spk[3]}_nohash_0.wav\n" for w in words))
    wav(root / "_background_noise_" / "white_noise.wav", seconds=3.2)
    (root / "_background_noise_" / "README.md").write_text("noise\n")
    test = tmp_path_factory.mktemp("speech_commands_test_set_v0.01")
    for cls in (*words[:10], "_unknown_", "_silence_"):
        for k in range(2):
            name = f"bbbb000{k}_nohash_0.wav" if cls != "_silence_" else f"silence_{k}.wav"
            if cls == "_unknown_":
                name = f"{EXTRA_WORDS[k]}_bbbb000{k}_nohash_0.wav"
            wav(test / cls / name)
    return root, test


def test_speechcommands(speechcommands, tmp_path):
    root, test_root = speechcommands
    out = data_sh(
        "speechcommands", tmp_path, "--n_shot", "1", "--seed", "3",
        SPEECHCOMMANDS=root, SPEECHCOMMANDS_TEST=test_root,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "the SUPERB KS test set has 3081" in out.stderr  # the fake test set is smaller
    # train: 10 words x 2 speakers + 2 unknown words x 2 + 2 silence clips (90% of 3 s)
    train = check_dir(tmp_path / "train", 26, ("wav.scp", "label", "utt2spk"))
    valid = check_dir(tmp_path / "valid", 13, ("wav.scp", "label", "utt2spk"))
    test = check_dir(tmp_path / "test", 24, ("wav.scp", "label", "utt2spk"))
    classes = {"yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go"}
    classes |= {"_unknown_", "_silence_"}
    for rows in (train, valid, test):
        assert set(rows["label"].values()) == classes
    assert sorted(train["label"].values()).count("_unknown_") == 4
    assert speakers(tmp_path / "train", {"silence"}).isdisjoint(speakers(tmp_path / "valid"))
    assert not any("aaaa0004" in u for u in [*train["label"], *valid["label"]])  # testing_list
    for entry in [*train["wav.scp"].values(), *test["wav.scp"].values()]:
        assert Path(entry).is_file()
    silence = [p for u, p in train["wav.scp"].items() if train["label"][u] == "_silence_"]
    assert all(soundfile.info(p).frames == 16000 for p in silence)
    few = check_dir(tmp_path / fewshot_name("train", 1, 3), 12, ("wav.scp", "label", "utt2spk"))
    assert sorted(few["label"].values()) == sorted(classes)


# ---- Fluent Speech Commands ------------------------------------------------------------------

FSC_ROWS = [
    ("Turn on the lights", "activate", "lights", "none"),
    ("Switch the language to Chinese", "change language", "Chinese", "none"),
    ("Turn the heat up in the kitchen", "increase", "heat", "kitchen"),
]


@pytest.fixture(scope="module")
def fsc(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("fluent_speech_commands_dataset")
    (root / "data").mkdir()
    index = 0
    for split, spks in (("train", "AB"), ("valid", "C"), ("test", "D")):
        with open(root / "data" / f"{split}_data.csv", "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(
                ["", "path", "speakerId", "transcription", "action", "object", "location"]
            )
            for spk in spks:
                speaker = f"{spk}xVo8kVB2Skwgyb"
                for text, action, obj, loc in FSC_ROWS:
                    rel = f"wavs/speakers/{speaker}/{index:04x}c0-4474-11e9-a9a5.wav"
                    wav(root / rel)
                    writer.writerow([index, rel, speaker, text, action, obj, loc])
                    index += 1
    return root


def test_fsc(fsc, tmp_path):
    out = data_sh("fsc", tmp_path, "--n_shot", "1", FSC=fsc)
    assert out.returncode == 0, out.stderr
    files = ("wav.scp", "label", "text", "utt2spk")
    train = check_dir(tmp_path / "train", 6, files)
    check_dir(tmp_path / "valid", 3, files)
    check_dir(tmp_path / "test", 3, files)
    assert all(len(label.split()) == 3 for label in train["label"].values())
    assert set(train["label"].values()) == {
        "activate lights none", "change_language Chinese none", "increase heat kitchen",
    }  # fmt: skip
    assert "Switch the language to Chinese" in train["text"].values()
    sets = [speakers(tmp_path / s) for s in ("train", "valid", "test")]
    assert all(a.isdisjoint(b) for i, a in enumerate(sets) for b in sets[i + 1 :])
    check_dir(tmp_path / "train_1shot_seed0", 3, files)  # one per intent


# ---- LibriSpeech 100 h ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def librispeech(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("librispeech")
    spk = {"train-clean-100": ["19", "26"], "dev-clean": ["84"], "test-clean": ["121"],
           "test-other": ["1688"]}  # fmt: skip
    for part, speaker_ids in spk.items():
        for s in speaker_ids:
            chapter = root / "LibriSpeech" / part / s / "198"
            lines = []
            for n, text in enumerate(["HELLO WORLD", "IT'S A TEST"]):
                utt = f"{s}-198-{n:04d}"
                wav(chapter / f"{utt}.flac", fmt="FLAC")
                lines.append(f"{utt} {text}\n")
            (chapter / f"{s}-198.trans.txt").write_text("".join(lines))
    return root


def test_librispeech(librispeech, tmp_path):
    out = data_sh("librispeech_100", tmp_path, LIBRISPEECH=librispeech)
    assert out.returncode == 0, out.stderr
    files = ("wav.scp", "label", "text", "utt2spk")
    train = check_dir(tmp_path / "train_clean_100", 4, files)
    for name in ("dev_clean", "test_clean", "test_other"):
        check_dir(tmp_path / name, 2, files)
    assert train["label"]["19-198-0000"] == "H E L L O | W O R L D"
    assert train["label"]["19-198-0001"] == "I T ' S | A | T E S T"
    assert all(label_to_text(train["label"][u]) == train["text"][u] for u in train["label"])
    assert train["wav.scp"]["19-198-0000"].endswith("19-198-0000.flac")
    assert speakers(tmp_path / "train_clean_100").isdisjoint(speakers(tmp_path / "test_clean"))


# ---- LJSpeech (continuation) ---------------------------------------------------------------


@pytest.fixture(scope="module")
def ljspeech(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("ljspeech")
    base = root / "LJSpeech-1.1"
    lines = []
    for n in range(1, 9):
        utt = f"LJ001-{n:04d}"
        wav(base / "wavs" / f"{utt}.wav", rate=22050)
        lines.append(f"{utt}|Printing, in the only sense {n}|Printing,  in the only sense {n}\n")
    (base / "metadata.csv").write_text("".join(lines))
    return root


def test_ljspeech(ljspeech, tmp_path):
    out = data_sh("ljspeech", tmp_path, "--num_dev", "2", "--num_eval", "3", LJSPEECH=ljspeech)
    assert out.returncode == 0, out.stderr
    train = check_dir(tmp_path / "train", 3, ("wav.scp", "text", "utt2spk"))
    check_dir(tmp_path / "dev", 2, ("wav.scp", "text", "utt2spk"))
    evaluation = check_dir(tmp_path / "eval", 3, ("wav.scp", "text", "utt2spk"))
    assert list(evaluation["wav.scp"]) == ["LJ001-0006", "LJ001-0007", "LJ001-0008"]
    assert train["text"]["LJ001-0001"] == "Printing, in the only sense 1"
    assert not (tmp_path / "train" / "label").exists()
    out = data_sh("ljspeech", tmp_path / "x", "--num_dev", "4", "--num_eval", "4",
                  LJSPEECH=ljspeech)  # fmt: skip
    assert out.returncode == 1 and "8 utterances cannot give --num_dev 4" in out.stderr


# ---- Audio SNIPS (SUPERB SF) ---------------------------------------------------------------

SNIPS_LINES = {
    "snips-train-0": ("play abba", "O artist PlayMusic"),
    "snips-train-1": ("rate this & that 5 stars", "O object_name object_name object_name "
                      "rating_value rating_unit RateBook"),  # fmt: skip
    "snips-valid-0": ("what's the weather , in paris ?", "O O O O O city O GetWeather"),
    "snips-test-0": ("add my song to B-list", "O B-entity_name I-entity_name O B-playlist "
                     "AddToPlaylist"),  # fmt: skip
}


@pytest.fixture(scope="module")
def snips(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("audio_slu") / "SNIPS"
    voices = {"train": ["Ivy", "Salli", "Aditi"], "valid": ["Amy"], "test": ["Brian"]}
    lines = []
    for stem, (words, tags) in SNIPS_LINES.items():
        subset = stem.split("-")[1]
        for voice in voices[subset]:
            lines.append(f"{voice}-{stem} BOS {words} EOS\tO {tags}\n")
            wav(root / subset / f"{voice}-{stem}.wav")
    (root / "all.iob.snips.txt").write_text("".join(lines))
    return root.parent


def test_snips(snips, tmp_path):
    out = data_sh("snips", tmp_path, "--n_shot", "1", SNIPS=snips)
    assert out.returncode == 0, out.stderr
    files = ("wav.scp", "label", "text", "intent", "utt2spk")
    train = check_dir(tmp_path / "train", 4, files)  # Aditi (a valid voice) left out of train
    valid = check_dir(tmp_path / "valid", 1, files)
    test = check_dir(tmp_path / "test", 1, files)
    assert train["label"]["Ivy-snips-train-0"] == "P L A Y | B-artist | A B B A | E-artist"
    assert train["text"]["Ivy-snips-train-1"] == "RATE THIS AND THAT STARS"
    assert label_to_text(train["label"]["Ivy-snips-train-1"]) == (  # "5": no character left
        "RATE B-object_name THIS AND THAT E-object_name B-rating_unit STARS E-rating_unit"
    )
    assert label_to_text(valid["label"]["Amy-snips-valid-0"]) == (
        "WHAT'S THE WEATHER IN B-city PARIS E-city"
    )
    assert label_to_text(test["label"]["Brian-snips-test-0"]) == (
        "ADD B-entity_name MY SONG E-entity_name TO B-playlist BLIST E-playlist"
    )
    assert set(train["intent"].values()) == {"PlayMusic", "RateBook"}
    assert speakers(tmp_path / "train") == {"Ivy", "Salli"}
    check_dir(tmp_path / "train_1shot_seed0", 2, files)  # one per intent


def test_snips_tagging_drops_empty_words_and_splits_b_tags():
    assert tag_words(["x", "5", "y"], ["a", "a", "a"]) == ["B-a", "X", "Y", "E-a"]
    assert tag_words(["x", "y"], ["B-a", "B-a"]) == ["B-a", "X", "E-a", "B-a", "Y", "E-a"]
    assert tag_words(["x", "y"], ["a", "b"]) == ["B-a", "X", "E-a", "B-b", "Y", "E-b"]
    assert tag_words(["?"], ["O"]) == []


# ---- CoVoST 2 Es-En + CVSS -----------------------------------------------------------------


@pytest.fixture(scope="module")
def covost(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("s2st")
    cv, cov, cvss = base / "cv" / "es", base / "covost", base / "cvss" / "es_en"
    cov.mkdir(parents=True)
    rows = [("train", "c1", 1), ("train_covost", "c1", 2), ("train", "c2", 3),
            ("dev", "c3", 4), ("test", "c4", 5), ("train", "c5", 6)]  # fmt: skip
    validated = ["client_id\tpath\tsentence\tup_votes\tdown_votes\tage\tgender\taccent"]
    covost_lines = ["path\tsentence\ttranslation\tclient_id\tsplit"]
    cvss_lines: dict[str, list[str]] = {"train": [], "dev": [], "test": []}
    for split, client, n in rows:
        clip = f"common_voice_es_{19600000 + n}.mp3"
        wav(cv / "clips" / clip, fmt="MP3")
        client_id = client * 40
        validated.append(f"{client_id}\t{clip}\thola número {n}\t2\t0\t\t\t")
        covost_lines.append(f"{clip}\thola número {n}\thello number {n}\t{client_id}\t{split}")
        if n != 6:  # clip 6 has no CVSS target
            target = split.removesuffix("_covost")
            cvss_lines[target].append(f"{clip}\thello number {n}")
            wav(cvss / target / f"{clip}.wav", rate=24000)
    (cv / "validated.tsv").write_text("\n".join(validated) + "\n")
    (cov / "covost_v2.es_en.tsv").write_text("\n".join(covost_lines) + "\n")
    for split, lines in cvss_lines.items():
        (cvss / f"{split}.tsv").write_text("".join(f"{line}\n" for line in lines))
    return {"COMMONVOICE": cv, "COVOST2": cov, "CVSS": cvss}


def test_covost2(covost, tmp_path):
    out = data_sh("covost2", tmp_path, **covost)
    assert out.returncode == 0, out.stderr
    files = ("wav.scp", "tgt_wav.scp", "text", "tgt_text", "utt2spk")
    train = check_dir(tmp_path / "train", 3, files)
    check_dir(tmp_path / "dev", 1, files)
    check_dir(tmp_path / "test", 1, files)
    assert "1 CoVoST 2 clips have no CVSS target" in out.stderr
    assert sorted(train["tgt_text"].values()) == [
        "hello number 1",
        "hello number 2",
        "hello number 3",
    ]
    assert "hola número 3" in train["text"].values()
    for utt, entry in train["wav.scp"].items():
        assert entry.endswith(".mp3") and soundfile.read(entry)[0].size > 0
        assert train["tgt_wav.scp"][utt].endswith(".mp3.wav")
    assert not (tmp_path / "train" / "label").exists()  # target units: a later stage
    sets = [speakers(tmp_path / s) for s in ("train", "dev", "test")]
    assert all(a.isdisjoint(b) for i, a in enumerate(sets) for b in sets[i + 1 :])


# ---- Fisher Spanish -> English --------------------------------------------------------------

TDF_HEADER = (
    "file;unicode\tchannel;int\tstart;float\tend;float\tspeaker;unicode\tspeakerType;unicode\t"
    "speakerDialect;unicode\ttranscript;unicode\tsection;int\tturn;int\tsegment;int\n"
    ";;MM sectionTypes\t[None, None]\n;;MM sectionBoundaries\t[0.0, 9999.0]\n"
)


@pytest.fixture(scope="module")
def fisher(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("fisher")
    convs = {"train": "20051009_182032_217_fsp", "dev": "20051017_180712_270_fsp"}
    trans = base / "fisher-callhome-corpus"
    (trans / "mapping").mkdir(parents=True)
    (trans / "corpus" / "ldc").mkdir(parents=True)
    for name, conv in convs.items():
        speech = base / "LDC2010S01" / "data" / "speech" / f"{conv}.sph"
        speech.parent.mkdir(parents=True, exist_ok=True)
        speech.write_bytes(b"NIST_1A\n   1024\n")  # not read by the data preparation
        rows = [(0, 1.5, 2.75, "hola"), (0, 2.8, 3.9, "qué tal"), (1, 4.0, 5.25, "bien")]
        tdf = base / "LDC2010T04" / "fisher_spa_tr" / "data" / "transcripts" / f"{conv}.tdf"
        tdf.parent.mkdir(parents=True, exist_ok=True)
        body = "".join(
            f"{conv}.sph\t{c}\t{s}\t{e}\tspk\tstype\tdialect\t{t}\t0\t0\t{i}\n"
            for i, (c, s, e, t) in enumerate(rows)
        )
        tdf.write_text(TDF_HEADER + body)
        (trans / "mapping" / f"fisher_{name}").write_text(f"{conv} 1_2\n{conv} 3\n")
        if name == "train":
            (trans / "corpus" / "ldc" / "fisher_train.en").write_text("hi how are you\nfine\n")
        else:
            for k in range(4):
                path = trans / "corpus" / "ldc" / f"fisher_dev.en.{k}"
                path.write_text(f"hello how are you {k}\r\ngood {k}\r\n")
    return {"FISHER": base, "FISHER_TRANSLATIONS": trans}


def write_fake_tts(path: Path) -> Path:
    path.write_text(
        "command: [python3, -c, 'import sys, numpy, soundfile; "
        "soundfile.write(sys.argv[1], numpy.zeros(800) + len(sys.stdin.read()) / 1e3, 16000)',"
        " '{wav}']\n"
    )
    return path


def test_fisher(fisher, tmp_path):
    conf = write_fake_tts(tmp_path / "tts.yaml")
    data = tmp_path / "data"
    out = data_sh("fisher_callhome_spanish", data, "--sets", "train dev", "--tts_conf", str(conf),
                  **fisher)  # fmt: skip
    assert out.returncode == 0, out.stderr
    train = check_dir(
        data / "fisher_train", 2, ("wav.scp", "tgt_wav.scp", "text", "tgt_text", "utt2spk")
    )
    dev = check_dir(
        data / "fisher_dev", 2, ("wav.scp", "utt2spk", *[f"tgt_text.{k}" for k in (1, 2, 3)])
    )
    conv = "20051009_182032_217_fsp"
    utt = f"{conv}-A-000150-000390"  # tdf lines 1-2 joined, channel 0 = side A
    assert train["text"][utt] == "hola qué tal" and train["tgt_text"][utt] == "hi how are you"
    sph = fisher["FISHER"] / "LDC2010S01" / "data" / "speech" / f"{conv}.sph"
    assert train["wav.scp"][utt] == f"sph2pipe -f wav -p -c 1 -t 1.50:3.90 {sph} |"
    assert f"{conv}-B-000400-000525" in train["wav.scp"]  # channel 1 -> -c 2
    assert "-c 2 -t 4.00:5.25" in train["wav.scp"][f"{conv}-B-000400-000525"]
    assert sorted(table(data / "fisher_dev" / "tgt_text.3").values()) == [
        "good 3",
        "hello how are you 3",
    ]
    assert all(soundfile.info(p).frames == 800 for p in train["tgt_wav.scp"].values())
    assert set(table(data / "fisher_train" / "utt2spk").values()).isdisjoint(
        table(data / "fisher_dev" / "utt2spk").values()
    )
    assert dev


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
def test_fisher_default_tts_is_espeak(fisher, tmp_path):
    out = data_sh("fisher_callhome_spanish", tmp_path, "--sets", "train", **fisher)
    assert out.returncode == 0, out.stderr
    for path in table(tmp_path / "fisher_train" / "tgt_wav.scp").values():
        info = soundfile.info(path)
        assert info.samplerate == 22050 and info.frames > 2000


# ---- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "recipe, variable",
    [("speechcommands", "SPEECHCOMMANDS"), ("fsc", "FSC"), ("librispeech_100", "LIBRISPEECH"),
     ("snips", "SNIPS"), ("covost2", "COMMONVOICE"), ("fisher_callhome_spanish", "FISHER"),
     ("ljspeech", "LJSPEECH"), ("vctk", "VCTK")],
)  # fmt: skip
def test_missing_corpus_names_the_db_sh_variable(recipe, variable, tmp_path):
    out = data_sh(recipe, tmp_path / "data")
    assert out.returncode == 1
    assert out.stderr.strip().splitlines()[-1].startswith(f"error: {variable} is not set: set ")
    assert "db.sh" in out.stderr and "Traceback" not in out.stderr
    out = data_sh(recipe, tmp_path / "data", **{variable: tmp_path / "nowhere",
                                                 "SPEECHCOMMANDS_TEST": tmp_path})  # fmt: skip
    assert (
        out.returncode == 1 and f"error: {variable}={tmp_path / 'nowhere'}: no such" in out.stderr
    )


def test_bad_corpus_file_is_one_line(fsc, tmp_path):
    broken = tmp_path / "fsc"
    shutil.copytree(fsc, broken)
    (broken / "data" / "valid_data.csv").write_text(",path,speakerId\n0,x.wav,A\n")
    out = data_sh("fsc", tmp_path / "data", FSC=broken)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert "valid_data.csv: no column(s) transcription, action, object, location" in out.stderr


def test_unknown_option_is_rejected(tmp_path):
    out = data_sh("fsc", tmp_path, "--nshot", "3")
    assert out.returncode == 1 and "unknown option --nshot" in out.stderr


# ---- labels and the few-shot sampler --------------------------------------------------------


def test_char_labels_round_trip():
    assert to_char_label("HI  THERE") == "H I | T H E R E"
    label = to_char_label("GO B-x HOME E-x", keep={"B-x", "E-x"})
    assert label == "G O | B-x | H O M E | E-x"
    assert label_to_text(label) == "GO B-x HOME E-x"
    assert label_to_text("G O B-x | |") == "GO B-x"  # a tag without boundaries is still a word


def test_n_shot_is_balanced_seeded_and_order_preserving():
    items = [(f"u{i:03d}", f"c{i % 3}") for i in range(60)] + [("v", "rare")]
    pick = sample_n_shot(items, 4, seed=7, class_of=lambda x: x[1])
    counts = {c: sum(1 for _, k in pick if k == c) for c in ("c0", "c1", "c2", "rare")}
    assert counts == {"c0": 4, "c1": 4, "c2": 4, "rare": 1}
    assert pick == sorted(pick)  # input order
    assert pick == sample_n_shot(items, 4, seed=7, class_of=lambda x: x[1])
    assert pick != sample_n_shot(items, 4, seed=8, class_of=lambda x: x[1])
    # a class's draw does not depend on the other classes
    only_c0 = [x for x in items if x[1] == "c0"]
    assert [x for x in pick if x[1] == "c0"] == sample_n_shot(only_c0, 4, 7, lambda x: x[1])
    with pytest.raises(DataPrepError, match="--n_shot must be a positive integer"):
        sample_n_shot(items, 0, 0, lambda x: x[1])
