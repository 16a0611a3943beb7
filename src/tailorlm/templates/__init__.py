"""Project templates used by ``tailorlm init DIR --template NAME`` (example data and configs)."""
