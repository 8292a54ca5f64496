//! Files holding secrets: written 0600 from the moment they exist (never widened and narrowed
//! later), replaced atomically so a reader sees the old or the new content, never half.

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

/// A file operation that failed, with the path it was about.
#[derive(Debug, thiserror::Error)]
#[error("{}: cannot {action}: {source}", path.display())]
pub struct FileError {
    pub path: PathBuf,
    pub action: &'static str,
    #[source]
    pub source: std::io::Error,
}

impl FileError {
    pub(crate) fn new(path: &Path, action: &'static str, source: std::io::Error) -> FileError {
        FileError {
            path: path.to_path_buf(),
            action,
            source,
        }
    }
}

/// Writes `contents` to `path` with mode `mode`: into a sibling temporary file created with
/// that mode, then renamed over `path`.
pub fn write_with_mode(path: &Path, contents: &[u8], mode: u32) -> Result<(), FileError> {
    let tmp = temporary_sibling(path);
    // A leftover from a crash would make create_new fail; it holds nothing we need.
    let _ = std::fs::remove_file(&tmp);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .map_err(|e| FileError::new(&tmp, "create", e))?;
    file.write_all(contents)
        .and_then(|()| file.sync_all())
        .map_err(|e| FileError::new(&tmp, "write", e))?;
    drop(file);
    std::fs::rename(&tmp, path).map_err(|e| FileError::new(path, "replace", e))
}

/// Writes a private key or token: readable and writable by the owner only.
pub fn write_private(path: &Path, contents: &[u8]) -> Result<(), FileError> {
    write_with_mode(path, contents, 0o600)
}

/// Writes a certificate: public, readable by all.
pub fn write_public(path: &Path, contents: &[u8]) -> Result<(), FileError> {
    write_with_mode(path, contents, 0o644)
}

/// Creates `dir` (and its parents) accessible to the owner only; an existing directory is
/// left as it is.
pub fn create_private_dir(dir: &Path) -> Result<(), FileError> {
    use std::os::unix::fs::DirBuilderExt as _;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| FileError::new(dir, "create the directory", e))
}

pub fn read_text(path: &Path) -> Result<String, FileError> {
    std::fs::read_to_string(path).map_err(|e| FileError::new(path, "read", e))
}

fn temporary_sibling(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".tmp-{}", std::process::id()));
    path.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    #[test]
    fn private_files_are_0600_even_when_replacing_a_wider_file() {
        let dir = std::env::temp_dir().join(format!("weft-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("key.pem");
        write_public(&path, b"old").expect("write");
        write_private(&path, b"new").expect("write");
        let meta = std::fs::metadata(&path).expect("stat");
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::read(&path).expect("read"), b"new");
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}
