//! Lambda's errors as AWS shapes them: the model's error shape, `Type: User` (or `Service`) and a
//! `Message` member, with the wording AWS uses.

use skyport_wire::ApiError;

use crate::shapes::errors;

fn user(e: ApiError) -> ApiError {
    e.field("Type", "User")
}

/// `ResourceNotFoundException` (404).
pub fn not_found(message: impl Into<String>) -> ApiError {
    user(errors::resource_not_found_exception(message))
}

/// `Function not found: <arn>`.
pub fn function_not_found(arn: &str) -> ApiError {
    not_found(format!("Function not found: {arn}"))
}

/// `ResourceConflictException` (409).
pub fn conflict(message: impl Into<String>) -> ApiError {
    user(errors::resource_conflict_exception(message))
}

/// `InvalidParameterValueException` (400).
pub fn invalid_parameter(message: impl Into<String>) -> ApiError {
    user(errors::invalid_parameter_value_exception(message))
}

/// `PreconditionFailedException` (412): a `RevisionId` that is not the current one.
pub fn precondition_failed() -> ApiError {
    user(errors::precondition_failed_exception(
        "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API \
         to retrieve the latest Revision Id",
    ))
}

/// `TooManyRequestsException` (429) with its reason.
pub fn too_many_requests(message: impl Into<String>, reason: &str) -> ApiError {
    user(errors::too_many_requests_exception(message)).field("Reason", reason)
}

/// `RequestTooLargeException` (413).
pub fn request_too_large(message: impl Into<String>) -> ApiError {
    user(errors::request_too_large_exception(message))
}

/// `ServiceException` (500).
pub fn service(message: impl Into<String>) -> ApiError {
    errors::service_exception(message).field("Type", "Service")
}

/// `ResourceNotReadyException` (502): the function is still `Pending`.
pub fn resource_not_ready(arn: &str) -> ApiError {
    user(errors::resource_not_ready_exception(format!(
        "The operation cannot be performed at this time. The function is currently in the following state: Pending ({arn})"
    )))
}
