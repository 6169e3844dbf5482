//! Event source mappings of DynamoDB streams: AWS's validation and defaults for Create and Update
//! (`StartingPosition`, `BatchSize`, `MaximumRetryAttempts`, `MaximumRecordAgeInSeconds`,
//! `BisectBatchOnFunctionError`, `DestinationConfig.OnFailure`, ...), and the checkpoints their
//! pollers ([`super::stream_poller`]) keep in Lambda's store (table `event_source_positions`, one row
//! a shard: the cursor of the next record to process and the last processing result).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use skyport_core::bus::StreamStart;
use skyport_core::store::{Store, StoreError};
use skyport_wire::ApiError;

use crate::errors;
use crate::shapes::{
    CreateEventSourceMappingRequest, DestinationConfig, EventSourceMappingConfiguration, OnFailure,
    UpdateEventSourceMappingRequest,
};

/// The store table of stream checkpoints.
pub const POSITIONS: &str = "event_source_positions";

/// `BatchSize` when a stream mapping does not say.
pub const DEFAULT_BATCH_SIZE: i32 = 100;

/// `LastProcessingResult` before the first batch.
pub const NO_RECORDS: &str = "No records processed";
/// `LastProcessingResult` after a successful invocation.
pub const OK: &str = "OK";
/// `LastProcessingResult` after a failed invocation.
pub const FAILED: &str = "PROBLEM: Function call failed";

/// `StateTransitionReason` of stream mappings changed through the API.
pub const USER_ACTION: &str = "User action";

/// True when `arn` names a DynamoDB stream (`arn:aws:dynamodb:<region>:<account>:table/<t>/stream/<label>`).
pub fn is_stream_arn(arn: &str) -> bool {
    let mut parts = arn.splitn(6, ':');
    parts.nth(2) == Some("dynamodb")
        && parts
            .nth(2)
            .and_then(|r| r.strip_prefix("table/"))
            .is_some_and(|r| r.contains("/stream/"))
}

/// Where a new mapping starts reading: `StartingPosition` (required for streams; DynamoDB has no
/// `AT_TIMESTAMP`).
pub fn starting_position(
    input: &CreateEventSourceMappingRequest,
    arn: &str,
) -> Result<StreamStart, ApiError> {
    match input.starting_position.as_deref() {
        None => Err(errors::invalid_parameter(
            "1 validation error detected: Value null at 'startingPosition' failed to satisfy constraint: \
             Member must not be null.",
        )),
        Some("TRIM_HORIZON") => Ok(StreamStart::TrimHorizon),
        Some("LATEST") => Ok(StreamStart::Latest),
        Some(_) => Err(errors::invalid_parameter(format!(
            "Unsupported starting position for arn type: {arn}"
        ))),
    }
}

/// The configuration's `StartingPosition` as a start.
pub fn start_of(config: &EventSourceMappingConfiguration) -> StreamStart {
    match config.starting_position.as_deref() {
        Some("LATEST") => StreamStart::Latest,
        _ => StreamStart::TrimHorizon,
    }
}

fn check_record_age(age: Option<i32>) -> Result<(), ApiError> {
    match age {
        Some(a) if a != -1 && !(60..=604_800).contains(&a) => Err(errors::invalid_parameter(
            "MaximumRecordAgeInSeconds must be either -1 (forever) or between 60 and 604800 (inclusive)",
        )),
        _ => Ok(()),
    }
}

/// Stream mappings send discarded batches to a queue or a topic; they have no `OnSuccess`.
fn check_destination(config: Option<&DestinationConfig>) -> Result<(), ApiError> {
    let Some(config) = config else {
        return Ok(());
    };
    if config
        .on_success
        .as_ref()
        .is_some_and(|s| s.destination.is_some())
    {
        return Err(errors::invalid_parameter(
            "Unsupported DestinationConfig parameter for given event source mapping type.",
        ));
    }
    if let Some(arn) = config
        .on_failure
        .as_ref()
        .and_then(|f| f.destination.as_deref())
    {
        let service = arn.split(':').nth(2).unwrap_or("");
        if !matches!(service, "sqs" | "sns") || arn.split(':').count() < 6 {
            return Err(errors::invalid_parameter(format!(
                "The provided destination config DestinationConfig(onSuccess=null, \
                 onFailure=OnFailure(destination={arn})) is invalid: stream event source mappings send \
                 discarded batches to SQS queues and SNS topics."
            )));
        }
    }
    Ok(())
}

/// `DestinationConfig` as stream mappings report it: `{"OnFailure": {...}}`, empty when none.
fn destination(config: Option<DestinationConfig>) -> DestinationConfig {
    DestinationConfig {
        on_success: None,
        on_failure: Some(
            config
                .and_then(|c| c.on_failure)
                .filter(|f| f.destination.as_deref().is_some_and(|d| !d.is_empty()))
                .unwrap_or_default(),
        ),
    }
}

