"""The one base for errors a person can act on.

It lives in ``analysis`` because that is the bottom layer: every other package may import it.
Each error names the thing that is wrong (a file, a field, a device) and says what to do, so the
GUI can show it as a sentence and the CLI can print it and exit non-zero instead of a traceback.
"""

from __future__ import annotations


class MidstanceError(Exception):
    """An error with a subject (file, field, device), what is wrong, and what to do about it."""

    exit_code: int = 2

    def __init__(self, problem: str, *, subject: str = "", remedy: str = "") -> None:
        self.problem = problem
        self.subject = subject
        self.remedy = remedy
        super().__init__(self.sentence())

    def sentence(self) -> str:
        """The whole message as one readable sentence (subject: problem. remedy)."""
        text = f"{self.subject}: {self.problem}" if self.subject else self.problem
        if self.remedy:
            text = f"{text.rstrip('.')}. {self.remedy}"
        return text


class InputError(MidstanceError):
    """Bad input: a file, a setting or a value that cannot be used as given."""


class AnalysisError(MidstanceError):
    """The data cannot support the requested computation (e.g. no stances found)."""
