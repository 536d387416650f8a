"""speechssl: self-supervised speech learning on one backbone.

wav2vec 2.0, HuBERT, data2vec and data2vec 2.0 objectives, CTC fine-tuning, decoding and scoring.
"""

__version__ = "0.1.0"
