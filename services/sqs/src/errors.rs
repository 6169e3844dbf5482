//! SQS errors in AWS terms. SQS is awsQueryCompatible: the JSON protocol's `__type` is the model's shape
//! name (`QueueDoesNotExist`), and the code the query protocol uses (`AWS.SimpleQueueService.NonExistentQueue`)
//! travels in `x-amzn-query-error`; the query protocol puts that code in `<Code>`.

use http::StatusCode;
use skyport_core::AwsError;

/// A 400 error with its JSON shape name and its query code.
pub fn err(
    json_type: &'static str,
    query_code: &'static str,
    message: impl Into<String>,
) -> AwsError {
    AwsError::new(StatusCode::BAD_REQUEST, json_type, message).with_query_code(query_code)
}

/// An error AWS answers with another status than 400 (the model's `awsQueryError` status:
/// `PurgeQueueInProgress` and `OverLimit` 403, `ReceiptHandleIsInvalid` and `ResourceNotFoundException` 404).
pub fn err_status(
    status: StatusCode,
    json_type: &'static str,
    query_code: &'static str,
    message: impl Into<String>,
) -> AwsError {
    AwsError::new(status, json_type, message).with_query_code(query_code)
}

/// `ResourceNotFoundException` (404).
pub fn not_found(message: impl Into<String>) -> AwsError {
    err_status(
        StatusCode::NOT_FOUND,
        "ResourceNotFoundException",
        "ResourceNotFoundException",
        message,
    )
}

/// `QueueDoesNotExist` / `AWS.SimpleQueueService.NonExistentQueue`.
pub fn no_queue() -> AwsError {
    err(
        "QueueDoesNotExist",
        "AWS.SimpleQueueService.NonExistentQueue",
        "The specified queue does not exist.",
    )
}

/// `InvalidParameterValue`.
pub fn invalid(message: impl Into<String>) -> AwsError {
    err(
        "InvalidParameterValueException",
        "InvalidParameterValue",
        message,
    )
}

/// `InvalidParameterValue` in AWS's "Value X for parameter Y is invalid. Reason: Z." form.
pub fn invalid_value(value: impl std::fmt::Display, parameter: &str, reason: &str) -> AwsError {
    invalid(format!(
        "Value {value} for parameter {parameter} is invalid. Reason: {reason}"
    ))
}

/// `MissingParameter`.
pub fn missing(parameter: &str) -> AwsError {
    err(
        "MissingRequiredParameterException",
        "MissingParameter",
        format!("The request must contain the parameter {parameter}."),
    )
}

/// `InvalidAttributeName`.
pub fn invalid_attribute_name(name: &str) -> AwsError {
    err(
        "InvalidAttributeName",
        "InvalidAttributeName",
        format!("Unknown Attribute {name}."),
    )
}

/// `InvalidAttributeValue`.
pub fn invalid_attribute_value(message: impl Into<String>) -> AwsError {
    err("InvalidAttributeValue", "InvalidAttributeValue", message)
}

/// `ReceiptHandleIsInvalid`.
pub fn bad_receipt(handle: &str) -> AwsError {
    err_status(
        StatusCode::NOT_FOUND,
        "ReceiptHandleIsInvalid",
        "ReceiptHandleIsInvalid",
        format!("The input receipt handle \"{handle}\" is not a valid receipt handle."),
    )
}

/// A malformed request body (awsJson `SerializationException`, query `MalformedQueryString`).
pub fn malformed(message: impl Into<String>) -> AwsError {
    AwsError::bad_request("SerializationException", message)
}

/// A failed commit of the state store, through core's storage mapping, with the query protocol's code.
pub fn storage(failure: &skyport_core::error::StorageFailure) -> AwsError {
    let e = AwsError::storage(failure, skyport_core::error::StorageCodes::COMMON);
    let code = e.code.clone();
    e.with_query_code(code)
}

/// An internal failure.
pub fn internal(message: impl std::fmt::Display) -> AwsError {
    AwsError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "InternalFailure",
        format!("SQS could not update its state: {message}"),
    )
    .with_query_code("InternalFailure")
}
