r"""Share a packed task on the Hugging Face Hub (the recipes' last stage).

    python -m espnet2_speechprompt.bin.speechprompt_upload \
        --packed exp/speechprompt_train/speechprompt_train_valid.acc.best.zip \
        --hf_repo <org>/<name> [--dry_run]

Unpacks the archive into a staging folder with a model card (README.md) and uploads the folder;
``--dry_run`` only prepares the folder. Needs a Hub token (``huggingface-cli login``).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import yaml

from ..errors import SpeechPromptError
from .cli_errors import exit_on_user_error

CARD = """---
tags: [espnet, audio, speechprompt, prompt-tuning]
library_name: espnet
license: cc-by-4.0
---
# SpeechPrompt task: {repo}

Prompts and verbalizer for a **frozen** speech LM (backbone: `{backbone}`), trained with
espnet2_speechprompt. This repository holds
only the trainable state ({size} bytes); download the backbone yourself and check it against
`backbone.yaml` (file names and sha256).

```python
from espnet2_speechprompt.api import SpeechPrompt
task = SpeechPrompt.from_pretrained("{repo}", backbone_conf={{"checkpoint": "<checkpoint_best.pt>"}})
label, score, ids = task(units=[...])  # or task(speech=wav)
```

Labels: {labels}

{results}
"""


def stage_folder(packed: str, repo: str, folder: Path) -> Path:
    """``folder``: the checked contents of ``packed`` and a model card (README.md)."""
    from ..api.unpacking import extract_package

    if not Path(packed).is_file():
        raise SpeechPromptError(f"{packed}: no such package (run the pack stage first)")
    extract_package(packed, folder)
    config = yaml.safe_load((folder / "config.yaml").read_text())
    results = folder / "RESULTS.md"
    card = CARD.format(
        repo=repo,
        backbone=config["backbone"],
        size=os.path.getsize(folder / "speechprompt.safetensors"),
        labels=", ".join(map(str, config["label_list"][:50])),
        results=results.read_text() if results.exists() else "",
    )
    (folder / "README.md").write_text(card)
    return folder


def main(cmd: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packed", required=True)
    parser.add_argument("--hf_repo", required=True)
    parser.add_argument("--folder", help="staging folder (default: next to the archive)")
    parser.add_argument("--dry_run", action="store_true")
    args = parser.parse_args(cmd)
    with exit_on_user_error():
        default = Path(args.packed).with_name("hf_" + args.hf_repo.replace("/", "_"))
        folder = stage_folder(args.packed, args.hf_repo, Path(args.folder or default))
    if args.dry_run:
        print(f"prepared {folder} (dry run: nothing uploaded)")
        return
    from huggingface_hub import HfApi

    api = HfApi()
    api.create_repo(args.hf_repo, exist_ok=True)
    api.upload_folder(repo_id=args.hf_repo, folder_path=folder)
    print(f"uploaded {folder} to https://huggingface.co/{args.hf_repo}")


if __name__ == "__main__":
    main()
