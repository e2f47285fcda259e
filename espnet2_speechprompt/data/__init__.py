"""Data preparation of the real corpora (stage 1 of the recipes): one module per corpus, each
writing Kaldi-style dirs ``data/<set>/{wav.scp,label,text,utt2spk,spk2utt,...}`` through the
shared writer in :mod:`.kaldi`; :mod:`.fewshot` draws the ``--n_shot`` training subsets."""