/// The stream settings of a new mapping, with AWS's defaults and checks (the model already bounds
/// the numbers: `BatchSize` 1-10000, `ParallelizationFactor` 1-10, `MaximumRetryAttempts`
/// -1-10000, `MaximumBatchingWindowInSeconds` 0-300, `TumblingWindowInSeconds` 0-900).
pub fn create_config(
    input: &CreateEventSourceMappingRequest,
    arn: &str,
) -> Result<EventSourceMappingConfiguration, ApiError> {
    starting_position(input, arn)?;
    check_record_age(input.maximum_record_age_in_seconds)?;
    check_destination(input.destination_config.as_ref())?;
    Ok(EventSourceMappingConfiguration {
        starting_position: input.starting_position.clone(),
        batch_size: Some(input.batch_size.unwrap_or(DEFAULT_BATCH_SIZE)),
        maximum_batching_window_in_seconds: Some(
            input.maximum_batching_window_in_seconds.unwrap_or(0),
        ),
        parallelization_factor: Some(input.parallelization_factor.unwrap_or(1)),
        last_processing_result: Some(NO_RECORDS.to_owned()),
        destination_config: Some(destination(input.destination_config.clone())),
        maximum_record_age_in_seconds: Some(input.maximum_record_age_in_seconds.unwrap_or(-1)),
        bisect_batch_on_function_error: Some(input.bisect_batch_on_function_error.unwrap_or(false)),
        maximum_retry_attempts: Some(input.maximum_retry_attempts.unwrap_or(-1)),
        tumbling_window_in_seconds: Some(input.tumbling_window_in_seconds.unwrap_or(0)),
        ..Default::default()
    })
}

/// Applies an update's stream settings to `c`.
pub fn update_config(
    c: &mut EventSourceMappingConfiguration,
    input: &UpdateEventSourceMappingRequest,
) -> Result<(), ApiError> {
    check_record_age(input.maximum_record_age_in_seconds)?;
    check_destination(input.destination_config.as_ref())?;
    if let Some(n) = input.batch_size {
        c.batch_size = Some(n);
    }
    if let Some(n) = input.maximum_batching_window_in_seconds {
        c.maximum_batching_window_in_seconds = Some(n);
    }
    if let Some(n) = input.parallelization_factor {
        c.parallelization_factor = Some(n);
    }
    if let Some(n) = input.maximum_record_age_in_seconds {
        c.maximum_record_age_in_seconds = Some(n);
    }
    if let Some(n) = input.maximum_retry_attempts {
        c.maximum_retry_attempts = Some(n);
    }
    if let Some(b) = input.bisect_batch_on_function_error {
        c.bisect_batch_on_function_error = Some(b);
    }
    if let Some(n) = input.tumbling_window_in_seconds {
        c.tumbling_window_in_seconds = Some(n);
    }
    if let Some(d) = &input.destination_config {
        c.destination_config = Some(destination(Some(d.clone())));
    }
    Ok(())
}

/// The `OnFailure` destination of a configuration, if any.
pub fn on_failure(c: &EventSourceMappingConfiguration) -> Option<String> {
    c.destination_config
        .as_ref()
        .and_then(|d| d.on_failure.as_ref())
        .and_then(|f: &OnFailure| f.destination.clone())
        .filter(|d| !d.is_empty())
}

/// Where a mapping stands in one shard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The cursor of the next record to process; `None` once the shard was read to its end.
    pub cursor: Option<String>,
    /// `LastProcessingResult` as of this write, when it says one.
    pub result: Option<String>,
    /// When it was written, in milliseconds since the epoch.
    pub at_ms: i64,
}

fn row_key(uuid: &str, shard_id: &str) -> String {
    format!("{uuid}/{shard_id}")
}

/// The checkpoints of mapping `uuid`, by shard.
pub fn checkpoints(store: &Store, uuid: &str) -> Result<HashMap<String, Checkpoint>, StoreError> {
    let prefix = row_key(uuid, "");
    let rows = store.read(|r| r.scan_prefix(POSITIONS, &prefix, None, usize::MAX))?;
    let mut out = HashMap::new();
    for (key, value) in rows {
        let Some(shard) = key.strip_prefix(&prefix) else {
            continue;
        };
        out.insert(shard.to_owned(), serde_json::from_slice(&value)?);
    }
    Ok(out)
}

/// Writes the checkpoint of `uuid` in `shard_id`.
pub async fn save(
    store: &Store,
    uuid: &str,
    shard_id: &str,
    checkpoint: &Checkpoint,
) -> Result<(), StoreError> {
    let key = row_key(uuid, shard_id);
    let bytes = serde_json::to_vec(checkpoint)?;
    store
        .write_async(move |w| w.put(POSITIONS, &key, &bytes))
        .await
}

/// Removes the checkpoints of `uuid` (its mapping was deleted).
pub async fn forget(store: &Store, uuid: &str) -> Result<(), StoreError> {
    let shards = checkpoints(store, uuid)?.into_keys().collect();
    prune(store, uuid, shards).await
}

