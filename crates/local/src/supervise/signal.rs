//! Sending signals to processes and process groups, the one place that needs `kill(2)`.
//!
//! Why `unsafe` and why it is sound: `libc::kill` is an FFI call, so it is `unsafe` to call,
//! but it takes two plain integers and reads or writes no memory of ours, so no argument can
//! break memory safety. What this module upholds beyond that is *which* processes get a
//! signal: `kill` treats 0 as "my own process group" and -1 as "every process I may signal",
//! and 1 is init; those are refused here, so a signal only ever reaches the pid or the process
//! group of a child the supervisor started.
#![allow(unsafe_code)]

use std::io;

/// The signals the supervisor sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Signal {
    Term,
    Kill,
}

impl Signal {
    fn number(self) -> libc::c_int {
        match self {
            Signal::Term => libc::SIGTERM,
            Signal::Kill => libc::SIGKILL,
        }
    }
}

/// Sends `signal` to every process of the process group `pgid`.
pub(crate) fn signal_group(pgid: u32, signal: Signal) -> io::Result<()> {
    let pgid = child_pid(pgid)?;
    // SAFETY: plain integers, no memory involved; `pgid` > 1 so `-pgid` names one group.
    let rc = unsafe { libc::kill(-pgid, signal.number()) };
    result(rc)
}

/// Sends `signal` to the process `pid`.
pub(crate) fn signal_process(pid: u32, signal: Signal) -> io::Result<()> {
    let pid = child_pid(pid)?;
    // SAFETY: plain integers, no memory involved; `pid` > 1 names one process.
    let rc = unsafe { libc::kill(pid, signal.number()) };
    result(rc)
}

fn child_pid(pid: u32) -> io::Result<libc::pid_t> {
    libc::pid_t::try_from(pid)
        .ok()
        .filter(|p| *p > 1)
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("refusing to signal pid {pid}"),
            )
        })
}

fn result(rc: libc::c_int) -> io::Result<()> {
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_pids_that_mean_more_than_one_child() {
        for pid in [0, 1, u32::MAX] {
            assert_eq!(
                signal_group(pid, Signal::Term).map_err(|e| e.kind()),
                Err(io::ErrorKind::InvalidInput)
            );
            assert!(signal_process(pid, Signal::Kill).is_err());
        }
    }
}
