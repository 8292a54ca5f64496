//! Helpers shared by the security tests: scratch directories, certificate inspection and
//! `openssl verify`.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use x509_parser::prelude::{FromDer, X509Certificate};

/// A fresh directory under the system temp dir, removed on drop.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(name: &str) -> Scratch {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("weft-sec-{name}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        Scratch(dir)
    }

    pub fn path(&self, file: &str) -> PathBuf {
        self.0.join(file)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn der(pem_text: &str) -> Vec<u8> {
    pem::parse(pem_text).unwrap().into_contents()
}

/// Parses a PEM certificate and runs `f` on it.
pub fn with_cert<T>(pem_text: &str, f: impl FnOnce(&X509Certificate<'_>) -> T) -> T {
    let der = der(pem_text);
    let (_, cert) = X509Certificate::from_der(&der).unwrap();
    f(&cert)
}

/// Whether `child` carries a valid signature by `parent`'s key.
pub fn signed_by(child: &str, parent: &str) -> bool {
    let parent_der = der(parent);
    let (_, parent_cert) = X509Certificate::from_der(&parent_der).unwrap();
    with_cert(child, |c| {
        c.verify_signature(Some(parent_cert.public_key())).is_ok()
    })
}

pub fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// `openssl verify` of a leaf against a root through intermediates. Fails loudly when
/// openssl is missing: scripts/test installs it.
pub fn openssl_verify(dir: &Path, leaf: &str, intermediates: &[String], root: &str) {
    let write = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let leaf_path = write("verify-leaf.pem", leaf);
    let root_path = write("verify-root.pem", root);
    let mut cmd = Command::new("openssl");
    cmd.arg("verify").arg("-CAfile").arg(&root_path);
    if !intermediates.is_empty() {
        let chain_path = write("verify-chain.pem", &intermediates.concat());
        cmd.arg("-untrusted").arg(chain_path);
    }
    cmd.args(["-purpose", "sslserver"]).arg(&leaf_path);
    let out = cmd
        .output()
        .expect("openssl must be installed (scripts/test installs it)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains(": OK"),
        "openssl verify failed: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
