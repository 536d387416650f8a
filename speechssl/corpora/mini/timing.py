"""Phone timings of the synthesisers, carried into the finished utterance's timeline.

flite prints segment end times (``-psdur``), festival saves its Segment relation
(``utt.save.segs``); espeak-ng gives none without mbrola. See docs/alignments.md.
"""

from __future__ import annotations

from speechssl.data.phones import TIME_DECIMALS, PhoneSegment
from speechssl.text.arpabet import SILENCE, to_arpabet39

# An engine's phones: (its phone name, end time in seconds of its own output audio), in order.
EnginePhones = tuple[tuple[str, float], ...]


def parse_flite_durations(stdout: str, what: str) -> EnginePhones:
    """``pau:0.184 dh:0.236 ...`` (flite ``-psdur``) -> ((``pau``, 0.184), (``dh``, 0.236), ...)."""
    phones = []
    for field in stdout.split():
        name, _, end = field.rpartition(":")
        try:
            phones.append((name, float(end)))
        except ValueError:
            raise ValueError(f"{what}: flite -psdur printed '{field}', not PHONE:END") from None
    if not phones or not all(name for name, _ in phones):
        raise ValueError(f"{what}: flite -psdur printed no phone timings")
    return tuple(phones)


def parse_festival_segs(text: str, what: str) -> EnginePhones:
    """festival's ``utt.save.segs`` file (xlabel: header, ``#``, then ``END COLOUR NAME`` lines)."""
    lines = text.splitlines()
    body = lines[lines.index("#") + 1 :] if "#" in lines else []
    phones = []
    for line in body:
        fields = line.split()
        if not fields:
            continue
        try:
            phones.append((fields[-1], float(fields[0])))
        except (ValueError, IndexError):
            message = f"{what}: festival segment line '{line}' is not END COLOUR NAME"
            raise ValueError(message) from None
    if not phones:
        raise ValueError(f"{what}: festival saved no segments")
    return tuple(phones)


def corpus_alignment(
    engine_phones: EnginePhones,
    engine_seconds: float,
    time_scale: float,
    lead_seconds: float,
    total_seconds: float,
) -> list[PhoneSegment]:
    """Phone segments in the finished utterance's timeline.

    An engine time ``t`` lands at ``lead_seconds + t * time_scale``: the leading silence padding
    comes first, and the vocal-tract resampling scales time (the engine's speaking rate is already
    in its own times). Engine times past its audio (diphone voices cut the last pause short) are
    clipped to ``engine_seconds``; after the speech, reverberation tail and trailing padding are
    silence up to ``total_seconds``. Phones fold onto ALIGNMENT_PHONES, runs of silence merge,
    boundaries are rounded to milliseconds and segments left empty by rounding are dropped.

    Raises:
        ValueError: a phone without a folding onto the 39 phones (extend speechssl.text.arpabet).
    """
    boundaries = [(SILENCE, lead_seconds)]
    previous = 0.0
    for name, end in engine_phones:
        end = min(max(end, previous), engine_seconds)
        previous = end
        boundaries.append((to_arpabet39(name), lead_seconds + end * time_scale))
    boundaries.append((SILENCE, total_seconds))
    segments: list[PhoneSegment] = []
    start = 0.0
    for phone, end in boundaries:
        end = round(min(end, total_seconds), TIME_DECIMALS)
        if end <= start:
            continue
        if segments and phone == SILENCE and segments[-1].phone == SILENCE:
            start = segments.pop().start
        segments.append(PhoneSegment(phone, start, end))
        start = end
    return segments

