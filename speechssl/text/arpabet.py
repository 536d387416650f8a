"""The phone inventory of the probes and alignments: CMUdict's 39 ARPAbet phones without stress.

Synthesisers print their own phone sets (flite and festival: lower-case radio phones with schwa
``ax``, flaps ``dx``, syllabic ``el``/``em``/``en``, pauses ``pau``, breaths ``brth``);
``to_arpabet39`` folds them onto the 39 phones, pauses and breaths onto ``SIL``.
"""

from __future__ import annotations

# CMUdict's phone set (stress digits removed), in its documented order.
PHONES: tuple[str, ...] = (
    "AA", "AE", "AH", "AO", "AW", "AY", "B", "CH", "D", "DH", "EH", "ER", "EY", "F", "G", "HH",
    "IH", "IY", "JH", "K", "L", "M", "N", "NG", "OW", "OY", "P", "R", "S", "SH", "T", "TH", "UH",
    "UW", "V", "W", "Y", "Z", "ZH",
)  # fmt: skip
SILENCE = "SIL"
# Frame-level alignments use the 39 phones plus silence; CTC targets use the 39 phones only.
ALIGNMENT_PHONES: tuple[str, ...] = PHONES + (SILENCE,)
PHONE_INDEX = {phone: index for index, phone in enumerate(ALIGNMENT_PHONES)}

# Synthesiser phones outside the 39, folded as TIMIT's 61 -> 39 folding does.
_FOLDED = {
    "AX": "AH", "AXR": "ER", "IX": "IH", "UX": "UW", "EL": "L", "EM": "M", "EN": "N", "NX": "N",
    "DX": "D", "HV": "HH", "AXH": "AH", "ENG": "NG",
    "PAU": SILENCE, "H#": SILENCE, "SIL": SILENCE, "SP": SILENCE, "_": SILENCE, "#": SILENCE,
    "BRTH": SILENCE,  # flite's and festival's radio phone set: an inserted breath, no phone
}  # fmt: skip


def strip_stress(phone: str) -> str:
    """``AH0`` -> ``AH``: CMUdict marks vowel stress with a trailing digit."""
    return phone.rstrip("012")


def to_arpabet39(phone: str) -> str:
    """One synthesiser or CMUdict phone (any case, stress digits allowed) -> one of ALIGNMENT_PHONES.

    Raises:
        ValueError: a phone that neither is one of the 39 nor folds onto one.
    """
    name = strip_stress(phone.strip().upper())
    name = _FOLDED.get(name, name)
    if name not in PHONE_INDEX:
        raise ValueError(f"phone {phone!r} is not an ARPAbet phone and has no folding to one")
    return name
