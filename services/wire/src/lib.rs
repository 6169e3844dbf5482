//! skyport-wire: the AWS wire protocols driven by AWS's own service models.
//!
//! The models (botocore's `service-2.json` form of the Smithy models, vendored under `models/`) say, for
//! every operation, how it is addressed (target header, `Action`, or method + URI template) and where
//! each input and output member travels (header, query, URI label, body, status code), under which wire
//! name, in which timestamp format, flattened or wrapped, and with which constraints. This crate reads
//! them at run time (compiled lazily on a service's first request, [`model`]) and is the one place where
//! requests become values and values become responses:
//!
//! - [`endpoint::Endpoint`] serves a request: resolves the operation, reads the input with the codec of
//!   the protocol ([`query`], [`json`], [`rest`] with [`xml`] or JSON bodies), checks the model's
//!   constraints ([`validate`]), calls the service's [`endpoint::Handler`], and writes the output;
//! - [`error`] renders [`error::ApiError`]s (a model error shape by name, with its members) and the
//!   layer's own [`error::WireError`]s as the protocol's error;
//! - [`value::Value`] is the canonical, protocol-free value; [`typed`] converts it to and from the Rust
//!   types `models/codegen.py` generates for each service, so service code works on typed model shapes.
#![forbid(unsafe_code)]

pub mod codec;
pub mod endpoint;
pub mod error;
pub mod json;
pub mod model;
pub mod persist;
pub mod query;
pub mod rest;
pub mod scalar;
pub mod timestamp;
pub mod tree;
pub mod typed;
pub mod validate;
pub mod value;
pub mod xml;

pub use codec::Codec;
pub use endpoint::{Endpoint, Handler};
pub use error::{ApiError, WireError};
pub use model::{Model, Operation};
pub use typed::{Builder, ConvertError, Fields, FromValue, IntoValue};
pub use value::{Struct, Timestamp, Value};

/// The vendored models (`models/<service>.json`), compacted at build time (`build.rs`); only those a
/// binary uses are linked into it.
pub mod embedded {
    /// `models/sts.json`.
    pub const STS: &str = include_str!(concat!(env!("OUT_DIR"), "/sts.json"));
    /// `models/s3.json`.
    pub const S3: &str = include_str!(concat!(env!("OUT_DIR"), "/s3.json"));
    /// `models/sqs.json`.
    pub const SQS: &str = include_str!(concat!(env!("OUT_DIR"), "/sqs.json"));
    /// `models/lambda.json`.
    pub const LAMBDA: &str = include_str!(concat!(env!("OUT_DIR"), "/lambda.json"));
    /// `models/logs.json`.
    pub const LOGS: &str = include_str!(concat!(env!("OUT_DIR"), "/logs.json"));
    /// `models/iam.json`.
    pub const IAM: &str = include_str!(concat!(env!("OUT_DIR"), "/iam.json"));
    /// `models/dynamodb.json`.
    pub const DYNAMODB: &str = include_str!(concat!(env!("OUT_DIR"), "/dynamodb.json"));
    /// `models/dynamodbstreams.json`.
    pub const DYNAMODBSTREAMS: &str =
        include_str!(concat!(env!("OUT_DIR"), "/dynamodbstreams.json"));
    /// `models/sns.json`.
    pub const SNS: &str = include_str!(concat!(env!("OUT_DIR"), "/sns.json"));
    /// `models/events.json`.
    pub const EVENTS: &str = include_str!(concat!(env!("OUT_DIR"), "/events.json"));
    /// `models/ecr.json`.
    pub const ECR: &str = include_str!(concat!(env!("OUT_DIR"), "/ecr.json"));
}

/// Declares a lazily compiled model from its JSON text: `static_model!(STS, skyport_wire::embedded::STS)`
/// defines `fn STS() -> &'static Model`. The text is compiled into the binary; it is parsed on first use.
#[macro_export]
macro_rules! static_model {
    ($name:ident, $text:expr) => {
        #[allow(non_snake_case)]
        fn $name() -> &'static $crate::Model {
            static MODEL: std::sync::OnceLock<$crate::Model> = std::sync::OnceLock::new();
            MODEL.get_or_init(|| match $crate::Model::from_json($text) {
                Ok(model) => model,
                Err(e) => panic!(
                    "the vendored model {} does not compile: {e}",
                    stringify!($text)
                ),
            })
        }
    };
}
