# shellcheck shell=bash disable=SC2034  # (SC2034: the variables are used by local/data.sh)
# Where the corpora are on this machine. Empty means "not available here": a recipe's
# local/data.sh then says what to download and which variable to set. A value already in the
# environment wins. Relative paths are relative to the recipe dir.
SPEECHCOMMANDS=${SPEECHCOMMANDS:-}  # Google Speech Commands v0.01/v0.02 (extracted)
FSC=${FSC:-}                        # Fluent Speech Commands (fluent_speech_commands_dataset)
LIBRISPEECH=${LIBRISPEECH:-}        # LibriSpeech (the dir holding train-clean-100, ...)
SNIPS=${SNIPS:-}                    # SNIPS SmartLights (spoken) corpus
COVOST2=${COVOST2:-}                # CoVoST 2 (with its Common Voice audio)
CVSS=${CVSS:-}                      # CVSS (speech-to-speech translation targets)
FISHER=${FISHER:-}                  # Fisher Spanish (LDC2010S01)
CALLHOME=${CALLHOME:-}              # CALLHOME Spanish (LDC96S35)
# the mini corpus that egs2/mini_speechcommands synthesizes itself (espeak-ng)
MINI_SPEECHCOMMANDS=${MINI_SPEECHCOMMANDS:-downloads/mini_speechcommands}
