"""Corpus preparation, one sub-package per corpus, each ending in Kaldi data dirs (``speechssl.data``):

- ``mini``: the offline synthetic mini corpus (CLI: ``speechssl data synth``; ``run.sh`` stage 1).
- ``librispeech``: LibriSpeech / Libri-light downloads, data dirs, manifests, the official LM and
  Libri-light's unlabelled audio in chunks (CLI: ``speechssl librispeech``; ``recipes/librispeech/run.sh``).
"""
