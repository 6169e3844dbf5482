//! skyport-proxy: the edge every client talks to.
//!
//! A connection arrives on a gateway listener ([`listener`]); [`conn`] peeks its first bytes to tell TLS
//! from plaintext (the seam where `certs` plugs in a rustls acceptor) and serves HTTP/1.1 and HTTP/2 on it.
//! Each request goes to [`dispatch`]: the internal endpoints ([`internal`]) first, then the [`router`]
//! decides which AWS service and protocol it is for (using the [`catalog`] of known services), builds the
//! `RequestContext` and calls the service. Every failure that is the gateway's own (no such service, a
//! malformed `Authorization`, an unreadable body) is turned into an AWS-shaped response in [`errors`].
//!
//! The external service port range (4510-4559) is served by [`ports`]: each port a service leases from
//! `skyport_core::ports` is bound on the gateway's hosts and routed to the gateway's HTTP serving or, as
//! raw TCP, to a backend address through [`forward`].
//!
//! Every AWS request served lands in the [`request_log`]; applications mounted under internal paths
//! ([`app`], the web console) read it and call the services in process through a [`GatewayHandle`].
#![forbid(unsafe_code)]

pub mod app;
pub mod auth;
pub mod catalog;
pub mod conn;
pub mod dispatch;
pub mod errors;
pub mod forward;
pub mod gateway;
pub mod internal;
mod leftover;
pub mod listener;
pub mod ports;
pub mod request_log;
pub mod router;
pub mod shutdown;
mod state;
mod watchdog;

pub use app::{App, GatewayHandle};
pub use gateway::{Gateway, GatewayOptions, Listeners, RunningGateway};
