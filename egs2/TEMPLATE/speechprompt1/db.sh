# shellcheck shell=bash disable=SC2034  # (SC2034: the variables are used by local/data.sh)
# Where the corpora are on this machine. Empty means "not available here": a recipe's
# local/data.sh then says what to download and which variable to set. A value already in the
# environment wins. Relative paths are relative to the recipe dir.
SPEECHCOMMANDS=${SPEECHCOMMANDS:-}            # speech_commands_v0.01.tar.gz, extracted
SPEECHCOMMANDS_TEST=${SPEECHCOMMANDS_TEST:-}  # speech_commands_test_set_v0.01.tar.gz, extracted
FSC=${FSC:-}                        # Fluent Speech Commands (fluent_speech_commands_dataset)
LIBRISPEECH=${LIBRISPEECH:-}        # LibriSpeech (the dir holding LibriSpeech/ or it itself)
LJSPEECH=${LJSPEECH:-}              # LJSpeech 1.1 (the dir holding LJSpeech-1.1/ or it itself)
VCTK=${VCTK:-}                      # CSTR VCTK 0.92 (the dir holding VCTK-Corpus-0.92/ or it)
SNIPS=${SNIPS:-}                    # Audio SNIPS (SUPERB SF; audio_slu_v3's SNIPS dir), NOT
                                    # the SNIPS SmartLights corpus of ESPnet's egs2/snips
COMMONVOICE=${COMMONVOICE:-}        # Common Voice v4 Spanish (clips/, validated.tsv)
COVOST2=${COVOST2:-}                # CoVoST 2 (the dir holding covost_v2.es_en.tsv)
CVSS=${CVSS:-}                      # CVSS-C (or -T) es_en (train.tsv, train/*.mp3.wav, ...)
FISHER=${FISHER:-}                  # Fisher Spanish: holds LDC2010S01 (speech), LDC2010T04
FISHER_TRANSLATIONS=${FISHER_TRANSLATIONS:-}  # LDC2014T23 / fisher-callhome-corpus (mapping/)
CALLHOME=${CALLHOME:-}              # CALLHOME Spanish (LDC96S35; not used by the recipes yet)
# the in-context learning tasks (egs2/icl; each recipe's README says where to get them)
SPEECHCOMMANDS_V2=${SPEECHCOMMANDS_V2:-}      # speech_commands_v0.02.tar.gz, extracted
LT_SPEECHCOMMANDS=${LT_SPEECHCOMMANDS:-}      # clone of github.com/kolesov93/lt_speech_commands
AR_SPEECHCOMMANDS=${AR_SPEECHCOMMANDS:-}      # clone of github.com/ltkbenamer/AR_Speech_Database
DM_SPEECHCOMMANDS=${DM_SPEECHCOMMANDS:-}      # Dysarthric Mandarin SC (dysarthria_zh_command)
SCR_SPLIT_LISTS=${SCR_SPLIT_LISTS:-}          # optional: github.com/dodohow1011/SpeechAdvReprogram
                                              # clone (its Datasets/{LT,AR,DM}-SCR split lists)
VOXFORGE=${VOXFORGE:-}              # voxforge_urls.txt archives (wget -x), extracted in place
IEMOCAP=${IEMOCAP:-}                # IEMOCAP_full_release
MUSTARD=${MUSTARD:-}                # clone of github.com/soujanyaporia/MUStARD
MUSTARD_VIDEOS=${MUSTARD_VIDEOS:-}  # mmsd_raw_data/utterances_final (the <id>.mp4 clips)
# pretrained models fetched by tools/download_pretrained.sh (its default --dest)
PRETRAINED=${PRETRAINED:-../../../downloads/pretrained}
# the mini corpus that egs2/mini_speechcommands synthesizes itself (espeak-ng)
MINI_SPEECHCOMMANDS=${MINI_SPEECHCOMMANDS:-downloads/mini_speechcommands}
# the multi-task corpus that egs2/mini_icl synthesizes itself (espeak-ng)
MINI_ICL=${MINI_ICL:-downloads/mini_icl}
# the sentence corpus that egs2/mini_speechgen synthesizes itself (espeak-ng)
MINI_SPEECHGEN=${MINI_SPEECHGEN:-downloads/mini_speechgen}
