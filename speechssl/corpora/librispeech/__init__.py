"""LibriSpeech / Libri-light preparation: verified downloads, Kaldi data dirs, manifests, the 4-gram,
and Libri-light's unlabelled audio cut into training chunks at energy-VAD pauses.

Entry points live in ``speechssl.cli.librispeech``; ``recipes/librispeech/run.sh`` calls them.
"""
