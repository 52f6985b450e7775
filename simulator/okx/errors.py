"""OKX's error answers: `{"code": "<code>", "msg": "...", "data": []}` with the HTTP status the error-code table
gives the code (200 for most business errors)."""

from __future__ import annotations

from exchanges.okx import HTTP_STATUS, MESSAGES, PARAMETER_EMPTY, PARAMETER_ERROR


class OkxError(Exception):
    """An error answer. Raised anywhere while handling a request; the pipeline turns it into the envelope.
    `data` is what the envelope's `data` holds (order endpoints put each order's sCode and sMsg there)."""

    def __init__(self, code: str, msg: str | None = None, data: list[dict[str, str]] | None = None,
                 status: int | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.msg = MESSAGES.get(code, "") if msg is None else msg
        self.data = data or []
        self.status = HTTP_STATUS.get(code, 200) if status is None else status


def parameter_error(name: str) -> OkxError:
    return OkxError(PARAMETER_ERROR, f"Parameter {name} error")


def parameter_empty(name: str) -> OkxError:
    return OkxError(PARAMETER_EMPTY, f"Parameter {name} can not be empty.")
