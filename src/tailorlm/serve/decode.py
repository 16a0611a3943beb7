"""Moved to :mod:`tailorlm.inference.decode` (the engine owns decoding); kept as an import path."""

from ..inference.decode import (Constraint, Decoder, Delta, SamplingParams, TokenLogprob,  # noqa: F401
                                _held_back, is_classifier)
