"""The error family every layer translates into its own answers.

Each error carries a `code` (the GraphQL / REST error class of the contract) and a
stable machine `rule` name, plus a message in plain words naming the values.
"""

from __future__ import annotations


class LinkageError(Exception):
    """Base of every refusal the domain gives."""

    code = "RULE_VIOLATION"

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule
        self.message = message

    def __str__(self) -> str:
        return f"{self.rule}: {self.message}"


class RuleViolationError(LinkageError):
    """The command is well formed but breaks a rule of the procedure."""

    code = "RULE_VIOLATION"


class BadInputError(LinkageError):
    """A value is missing, blank, too long or of the wrong form."""

    code = "BAD_INPUT"


class ForbiddenError(LinkageError):
    """The actor's role or unit may not do this."""

    code = "FORBIDDEN"


class NotFoundError(LinkageError):
    """A topic, unit, task or meeting that does not exist."""

    code = "NOT_FOUND"


class ConflictError(LinkageError):
    """Another command changed the topic first (optimistic concurrency)."""

    code = "CONFLICT"
