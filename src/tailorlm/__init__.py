"""tailorlm: turn a general pretrained LLM into a governed specialist for one domain."""

__version__ = "0.1.0"
