//! The service's errors, and their one mapping onto DynamoDB's error shapes.

use skyport_core::AwsError;
use skyport_core::error::{StorageCodes, StorageFailure};
use skyport_core::store::StoreError;
use skyport_wire::ApiError;

use crate::attr::{Item, item_to_wire};
use crate::shapes::{self, errors};

/// A failed DynamoDB operation.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DdbError {
    /// `ValidationException` with AWS's message.
    #[error("{0}")]
    Validation(String),
    /// `ResourceNotFoundException`.
    #[error("{0}")]
    NotFound(String),
    /// `ResourceInUseException`.
    #[error("{0}")]
    InUse(String),
    /// `ConditionalCheckFailedException`, with the item when `ReturnValuesOnConditionCheckFailure`
    /// asked for it.
    #[error("The conditional request failed")]
    ConditionFailed(Option<Item>),
    /// `TransactionCanceledException`: one reason per action.
    #[error("Transaction cancelled, please refer cancellation reasons for specific reasons [{}]", .0.iter().map(|r| r.code.as_str()).collect::<Vec<_>>().join(", "))]
    TransactionCanceled(Vec<Reason>),
    /// `DuplicateItemException`: a PartiQL `INSERT` of a key that exists.
    #[error("Duplicate primary key exists in table")]
    DuplicateItem,
    /// `TransactionConflictException`: the item takes part in an ongoing transaction.
    #[error("Transaction is ongoing for the item")]
    TransactionConflict,
    /// `IdempotentParameterMismatchException`.
    #[error("{0}")]
    IdempotentMismatch(String),
    /// `LimitExceededException`.
    #[error("{0}")]
    LimitExceeded(String),
    /// The store failed.
    #[error("{}", .0.detail)]
    Storage(StorageFailure),
}

/// One entry of `CancellationReasons`.
#[derive(Debug, Clone, PartialEq)]
pub struct Reason {
    /// `None`, `ConditionalCheckFailed`, `TransactionConflict`, `ValidationError`, ...
    pub code: String,
    /// The message (absent for `None`).
    pub message: Option<String>,
    /// The item, for a failed condition with `ReturnValuesOnConditionCheckFailure: ALL_OLD`.
    pub item: Option<Item>,
}

impl Reason {
    /// The reason of an action that did not fail.
    pub fn none() -> Reason {
        Reason {
            code: "None".to_owned(),
            message: None,
            item: None,
        }
    }
}

impl From<StoreError> for DdbError {
    fn from(e: StoreError) -> DdbError {
        DdbError::Storage(StorageFailure::from(&e))
    }
}

impl From<StorageFailure> for DdbError {
    fn from(e: StorageFailure) -> DdbError {
        DdbError::Storage(e)
    }
}

/// A `ValidationException`.
pub fn validation(message: impl Into<String>) -> DdbError {
    DdbError::Validation(message.into())
}

impl From<DdbError> for ApiError {
    fn from(e: DdbError) -> ApiError {
        let message = e.to_string();
        match e {
            DdbError::Validation(m) => ApiError::validation(m),
            DdbError::NotFound(_) => errors::resource_not_found_exception(message),
            DdbError::InUse(_) => errors::resource_in_use_exception(message),
            DdbError::ConditionFailed(item) => {
                let error = errors::conditional_check_failed_exception(message);
                match item {
                    Some(item) => error.field("Item", item_to_wire(&item)),
                    None => error,
                }
            }
            DdbError::TransactionCanceled(reasons) => {
                let reasons: Vec<shapes::CancellationReason> = reasons
                    .into_iter()
                    .map(|r| shapes::CancellationReason {
                        item: r.item.as_ref().map(item_to_wire),
                        code: Some(r.code),
                        message: r.message,
                    })
                    .collect();
                errors::transaction_canceled_exception(message)
                    .field("CancellationReasons", reasons)
            }
            DdbError::TransactionConflict => errors::transaction_conflict_exception(message),
            DdbError::DuplicateItem => errors::duplicate_item_exception(message),
            DdbError::IdempotentMismatch(_) => {
                errors::idempotent_parameter_mismatch_exception(message)
            }
            DdbError::LimitExceeded(_) => errors::limit_exceeded_exception(message),
            DdbError::Storage(failure) => AwsError::storage(
                &failure,
                StorageCodes {
                    unavailable: "ServiceUnavailableException",
                    internal: "InternalServerError",
                },
            )
            .into(),
        }
    }
}

/// `Requested resource not found` (item operations on a missing table).
pub fn table_not_found() -> DdbError {
    DdbError::NotFound("Requested resource not found".to_owned())
}

/// `Requested resource not found: Table: <name> not found` (table operations).
pub fn table_not_found_named(name: &str) -> DdbError {
    DdbError::NotFound(format!(
        "Requested resource not found: Table: {name} not found"
    ))
}
