//! Whether io_uring can be used at all, asked before glommio is (glommio panics on a shard
//! thread when the kernel refuses io_uring).

use std::io;

/// Sets up and closes a one-entry io_uring. `Err` carries the OS error when the kernel
/// refuses: ENOSYS (built without io_uring), EPERM (`kernel.io_uring_disabled`, or a seccomp
/// filter as in Docker's default profile), ENOMEM (no locked memory for the ring).
pub(crate) fn io_uring_available() -> io::Result<()> {
    let mut params = rustix::io_uring::io_uring_params::default();
    #[allow(unsafe_code)]
    // SAFETY: `params` is a zeroed `io_uring_params` owned by this frame, which the kernel
    // only fills in; the ring's descriptor is owned by the returned `OwnedFd` and closed on
    // drop, and no ring memory is mapped.
    let ring = unsafe { rustix::io_uring::io_uring_setup(1, &mut params) };
    match ring {
        Ok(fd) => {
            drop(fd);
            Ok(())
        }
        Err(e) => {
            let e = io::Error::from(e);
            Err(io::Error::new(
                e.kind(),
                format!("io_uring is unavailable: {e}"),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    /// This machine has io_uring (the glommio tests need it too); the refusals are tested end
    /// to end in the root `tests/cli.rs` under a seccomp filter.
    #[test]
    fn io_uring_is_available_here() {
        assert!(super::io_uring_available().is_ok());
    }
}
