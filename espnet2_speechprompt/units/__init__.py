"""Speech → discrete units: feature readers (MFCC, native HuBERT), k-means, dedup.

Modules: ``audio`` (wav.scp, 16 kHz mono contract), ``features`` (FeatureReader, MfccReader,
HubertReader), ``hubert`` (fairseq-faithful HuBERT encoder and loader), ``kmeans`` (safe
loading of released k-means files, assignment, learning), ``dedup``, ``datadir`` (job slices,
atomic outputs), ``errors``.
"""
