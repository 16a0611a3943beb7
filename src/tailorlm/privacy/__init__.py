"""PII detection and redaction, shared by every stage that sees text a person wrote.

The data stage scrubs training records with it (``data.pii``), evaluation's compliance checks scan
answers with it, and the server's request log redacts requests with it. :class:`~tailorlm.privacy.pii.Scrubber`
is the entry point (Presidio + a packaged spaCy NER + the recognizers in ``pii_*.py``); the modules
import nothing from any stage package.
"""
