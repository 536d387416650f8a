"""Language models for decoding: KenLM n-grams built with ``lmplz`` and word lexicons.

``build.build_lm`` runs the KenLM binaries; ``lexicon`` spells words in CTC output units.
"""
