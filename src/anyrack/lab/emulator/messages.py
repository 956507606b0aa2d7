"""Redfish responses: JSON bodies with the service's headers, and error bodies with Base registry messages."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

BASE = "Base.1.8"
ODATA_HEADERS = {"OData-Version": "4.0", "Cache-Control": "no-cache"}

# message id → (message template, resolution); the subset of DMTF's Base registry the emulator uses
_BASE_MESSAGES: dict[str, tuple[str, str]] = {
    "ResourceNotFound": ("The requested resource of type %1 named '%2' was not found.",
                         "Provide a valid resource identifier and resubmit the request."),
    "NoValidSession": ("There is no valid session established with the implementation.",
                       "Establish a session before attempting any operations."),
    "InsufficientPrivilege": ("There are insufficient privileges for the account or credentials associated with "
                              "the current session to perform the requested operation.",
                              "Either abandon the operation or change the associated access rights and resubmit."),
    "PreconditionFailed": ("The ETag supplied did not match the ETag required to change this resource.",
                           "Try the operation again using the appropriate ETag."),
    "PreconditionRequired": ("A precondition header or annotation is required to change this resource.",
                             "Try the operation again using an If-Match or If-None-Match header and appropriate "
                             "ETag."),
    "PropertyUnknown": ("The property %1 is not in the list of valid properties for the resource.",
                        "Remove the unknown property from the request body and resubmit the request."),
    "PropertyNotWritable": ("The property %1 is a read only property and cannot be assigned a value.",
                            "Remove the property from the request body and resubmit the request."),
    "PropertyValueNotInList": ("The value '%1' for the property %2 is not in the list of acceptable values.",
                               "Choose a value from the enumeration list that the implementation can support and "
                               "resubmit the request."),
    "PropertyValueTypeError": ("The value '%1' for the property %2 is of a different type than the property can "
                               "accept.", "Correct the value for the property in the request body and resubmit."),
    "PropertyMissing": ("The property %1 is a required property and must be included in the request.",
                        "Ensure that the property is in the request body and has a valid value and resubmit."),
    "ActionParameterMissing": ("The action %1 requires the parameter %2 to be present in the request body.",
                               "Supply the action with the required parameter in the request body."),
    "ActionParameterNotSupported": ("The parameter %1 for the action %2 is not supported on the target resource.",
                                    "Remove the parameter supplied and resubmit the request."),
    "ActionParameterValueNotInList": ("The value '%1' for the parameter %2 in the action %3 is not in the list of "
                                      "acceptable values.", "Choose a value from the enumeration list and resubmit."),
    "ActionNotSupported": ("The action %1 is not supported by the resource.",
                           "The action supplied cannot be resubmitted to the implementation."),
    "MalformedJSON": ("The request body submitted was malformed JSON and could not be parsed by the receiving "
                      "service.", "Ensure that the request body is valid JSON and resubmit the request."),
    "OperationNotAllowed": ("The HTTP method is not allowed on this resource.",
                            "None."),
    "ResourceAlreadyExists": ("The requested resource of type %1 with the property %2 with the value '%3' already "
                              "exists.", "Do not repeat the create operation as the resource has already been "
                              "created."),
    "ResourceInUse": ("The change to the requested resource failed because the resource is in use or in "
                      "transition.", "Remove the condition and resubmit the request if the operation failed."),
    "SessionLimitExceeded": ("The session establishment failed due to the number of simultaneous sessions "
                             "exceeding the limit of the implementation.",
                             "Reduce the number of other sessions before trying to establish the session or "
                             "increase the limit of simultaneous sessions (if supported)."),
    "ServiceTemporarilyUnavailable": ("The service is temporarily unavailable.  Retry in %1 seconds.",
                                      "Wait for the indicated retry duration and retry the operation."),
    "InternalError": ("The request failed due to an internal service error.  The service is still operational.",
                      "Resubmit the request.  If the problem persists, consider resetting the service."),
    "Success": ("The request completed successfully.", "None"),
    "QueryNotSupported": ("Querying is not supported by the implementation.",
                          "Remove the query parameters and resubmit the request if the operation failed."),
    "QueryParameterValueFormatError": ("The value '%1' for the parameter %2 is of a different format than the "
                                       "parameter can accept.", "Correct the value for the query parameter in the "
                                       "request and resubmit the request if the operation failed."),
}


def message(message_id: str, *args: object) -> dict[str, Any]:
    """One Base registry message object with its arguments filled in."""
    text, resolution = _BASE_MESSAGES[message_id]
    for i, arg in enumerate(args, start=1):
        text = text.replace(f"%{i}", str(arg))
    return {
        "@odata.type": "#Message.v1_1_1.Message",
        "MessageId": f"{BASE}.{message_id}",
        "Message": text,
        "MessageArgs": [str(a) for a in args],
        "Severity": "Critical" if message_id != "Success" else "OK",
        "MessageSeverity": "Critical" if message_id != "Success" else "OK",
        "Resolution": resolution,
    }


def json_response(doc: Any, status: int = 200, headers: dict[str, str] | None = None,
                  body: bytes | None = None) -> web.Response:
    """A JSON response with the OData headers; ``body`` is used as-is when already serialised."""
    data = body if body is not None else json.dumps(doc, indent=2).encode()
    return web.Response(body=data, status=status, content_type="application/json", charset="utf-8",
                        headers={**ODATA_HEADERS, **(headers or {})})


def error_response(status: int, message_id: str, *args: object,
                   headers: dict[str, str] | None = None) -> web.Response:
    """A Redfish error body (``error`` with one extended message) with the given HTTP status."""
    info = message(message_id, *args)
    doc = {"error": {"code": info["MessageId"], "message": info["Message"], "@Message.ExtendedInfo": [info]}}
    return json_response(doc, status=status, headers=headers)


def not_ready(message_id: str) -> web.Response:
    """400 with a firmware's own 'not ready, retry' message id (not a Base registry message)."""
    info = {"@odata.type": "#Message.v1_1_1.Message", "MessageId": message_id, "Severity": "Warning",
            "MessageSeverity": "Warning", "Message": "The management controller is not ready; retry the request.",
            "Resolution": "Retry the request after a few seconds."}
    return json_response({"error": {"code": message_id, "message": info["Message"], "@Message.ExtendedInfo": [info]}},
                         status=400)


def not_found(path: str) -> web.Response:
    """404 with ResourceNotFound naming the path."""
    return error_response(404, "ResourceNotFound", "Resource", path)


def not_allowed(method: str) -> web.Response:
    """405 with OperationNotAllowed."""
    return error_response(405, "OperationNotAllowed", method)


def unauthorized() -> web.Response:
    """401 with NoValidSession and a Basic challenge."""
    return error_response(401, "NoValidSession", headers={"WWW-Authenticate": 'Basic realm="anyrack-lab"'})
