r"""Train prompts for a frozen speech LM (ESPnet2 conventions).

    python -m espnet2_speechprompt.bin.speechprompt_train --config conf/train.yaml \
        --label_list data/label_list --backbone_conf checkpoint=.../checkpoint_best.pt \
        --train_data_path_and_name_and_type dump/train/units,units,text_int ...
"""

from __future__ import annotations

from .cli_errors import exit_on_user_error


def get_parser():
    from ..tasks.speechprompt import SpeechPromptTask

    return SpeechPromptTask.get_parser()


def main(cmd: list[str] | None = None) -> None:
    from ..tasks.speechprompt import SpeechPromptTask

    with exit_on_user_error():
        SpeechPromptTask.main(cmd=cmd)


if __name__ == "__main__":
    main()
