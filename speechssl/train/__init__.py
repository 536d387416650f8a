"""The one training engine of pre-training and fine-tuning: ``run.run_training`` drives
``trainer.Trainer`` (updates), with ``config``, ``optim``, ``checkpoint``, ``distributed``, ``monitor``.
"""
