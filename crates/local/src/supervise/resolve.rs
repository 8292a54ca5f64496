//! Finding the program of a process: next to the running `weft` binary first (so a build
//! directory's own tools win), then on `PATH`.

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Why a process could not be started.
#[derive(Debug, thiserror::Error)]
pub enum SuperviseError {
    /// The program is neither next to the current executable nor on `PATH`.
    #[error("cannot start {program:?}: not found (looked in {looked_in})")]
    NotFound { program: String, looked_in: String },
    /// The working directory given for the process cannot be used.
    #[error("cannot start {program:?}: working directory {}: {source}", dir.display())]
    WorkingDir {
        program: String,
        dir: PathBuf,
        source: io::Error,
    },
    /// The operating system refused to start the program.
    #[error("cannot start {program:?}: {source}")]
    Start { program: String, source: io::Error },
}

/// The path to run for `program`: a name with a `/` is used as given; a bare name is looked up
/// in the directory of the current executable, then in each `PATH` directory.
pub fn resolve_program(program: &str) -> Result<PathBuf, SuperviseError> {
    if program.contains('/') {
        return Ok(PathBuf::from(program));
    }
    let exe_dir = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(Path::to_path_buf));
    let path = std::env::var_os("PATH");
    if !program.is_empty() {
        let path_dirs = path.iter().flat_map(std::env::split_paths);
        for dir in exe_dir.iter().cloned().chain(path_dirs) {
            // An empty PATH entry means the current directory to a shell; it is skipped so
            // that a file there cannot shadow a real program.
            if dir.as_os_str().is_empty() {
                continue;
            }
            let candidate = dir.join(program);
            if is_executable_file(&candidate) {
                return Ok(candidate);
            }
        }
    }
    let looked_in = match (&exe_dir, path.is_some()) {
        (Some(dir), true) => format!("{} and PATH", dir.display()),
        (Some(dir), false) => format!("{}; PATH is not set", dir.display()),
        (None, true) => "PATH".to_string(),
        (None, false) => "nowhere: PATH is not set".to_string(),
    };
    Err(SuperviseError::NotFound {
        program: program.to_string(),
        looked_in,
    })
}

fn is_executable_file(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_used_as_given() {
        let path = resolve_program("./does/not/exist").expect("as is");
        assert_eq!(path, Path::new("./does/not/exist"));
    }

    #[test]
    fn bare_names_are_found_on_path() {
        let sh = resolve_program("sh").expect("sh is on PATH");
        assert!(sh.is_absolute() && sh.ends_with("sh"), "{}", sh.display());
    }

    #[test]
    fn missing_programs_say_where_they_were_looked_for() {
        let err = resolve_program("weft-no-such-program").expect_err("missing");
        let exe_dir = std::env::current_exe().expect("exe");
        let exe_dir = exe_dir.parent().expect("dir");
        assert_eq!(
            err.to_string(),
            format!(
                "cannot start \"weft-no-such-program\": not found (looked in {} and PATH)",
                exe_dir.display()
            )
        );
    }

    #[test]
    fn an_empty_name_is_not_found() {
        assert!(matches!(
            resolve_program(""),
            Err(SuperviseError::NotFound { .. })
        ));
    }
}
