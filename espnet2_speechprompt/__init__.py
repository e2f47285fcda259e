"""espnet2_speechprompt: prompting frozen speech language models, as an ESPnet2 task."""

__version__ = "0.1.0"
