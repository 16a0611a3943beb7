"""Model loading shared by every stage: the base model (alias, Hugging Face id or local path), trained
artifacts (:mod:`tailorlm.models.trained`), and the one device/dtype decision (:mod:`tailorlm.models.precision`)."""

from .loader import LoadedModel, load_base, load_tokenizer, resolve_base
from .precision import select_device

__all__ = ["LoadedModel", "load_base", "load_tokenizer", "resolve_base", "select_device"]
