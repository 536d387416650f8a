"""Feature dumps for HuBERT labels: MFCC (100 Hz) or a pre-trained layer (50 Hz), in shards.

See ``shards`` for the on-disk format, ``dump.dump_shard`` for the driver.
"""
