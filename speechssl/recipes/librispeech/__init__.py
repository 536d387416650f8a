"""LibriSpeech / Libri-light recipe library: verified downloads, Kaldi data dirs, manifests, the 4-gram.

Entry points live in ``speechssl.cli.librispeech``; ``recipes/librispeech/run.sh`` calls them.
"""
