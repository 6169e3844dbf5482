//! Binding the gateway's listen addresses (`GATEWAY_LISTEN`), with typed errors so the caller can tell a
//! privileged port from a port already in use and warn with the fix.

use std::io;
use std::net::SocketAddr;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::{TcpListener, TcpStream};

use crate::shutdown::Shutdown;

/// Why an address could not be bound.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    /// Ports below 1024 need privileges.
    #[error(
        "cannot bind {addr}: permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE: \
         `sudo setcap cap_net_bind_service=+ep $(which skyport)`, or run Skyport in its container)"
    )]
    PermissionDenied {
        /// The address.
        addr: SocketAddr,
    },
    /// Something else listens there.
    #[error("cannot bind {addr}: address already in use (another Skyport or LocalStack running?)")]
    InUse {
        /// The address.
        addr: SocketAddr,
    },
    /// The address family or address is not available on this host (e.g. no IPv6).
    #[error("cannot bind {addr}: address not available on this host ({source})")]
    Unavailable {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: io::Error,
    },
    /// The gateway is shutting down: no new listeners.
    #[error("cannot bind {addr}: the gateway is shutting down")]
    ShuttingDown {
        /// The address.
        addr: SocketAddr,
    },
    /// Any other error.
    #[error("cannot bind {addr}: {source}")]
    Other {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: io::Error,
    },
}

/// Binds a TCP listener on `addr` (IPv6 sockets are v6-only, so `[::]` and `0.0.0.0` can share a port).
pub fn bind(addr: SocketAddr) -> Result<TcpListener, BindError> {
    let classify = |source: io::Error| match source.kind() {
        io::ErrorKind::PermissionDenied => BindError::PermissionDenied { addr },
        io::ErrorKind::AddrInUse => BindError::InUse { addr },
        io::ErrorKind::AddrNotAvailable | io::ErrorKind::Unsupported => {
            BindError::Unavailable { addr, source }
        }
        _ if source.raw_os_error() == Some(97) => BindError::Unavailable { addr, source },
        _ => BindError::Other { addr, source },
    };
    let domain = if addr.is_ipv6() {
        Domain::IPV6
    } else {
        Domain::IPV4
    };
    let socket = Socket::new(domain, Type::STREAM, Some(Protocol::TCP)).map_err(classify)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true).map_err(classify)?;
    }
    socket.set_reuse_address(true).map_err(classify)?;
    socket.set_nonblocking(true).map_err(classify)?;
    socket.bind(&addr.into()).map_err(classify)?;
    socket.listen(1024).map_err(classify)?;
    TcpListener::from_std(socket.into()).map_err(classify)
}

/// Accepts connections until `shutdown`, handing each to `on_accept` (which spawns its task). Accept errors
/// (EMFILE and friends) are logged and backed off instead of spun on.
pub(crate) async fn accept_until_shutdown(
    listener: TcpListener,
    local: SocketAddr,
    shutdown: &Shutdown,
    mut on_accept: impl FnMut(TcpStream, SocketAddr),
) {
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.wait() => break,
        };
        match accepted {
            Ok((stream, peer)) => on_accept(stream, peer),
            Err(e) => {
                tracing::warn!(%local, error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn binds_v4_and_v6_on_one_port() {
        let v4 = bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let port = v4.local_addr().unwrap().port();
        match bind(SocketAddr::new("::1".parse().unwrap(), port)) {
            Ok(v6) => assert_eq!(v6.local_addr().unwrap().port(), port),
            Err(BindError::Unavailable { .. }) => {}
            Err(e) => panic!("{e}"),
        }
        assert!(matches!(
            bind(v4.local_addr().unwrap()),
            Err(BindError::InUse { .. })
        ));
    }
}
