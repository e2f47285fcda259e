r"""Warm up prompts for in-context learning on episodes of training tasks (ESPnet2 conventions).

    python -m espnet2_speechprompt.bin.icl_train --config conf/train_icl.yaml \
        --backbone_conf checkpoint=.../checkpoint_best.pt \
        --train_data_path_and_name_and_type dump/icl_episodes/train/episode,episode,text_int \
        --train_data_path_and_name_and_type dump/icl_episodes/train/target,target,text_int ...
"""

from __future__ import annotations

from .cli_errors import exit_on_user_error


def get_parser():
    from ..tasks.icl import SpeechPromptICLTask

    return SpeechPromptICLTask.get_parser()


def main(cmd: list[str] | None = None) -> None:
    from ..tasks.icl import SpeechPromptICLTask

    with exit_on_user_error():
        SpeechPromptICLTask.main(cmd=cmd)


if __name__ == "__main__":
    main()
