//! Zero-copy forwarding on Linux: one direction of a forwarded connection moves its bytes socket to pipe
//! to socket with `splice(2)`, so they stay in the kernel (page references, no copy through user space)
//! instead of being read into a buffer and written out again.
//!
//! [`crate::forward`] switches a direction over once a read fills its copy buffer (a bulk transfer);
//! short, interactive exchanges never create a pipe. The loop keeps the copy loop's rules: everything read
//! is written before the next read (backpressure), an end of stream half-closes the writer, and an error
//! on either socket ends the direction with that error. The pipe starts at the kernel's default size and
//! doubles, up to [`MAX_PIPE`], while reads keep filling it.

use std::io;
use std::net::Shutdown;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, Ordering};

use rustix::io::Errno;
use rustix::pipe::{PipeFlags, SpliceFlags};
use tokio::io::Interest;
use tokio::net::TcpStream;

/// The largest pipe a direction grows to (the default `/proc/sys/fs/pipe-max-size`). A larger pipe means
/// fewer splice calls and wake-ups per byte; an unprivileged process over its pipe quota keeps the
/// smaller size it has.
pub(super) const MAX_PIPE: usize = 1 << 20;

/// Set once splicing a socket failed as unsupported, so later connections do not try again.
static UNSUPPORTED: AtomicBool = AtomicBool::new(false);

const FLAGS: SpliceFlags = SpliceFlags::NONBLOCK.union(SpliceFlags::MOVE);

/// A non-blocking pipe and its current capacity.
pub(super) struct Pipe {
    read: OwnedFd,
    write: OwnedFd,
    capacity: usize,
    /// False once growing was refused.
    can_grow: bool,
}

impl Pipe {
    /// A new pipe, or `None` when splicing is known not to work here or no pipe can be made (out of file
    /// descriptors, say): the caller keeps copying.
    pub(super) fn new() -> Option<Pipe> {
        if UNSUPPORTED.load(Ordering::Relaxed) {
            return None;
        }
        let made = rustix::pipe::pipe_with(PipeFlags::NONBLOCK | PipeFlags::CLOEXEC).and_then(
            |(read, write)| {
                let capacity = rustix::pipe::fcntl_getpipe_size(&write)?;
                Ok(Pipe {
                    read,
                    write,
                    capacity,
                    can_grow: true,
                })
            },
        );
        match made {
            Ok(pipe) => Some(pipe),
            Err(e) => {
                tracing::debug!(error = %e, "no pipe for zero-copy forwarding; copying instead");
                None
            }
        }
    }

    /// Doubles the capacity up to [`MAX_PIPE`]; a refusal (quota) keeps the current one.
    fn grow(&mut self) {
        if !self.can_grow || self.capacity >= MAX_PIPE {
            return;
        }
        match rustix::pipe::fcntl_setpipe_size(&self.write, (self.capacity * 2).min(MAX_PIPE)) {
            Ok(size) => self.capacity = size,
            Err(e) => {
                tracing::trace!(error = %e, "pipe not grown");
                self.can_grow = false;
            }
        }
    }
}

/// How a spliced direction ended.
pub(super) enum Spliced {
    /// The reader reached its end of stream (passed on as a half-close); the bytes moved.
    Done(u64),
    /// The sockets cannot be spliced; nothing was moved and the pipe is empty, so the caller goes on
    /// copying.
    Unsupported,
}

/// Moves bytes from `reader` to `writer` through `pipe` until `reader`'s end of stream, calling
/// `moved(n)` after each `n` bytes written.
pub(super) async fn forward(
    reader: &TcpStream,
    writer: &TcpStream,
    mut pipe: Pipe,
    mut moved: impl FnMut(u64),
) -> io::Result<Spliced> {
    let mut total = 0u64;
    loop {
        let n = match fill(reader, &pipe).await {
            Ok(n) => n,
            Err(e) if total == 0 && unsupported(&e) => {
                UNSUPPORTED.store(true, Ordering::Relaxed);
                tracing::debug!(error = %e, "splice(2) unsupported; copying instead");
                return Ok(Spliced::Unsupported);
            }
            Err(e) => return Err(e),
        };
        if n == 0 {
            // Pass the end of stream on; the other side may already be gone, which is fine.
            let _ = socket2::SockRef::from(writer).shutdown(Shutdown::Write);
            return Ok(Spliced::Done(total));
        }
        drain(&pipe, writer, n).await?;
        total += n as u64;
        moved(n as u64);
        if n * 2 >= pipe.capacity {
            pipe.grow();
        }
    }
}

/// Splices what `reader` has (at most the pipe's capacity) into the empty pipe; 0 at end of stream.
async fn fill(reader: &TcpStream, pipe: &Pipe) -> io::Result<usize> {
    loop {
        reader.readable().await?;
        // The pipe is empty, so a would-block can only mean the socket has nothing to read, which is
        // what clears the socket's read readiness.
        match reader.try_io(Interest::READABLE, || {
            rustix::pipe::splice(reader, None, &pipe.write, None, pipe.capacity, FLAGS)
                .map_err(io::Error::from)
        }) {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
}

/// Splices the `n` bytes in the pipe out to `writer`.
async fn drain(pipe: &Pipe, writer: &TcpStream, mut n: usize) -> io::Result<()> {
    while n > 0 {
        writer.writable().await?;
        // The pipe holds data, so a would-block means the socket's send buffer is full.
        match writer.try_io(Interest::WRITABLE, || {
            rustix::pipe::splice(&pipe.read, None, writer, None, n, FLAGS).map_err(io::Error::from)
        }) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(written) => n -= written.min(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Whether an error from splicing a socket means the kernel or the socket does not support it.
fn unsupported(e: &io::Error) -> bool {
    [Errno::INVAL, Errno::NOSYS, Errno::OPNOTSUPP]
        .iter()
        .any(|errno| e.raw_os_error() == Some(errno.raw_os_error()))
}
