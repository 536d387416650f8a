"""CTC fine-tuning: the run config (``config.py``) and the job (``job.py``: ``run_finetune``)."""

from speechssl.finetune.config import (
    FinetuneConfig,
    FinetuneDataConfig,
    load_finetune_config,
    load_finetuned,
)

__all__ = ["FinetuneConfig", "FinetuneDataConfig", "load_finetune_config", "load_finetuned"]
