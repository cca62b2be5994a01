"""Which DynamoDB errors are "the database did not answer" (503, retry later) and which are a refusal (a bug)."""

from __future__ import annotations

import pytest
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    EndpointConnectionError,
    ParamValidationError,
    ReadTimeoutError,
)
from pynamodb.exceptions import GetError

from mini_program_api.db.transact import unavailable


def _client_error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}}, "GetItem")


@pytest.mark.parametrize(
    ("cause", "expected"),
    [
        (ReadTimeoutError(endpoint_url="http://127.0.0.1"), True),
        (ConnectionClosedError(endpoint_url="http://127.0.0.1"), True),
        (EndpointConnectionError(endpoint_url="http://127.0.0.1"), True),
        (_client_error("ProvisionedThroughputExceededException"), True),
        (_client_error("TransactionConflictException"), True),
        (_client_error("ValidationException"), False),
        (_client_error("ConditionalCheckFailedException"), False),
        (ParamValidationError(report="Invalid length for parameter Key"), False),  # botocore refused it: a bug
    ],
)
def test_only_no_answer_is_unavailable(cause: Exception, expected: bool) -> None:
    assert unavailable(GetError("Failed to get item", cause)) is expected


def test_an_error_of_our_own_is_not_unavailable() -> None:
    assert unavailable(ValueError("no")) is False
