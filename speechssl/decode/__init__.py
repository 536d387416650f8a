"""CTC decoding: greedy best path and lexicon beam search with a KenLM n-gram.

``emissions`` computes and caches log-probabilities once; ``tune`` searches LM weight and word score.
"""
