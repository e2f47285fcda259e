# shellcheck shell=bash disable=SC2034  # (SC2034: the variables are used by local/data.sh)
# Where the corpora are on this machine. Empty means "not available here": a recipe's
# local/data.sh then says what to download and which variable to set. A value already in the
# environment wins. Relative paths are relative to the recipe dir.
SPEECHCOMMANDS=${SPEECHCOMMANDS:-}            # speech_commands_v0.01.tar.gz, extracted
SPEECHCOMMANDS_TEST=${SPEECHCOMMANDS_TEST:-}  # speech_commands_test_set_v0.01.tar.gz, extracted
FSC=${FSC:-}                        # Fluent Speech Commands (fluent_speech_commands_dataset)
LIBRISPEECH=${LIBRISPEECH:-}        # LibriSpeech (the dir holding LibriSpeech/ or it itself)
SNIPS=${SNIPS:-}                    # Audio SNIPS (SUPERB SF; audio_slu_v3's SNIPS dir), NOT
                                    # the SNIPS SmartLights corpus of ESPnet's egs2/snips
COMMONVOICE=${COMMONVOICE:-}        # Common Voice v4 Spanish (clips/, validated.tsv)
COVOST2=${COVOST2:-}                # CoVoST 2 (the dir holding covost_v2.es_en.tsv)
CVSS=${CVSS:-}                      # CVSS-C (or -T) es_en (train.tsv, train/*.mp3.wav, ...)
FISHER=${FISHER:-}                  # Fisher Spanish: holds LDC2010S01 (speech), LDC2010T04
FISHER_TRANSLATIONS=${FISHER_TRANSLATIONS:-}  # LDC2014T23 / fisher-callhome-corpus (mapping/)
CALLHOME=${CALLHOME:-}              # CALLHOME Spanish (LDC96S35; not used by the recipes yet)
# pretrained models fetched by tools/download_pretrained.sh (its default --dest)
PRETRAINED=${PRETRAINED:-../../../downloads/pretrained}
# the mini corpus that egs2/mini_speechcommands synthesizes itself (espeak-ng)
MINI_SPEECHCOMMANDS=${MINI_SPEECHCOMMANDS:-downloads/mini_speechcommands}
# the multi-task corpus that egs2/mini_icl synthesizes itself (espeak-ng)
MINI_ICL=${MINI_ICL:-downloads/mini_icl}
