"""Text processing: LibriSpeech-style normalisation, tokenizers and lexicons.

``normalize`` turns book prose into upper-case transcripts (A-Z, apostrophe, space).
"""
