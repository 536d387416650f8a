"""Two-way parameter-name tables between our Backbone and another toolkit's layout.

A table is a list of (our template, their template); ``{i}`` is a layer index, ``{p}`` weight/bias.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch

_PLACEHOLDERS = {"i": r"(?P<i>\d+)", "p": r"(?P<p>weight|bias)"}


def _compile(template: str) -> re.Pattern:
    pattern = re.escape(template)
    for name, group in _PLACEHOLDERS.items():
        pattern = pattern.replace(re.escape("{" + name + "}"), group)
    return re.compile(pattern + "$")


@dataclass
class Mapped:
    """Result of renaming a state dict: the renamed tensors and the keys no entry matched."""

    state: dict[str, torch.Tensor]
    unmatched: list[str]


class KeyTable:
    """Renames state-dict keys both ways; ``ours -> theirs`` via ``export``, back via ``import_``."""

    def __init__(self, pairs: list[tuple[str, str]]):
        self.pairs = [(ours, theirs, _compile(ours), _compile(theirs)) for ours, theirs in pairs]

    @staticmethod
    def _rename(state: dict[str, torch.Tensor], rules: list[tuple[re.Pattern, str]]) -> Mapped:
        renamed: dict[str, torch.Tensor] = {}
        unmatched = []
        for key, value in state.items():
            for pattern, template in rules:
                match = pattern.match(key)
                if match:
                    renamed[template.format(**match.groupdict())] = value
                    break
            else:
                unmatched.append(key)
        return Mapped(renamed, unmatched)

    def export(self, state: dict[str, torch.Tensor]) -> Mapped:
        """Our names -> their names."""
        return self._rename(state, [(ours_re, theirs) for _, theirs, ours_re, _ in self.pairs])

    def import_(self, state: dict[str, torch.Tensor]) -> Mapped:
        """Their names -> our names."""
        return self._rename(state, [(theirs_re, ours) for ours, _, _, theirs_re in self.pairs])


def strip_prefix(state: dict[str, torch.Tensor], prefixes: tuple[str, ...]) -> dict[str, torch.Tensor]:
    """Drop the first of ``prefixes`` that starts a key (e.g. ``wav2vec2.`` of a CTC checkpoint)."""
    out = {}
    for key, value in state.items():
        for prefix in prefixes:
            if key.startswith(prefix):
                key = key[len(prefix) :]
                break
        out[key] = value
    return out


# Names shared by Hugging Face and torchaudio (torchaudio nests some under ``encoder.``).
TRANSFORMER_PAIRS = [
    ("encoder.layer_norm.{p}", "encoder.layer_norm.{p}"),
    ("encoder.layers.{i}.attention.q_proj.{p}", "encoder.layers.{i}.attention.q_proj.{p}"),
    ("encoder.layers.{i}.attention.k_proj.{p}", "encoder.layers.{i}.attention.k_proj.{p}"),
    ("encoder.layers.{i}.attention.v_proj.{p}", "encoder.layers.{i}.attention.v_proj.{p}"),
    ("encoder.layers.{i}.attention.out_proj.{p}", "encoder.layers.{i}.attention.out_proj.{p}"),
    ("encoder.layers.{i}.attention_norm.{p}", "encoder.layers.{i}.layer_norm.{p}"),
    ("encoder.layers.{i}.ffn.fc1.{p}", "encoder.layers.{i}.feed_forward.intermediate_dense.{p}"),
    ("encoder.layers.{i}.ffn.fc2.{p}", "encoder.layers.{i}.feed_forward.output_dense.{p}"),
    ("encoder.layers.{i}.final_norm.{p}", "encoder.layers.{i}.final_layer_norm.{p}"),
]
FEATURE_PAIRS = [
    ("feature_encoder.layers.{i}.conv.{p}", "feature_extractor.conv_layers.{i}.conv.{p}"),
    ("feature_encoder.layers.{i}.norm.{p}", "feature_extractor.conv_layers.{i}.layer_norm.{p}"),
    ("feature_norm.{p}", "feature_projection.layer_norm.{p}"),
    ("projection.{p}", "feature_projection.projection.{p}"),
]
WEIGHT_G = "pos_conv.layers.0.conv.parametrizations.weight.original0"
WEIGHT_V = "pos_conv.layers.0.conv.parametrizations.weight.original1"
POS_CONV_BIAS = "pos_conv.layers.0.conv.bias"
STACK_CONV = "pos_conv.layers.{i}.conv.{p}"
