"""Data: the mini corpus synthesiser, data-dir validation, datasets, batching."""
