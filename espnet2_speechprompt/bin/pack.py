r"""Pack a trained task for sharing: config + prompt-only safetensors + label list + RESULTS.md
(+ images) + the backbone's file names and sha256 (no backbone weights).

    python -m espnet2_speechprompt.bin.pack --train_config exp/speechprompt_train/config.yaml \
        --model_file exp/speechprompt_train/valid.acc.best.pth \
        --results exp/speechprompt_train/RESULTS.md --images exp/speechprompt_train/images \
        --outpath exp/speechprompt_train/speechprompt_train_valid.acc.best.zip
"""

from __future__ import annotations

import argparse

from .cli_errors import exit_on_user_error


def main(cmd: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train_config", required=True)
    parser.add_argument("--model_file", required=True)
    parser.add_argument("--results")
    parser.add_argument("--images")
    parser.add_argument("--outpath", required=True)
    parser.add_argument(
        "--task_name", help="the task's name when several tasks are served together"
    )
    args = parser.parse_args(cmd)
    from ..api.packing import pack

    with exit_on_user_error():
        out = pack(
            args.train_config, args.model_file, args.outpath, args.results, args.images,
            args.task_name,
        )  # fmt: skip
    print(f"packed: {out}")


if __name__ == "__main__":
    main()
