//! skyport-proxy: the edge every client talks to.
//!
//! A connection arrives on a gateway listener ([`listener`]); [`conn`] peeks its first bytes to tell TLS
//! from plaintext (the seam where `certs` plugs in a rustls acceptor) and serves HTTP/1.1 and HTTP/2 on it.
//! Each request goes to [`dispatch`]: the internal endpoints ([`internal`]) first, then the [`router`]
//! decides which AWS service and protocol it is for (using the [`catalog`] of known services), builds the
//! `RequestContext` and calls the service. Every failure that is the gateway's own (no such service, a
//! malformed `Authorization`, an unreadable body) is turned into an AWS-shaped response in [`errors`].
#![forbid(unsafe_code)]

pub mod catalog;
pub mod conn;
pub mod dispatch;
pub mod errors;
pub mod gateway;
pub mod internal;
pub mod listener;
pub mod router;
pub mod shutdown;
mod watchdog;

pub use gateway::{Gateway, GatewayOptions, RunningGateway};
