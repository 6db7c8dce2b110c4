//! Moving sockets between executors: duplicate a socket's descriptor, and adopt a descriptor
//! as a glommio socket on the receiving executor. The only `unsafe` code of the crate.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, IntoRawFd, OwnedFd, RawFd};

use glommio::net::{TcpListener, TcpStream, UnixStream};

/// Duplicates the descriptor of `socket` (close-on-exec), so the socket outlives `socket`.
pub(crate) fn dup(socket: &impl AsRawFd) -> io::Result<OwnedFd> {
    let fd: RawFd = socket.as_raw_fd();
    #[allow(unsafe_code)]
    // SAFETY: `fd` belongs to `socket`, which is borrowed for the whole call, so the
    // descriptor stays open while it is borrowed; `try_clone_to_owned` only duplicates it.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    borrowed.try_clone_to_owned()
}

/// Adopts a connected TCP socket on the current executor.
pub(crate) fn adopt_tcp(fd: OwnedFd) -> TcpStream {
    let raw = fd.into_raw_fd();
    #[allow(unsafe_code)]
    // SAFETY: `raw` comes from an `OwnedFd` whose ownership `into_raw_fd` gave up, so the
    // new stream is its only owner; it is a connected TCP socket (from `accept` + `dup`).
    unsafe {
        <TcpStream as std::os::fd::FromRawFd>::from_raw_fd(raw)
    }
}

/// Adopts one end of a Unix socket pair (the control channel from the broker's handle).
pub(crate) fn adopt_unix(stream: std::os::unix::net::UnixStream) -> UnixStream {
    let raw = stream.into_raw_fd();
    #[allow(unsafe_code)]
    // SAFETY: `raw` comes from a std `UnixStream` that gave up ownership with
    // `into_raw_fd`, so the new stream is its only owner.
    unsafe {
        <UnixStream as std::os::fd::FromRawFd>::from_raw_fd(raw)
    }
}

/// Adopts a bound, listening TCP socket on the current executor.
pub(crate) fn adopt_listener(socket: socket2::Socket) -> TcpListener {
    let raw = socket.into_raw_fd();
    #[allow(unsafe_code)]
    // SAFETY: `raw` comes from a `socket2::Socket` that gave up ownership with
    // `into_raw_fd`, so the listener is its only owner; it is bound and listening.
    unsafe {
        <TcpListener as std::os::fd::FromRawFd>::from_raw_fd(raw)
    }
}
