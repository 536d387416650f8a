"""The 39 CMUdict phones + SIL, and the folding of synthesiser phones onto them."""

import pytest

from speechssl.text.arpabet import ALIGNMENT_PHONES, PHONE_INDEX, PHONES, strip_stress, to_arpabet39

# flite's and festival's radio phone set (festival/radio_phones.scm), every one of them
RADIO_PHONES = (
    "aa ae ah ao aw ax axr ay b ch d dh dx eh el em en er ey f g hh hv ih iy jh k l m n nx ng ow "
    "oy p r s sh t th uh uw v w y z zh pau h# brth"
).split()


def test_inventory():
    assert len(PHONES) == 39 and len(ALIGNMENT_PHONES) == 40 and ALIGNMENT_PHONES[-1] == "SIL"
    assert [PHONE_INDEX[p] for p in ALIGNMENT_PHONES] == list(range(40))


def test_every_radio_phone_folds():
    folded = {p: to_arpabet39(p) for p in RADIO_PHONES}
    assert set(folded.values()) <= set(ALIGNMENT_PHONES)
    assert (folded["ax"], folded["axr"], folded["dx"], folded["el"], folded["nx"]) == (
        "AH", "ER", "D", "L", "N",
    )  # fmt: skip
    assert folded["pau"] == folded["h#"] == folded["brth"] == "SIL"
    assert folded["zh"] == "ZH" and folded["hv"] == "HH"


def test_stress_and_unknown_phones():
    assert strip_stress("AH0") == "AH" and to_arpabet39(" ey1 ") == "EY"
    with pytest.raises(ValueError, match="phone 'qq' is not an ARPAbet phone"):
        to_arpabet39("qq")
