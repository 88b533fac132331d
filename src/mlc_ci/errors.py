"""The one error type users see: a single sentence saying what is wrong and how to fix it."""


class PipelineError(Exception):
    """A problem the user can fix; printed as one line, exit status 2 unless stated."""

    def __init__(self, message: str, exit_code: int = 2) -> None:
        # One line, whatever a value quoted in it holds (a key with a newline, say).
        super().__init__(message.replace("\r", "\\r").replace("\n", "\\n"))
        self.exit_code = exit_code


class StepFailed(PipelineError):
    """A planned step ran and failed; the runner has already shown its output."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message, exit_code)