/// Removes the checkpoints of `uuid` in the shards `gone` (shards its stream no longer has: the
/// shards before a restart of Skyport).
pub async fn prune(store: &Store, uuid: &str, gone: Vec<String>) -> Result<(), StoreError> {
    if gone.is_empty() {
        return Ok(());
    }
    let keys: Vec<String> = gone.iter().map(|shard| row_key(uuid, shard)).collect();
    store
        .write_freeing_async(move |w| {
            for key in &keys {
                w.delete(POSITIONS, key)?;
            }
            Ok(())
        })
        .await
}

/// The latest `LastProcessingResult` a poller of `uuid` wrote.
pub fn last_result(store: &Store, uuid: &str) -> Option<String> {
    checkpoints(store, uuid)
        .ok()?
        .into_values()
        .filter(|c| c.result.is_some())
        .max_by_key(|c| c.at_ms)
        .and_then(|c| c.result)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(position: Option<&str>) -> CreateEventSourceMappingRequest {
        CreateEventSourceMappingRequest {
            function_name: "f".into(),
            starting_position: position.map(str::to_owned),
            ..Default::default()
        }
    }

    const ARN: &str =
        "arn:aws:dynamodb:us-east-1:000000000000:table/t/stream/2024-01-01T00:00:00.000";

    #[test]
    fn stream_arns() {
        assert!(is_stream_arn(ARN));
        assert!(!is_stream_arn(
            "arn:aws:dynamodb:us-east-1:000000000000:table/t"
        ));
        assert!(!is_stream_arn("arn:aws:sqs:us-east-1:000000000000:q"));
    }

    #[test]
    fn defaults_as_aws_reports_them() {
        let c = create_config(&request(Some("TRIM_HORIZON")), ARN).unwrap();
        assert_eq!(c.batch_size, Some(100));
        assert_eq!(c.parallelization_factor, Some(1));
        assert_eq!(c.maximum_retry_attempts, Some(-1));
        assert_eq!(c.maximum_record_age_in_seconds, Some(-1));
        assert_eq!(c.bisect_batch_on_function_error, Some(false));
        assert_eq!(c.tumbling_window_in_seconds, Some(0));
        assert_eq!(c.last_processing_result.as_deref(), Some(NO_RECORDS));
        assert_eq!(
            c.destination_config,
            Some(DestinationConfig {
                on_success: None,
                on_failure: Some(OnFailure::default())
            })
        );
        assert_eq!(start_of(&c), StreamStart::TrimHorizon);
    }

    #[test]
    fn aws_refusals() {
        let message = |r: Result<EventSourceMappingConfiguration, ApiError>| r.unwrap_err().message;
        assert!(message(create_config(&request(None), ARN)).contains("startingPosition"));
        assert_eq!(
            message(create_config(&request(Some("AT_TIMESTAMP")), ARN)),
            format!("Unsupported starting position for arn type: {ARN}")
        );
        let mut r = request(Some("LATEST"));
        r.maximum_record_age_in_seconds = Some(30);
        assert!(message(create_config(&r, ARN)).starts_with("MaximumRecordAgeInSeconds"));
        r.maximum_record_age_in_seconds = Some(60);
        r.destination_config = Some(DestinationConfig {
            on_success: Some(crate::shapes::OnSuccess {
                destination: Some("arn:aws:sqs:us-east-1:000000000000:q".into()),
            }),
            on_failure: None,
        });
        assert_eq!(
            message(create_config(&r, ARN)),
            "Unsupported DestinationConfig parameter for given event source mapping type."
        );
        r.destination_config = Some(DestinationConfig {
            on_success: None,
            on_failure: Some(OnFailure {
                destination: Some("arn:aws:sns:us-east-1:000000000000:t".into()),
            }),
        });
        let c = create_config(&r, ARN).unwrap();
        assert_eq!(
            on_failure(&c).as_deref(),
            Some("arn:aws:sns:us-east-1:000000000000:t")
        );
    }

    #[tokio::test]
    async fn checkpoints_round_trip() {
        let store = Store::in_memory().unwrap();
        assert_eq!(last_result(&store, "u"), None);
        let first = Checkpoint {
            cursor: Some("c1".into()),
            result: Some(OK.into()),
            at_ms: 1,
        };
        save(&store, "u", "shard-a", &first).await.unwrap();
        let later = Checkpoint {
            cursor: None,
            result: Some(FAILED.into()),
            at_ms: 2,
        };
        save(&store, "u", "shard-b", &later).await.unwrap();
        save(&store, "v", "shard-a", &first).await.unwrap();
        let all = checkpoints(&store, "u").unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all["shard-a"], first);
        assert_eq!(last_result(&store, "u").as_deref(), Some(FAILED));
        prune(&store, "u", vec!["shard-a".into()]).await.unwrap();
        assert_eq!(
            checkpoints(&store, "u")
                .unwrap()
                .into_keys()
                .collect::<Vec<_>>(),
            ["shard-b"]
        );
        forget(&store, "u").await.unwrap();
        assert!(checkpoints(&store, "u").unwrap().is_empty());
        assert_eq!(checkpoints(&store, "v").unwrap().len(), 1);
    }
}
