"""Serving: an OpenAI-compatible API for every registered version, with keys, limits and a request log.

* :mod:`.app` the FastAPI application (``build_app``); :mod:`.server` runs it (``tailorlm serve``)
* :mod:`.routes` chat and text completions; :mod:`.protocol` the request bodies; :mod:`.responses`
* :mod:`.catalog` which models exist (registry references) and their prompt recipes
* :mod:`.engine` the ``Engine`` seam (today one job at a time); :mod:`.decode` one request's decoding
* :mod:`.structured` ``response_format`` enforcement (lm-format-enforcer)
* :mod:`.keys` argon2-hashed API keys; :mod:`.limits` rpm/tpm; :mod:`.requestlog`; :mod:`.tables`
* :mod:`.chat` the terminal client behind ``tailorlm chat``
"""
