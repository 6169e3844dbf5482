//! skyport-sqs: Amazon SQS.
//!
//! Both wire protocols for every operation: awsJson 1.0 (`X-Amz-Target: AmazonSQS.*`, what current SDKs
//! send; SQS is awsQueryCompatible, so JSON errors carry the query code in `x-amzn-query-error`) and the
//! query protocol (`Action=` forms, XML in `http://queue.amazonaws.com/doc/2012-11-05/`). The queue URL may
//! come from the request path, the form or the JSON body, in any form an endpoint strategy produces.
//!
//! Standard and FIFO queues, visibility timeouts with receipt handles per delivery, delays, retention,
//! long polling (woken by sends, never by polling), dead-letter redrive and message move tasks, the MD5
//! digests SDKs verify. Queues live in memory ([`queue`]); with persistence every change is committed to
//! the redb store by a group-commit thread ([`persist`]) before the request is answered.
//!
//! [`wire`] decodes both protocols into one JSON-shaped input and writes the output back; [`service`]
//! holds the operations; [`Sqs`] also implements [`skyport_core::bus::QueueSink`] for other services,
//! and (`source`) [`skyport_core::bus::QueueSource`], through which Lambda's event source mappings poll.
#![forbid(unsafe_code)]

mod digest;
mod errors;
mod model;
mod persist;
mod queue;
mod service;
mod source;
mod urls;
mod wire;

pub use service::{Sqs, SqsError, SqsOptions};
pub use urls::{EndpointStrategy, UrlConfig};
