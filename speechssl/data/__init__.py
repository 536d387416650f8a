"""Data shared by every corpus: data-dir validation and fixing, phone tables, datasets, batching, augmentation."""
