//! The only I/O of this crate: running `iptables-save` and `iptables-restore --noflush` (and
//! their ip6tables twins), and reading /etc/resolv.conf.

use std::io::Write;
use std::net::IpAddr;
use std::path::Path;
use std::process::{Command, Stdio};

use thiserror::Error;

use crate::clean::clean_script;
use crate::config::Family;
use crate::resolv::nameservers;
use crate::restore::RuleSet;

/// A failure to read or change the system's rules.
#[derive(Debug, Error)]
pub enum SystemError {
    #[error("{program} not found in PATH (install the iptables package)")]
    Missing { program: &'static str },
    #[error("running {program}: {source}")]
    Run {
        program: &'static str,
        source: std::io::Error,
    },
    #[error("{program} failed ({status}): {stderr}")]
    Failed {
        program: &'static str,
        status: String,
        stderr: String,
    },
    #[error("reading {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
}

fn save_program(family: Family) -> &'static str {
    match family {
        Family::V4 => "iptables-save",
        Family::V6 => "ip6tables-save",
    }
}

fn restore_program(family: Family) -> &'static str {
    match family {
        Family::V4 => "iptables-restore",
        Family::V6 => "ip6tables-restore",
    }
}

fn run(program: &'static str, args: &[&str], input: Option<&str>) -> Result<String, SystemError> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound => SystemError::Missing { program },
            _ => SystemError::Run { program, source },
        })?;
    if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
        stdin
            .write_all(text.as_bytes())
            .map_err(|source| SystemError::Run { program, source })?;
    }
    let output = child
        .wait_with_output()
        .map_err(|source| SystemError::Run { program, source })?;
    if !output.status.success() {
        return Err(SystemError::Failed {
            program,
            status: output.status.to_string(),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The current rules of `family` (`iptables-save` output).
pub fn save(family: Family) -> Result<String, SystemError> {
    run(save_program(family), &[], None)
}

/// Feeds `input` to `iptables-restore --noflush` (other rules are kept).
pub fn restore(family: Family, input: &str) -> Result<(), SystemError> {
    run(restore_program(family), &["--noflush"], Some(input)).map(|_| ())
}

/// The script that would remove the capture rules of `family` now; `None` when there are none.
pub fn pending_clean(family: Family) -> Result<Option<String>, SystemError> {
    Ok(clean_script(&save(family)?))
}

/// Removes the capture rules of `family`. Returns whether there was anything to remove.
pub fn clean(family: Family) -> Result<bool, SystemError> {
    match pending_clean(family)? {
        Some(script) => restore(family, &script).map(|()| true),
        None => Ok(false),
    }
}

/// Removes the capture rules of both families; IPv6 is skipped when ip6tables is not
/// installed. Returns the families that had rules.
pub fn clean_all() -> Result<Vec<Family>, SystemError> {
    let mut cleaned = Vec::new();
    for family in [Family::V4, Family::V6] {
        match clean(family) {
            Ok(true) => cleaned.push(family),
            Ok(false) => {}
            Err(SystemError::Missing { .. }) if family == Family::V6 => {}
            Err(e) => return Err(e),
        }
    }
    Ok(cleaned)
}

/// Applies each rule set after removing any capture rules already there, so applying twice
/// leaves one copy. If a rule set fails, what was applied of it is removed again.
pub fn apply(sets: &[RuleSet]) -> Result<(), SystemError> {
    for set in sets {
        clean(set.family)?;
        if let Err(e) = restore(set.family, &set.to_restore()) {
            // Best effort: the original error is the one worth reporting.
            let _ = clean(set.family);
            return Err(e);
        }
    }
    Ok(())
}

/// The nameservers of a resolv.conf file (normally /etc/resolv.conf).
pub fn resolv_conf_servers(path: &Path) -> Result<Vec<IpAddr>, SystemError> {
    std::fs::read_to_string(path)
        .map(|text| nameservers(&text))
        .map_err(|source| SystemError::Read {
            path: path.display().to_string(),
            source,
        })
}
