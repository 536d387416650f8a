"""File formats shared by every stage: atomic writes, Kaldi data dirs, audio."""
