"""Everything the tests (and bench/) build: tiny backbones of each kind in their real release
layouts, tiny corpora, tiny trained or random task packages. Each is seeded.

- ``unit_lm``: GSLM-shaped decoder-only unit LMs (``tiny_decoder``, ``save_random_unit_lm``).
- ``encdec``: Unit-mBART- and Wav2Seq-shaped encoder-decoders and their release writers.
- ``hubert``: tiny HuBERT and fairseq's ``args`` checkpoint layout.
- ``vocoder``: tiny unit HiFi-GAN configs, weights and the released layout.
- ``oracles``: fairseq's own models as references (``needs_fairseq``).
- ``audio``: tones and a Kaldi-style data dir of them.
- ``toy``: the demo's synthetic classification corpus, LM pre-training and prompt tuning.
- ``seq2seq``: a synthetic unit-to-unit corpus, a pre-trained tiny encoder-decoder, tuning.
- ``task_data``: unit/label files + a tiny pre-trained LM on disk, and the task's data options.
- ``random_weights``: seeded random trainable states for a task config.
"""
