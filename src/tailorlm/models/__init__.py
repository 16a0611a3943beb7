"""Base-model loading: alias, Hugging Face id or local path; device and dtype choice."""

from .loader import LoadedModel, load_base, load_tokenizer, resolve_base, select_device

__all__ = ["LoadedModel", "load_base", "load_tokenizer", "resolve_base", "select_device"]
