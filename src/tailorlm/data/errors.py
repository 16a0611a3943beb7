"""Error types and per-record error codes of the data stage.

A file-level problem a user must fix before anything can run (a binary file, an encoding that
cannot be detected, too few valid records) raises :class:`DataError`. A problem with one record
never stops the run: the record goes to ``quarantine.jsonl`` with one of the :data:`CODES` below,
and the counts in the manifest account for it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from ..errors import UserError


class DataError(UserError):
    """A problem with the data a user can fix; the message names the file/record and the fix."""


# Error code -> what it means (shown in the card's quarantine table and in docs/data.md).
CODES: dict[str, str] = {
    "unparsable": "the line is not valid JSON (or the row could not be read)",
    "not_an_object": "the record is not a JSON object",
    "ragged_row": "the CSV/TSV row has a different number of fields than the header",
    "bad_encoding": "the line contains bytes that are not valid in the file's encoding",
    "unknown_format": "the record's keys match no known record format",
    "missing_field": "a required field is absent",
    "non_string_field": "a field that must be text is not a string",
    "empty_field": "a required field (assistant turn, label, text) is empty",
    "unknown_role": "a chat message has a role other than system/user/assistant",
    "bad_role_order": "chat turns do not alternate user/assistant or do not end with the assistant",
    "identical_pair": "a preference pair has chosen == rejected",
    "unknown_label": "the label is not one of objective.labels",
    "too_long": "its own part (turns and answer, chat template applied; the shared instruction and label list are not counted) is longer than data.max_seq_len tokens",
}


@dataclass(frozen=True)
class RecordIssue:
    """Why one record was quarantined (one line of ``quarantine.jsonl``)."""

    source: str
    line: int
    id: str
    code: str
    message: str

    def to_dict(self) -> dict:
        return asdict(self)


class RecordProblem(ValueError):
    """Raised by the per-record converters; turned into a quarantine entry by the caller."""

    def __init__(self, code: str, message: str):
        assert code in CODES, code
        super().__init__(message)
        self.code = code
        self.message = message
