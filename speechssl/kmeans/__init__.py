"""HuBERT labels: streaming k-means fit, nearest-centroid assignment, label dirs, label quality.

``labels.read_labels(label_dir, data_dir)`` is what pre-training calls.
"""
