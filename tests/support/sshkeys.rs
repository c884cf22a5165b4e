//! Test helper around the real `ssh-keygen`: keys in temporary directories,
//! SSHSIG signatures with `-Y sign`, allowed_signers files, and the reference
//! verdict of `-Y verify`. Reuse with
//! `#[path = "support/sshkeys.rs"] mod sshkeys;`.
//!
//! A missing `ssh-keygen` fails the test with an install hint (no skip).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

const INSTALL_HINT: &str = "ssh-keygen not found: install OpenSSH (apt-get install openssh-client)";

/// A directory removed when dropped.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("felhom-test-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        // Signer files in it must not sit in a group/other-writable
        // directory (CONTRACT §3), whatever the umask.
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .unwrap();
        TempDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes `bytes` to `name` inside the directory; returns its path.
    pub fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.path.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

fn ssh_keygen() -> Command {
    let ok = Command::new("ssh-keygen")
        .arg("-?")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    assert!(ok, "{INSTALL_HINT}");
    Command::new("ssh-keygen")
}

/// An Ed25519 key pair made by `ssh-keygen`.
#[derive(Debug, Clone)]
pub struct Key {
    pub private: PathBuf,
    /// The `.pub` line: `ssh-ed25519 BASE64 COMMENT`.
    pub public_line: String,
}

impl Key {
    /// `ssh-ed25519 BASE64` without the comment.
    pub fn public(&self) -> String {
        self.public_line
            .split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// `SHA256:...` as `ssh-keygen -l` prints it.
    pub fn fingerprint(&self) -> String {
        let out = ssh_keygen()
            .arg("-l")
            .arg("-f")
            .arg(self.private.with_extension("pub"))
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout)
            .unwrap()
            .split_whitespace()
            .nth(1)
            .unwrap()
            .to_string()
    }
}

/// `ssh-keygen -t ed25519` into `dir/name`.
pub fn keygen(dir: &TempDir, name: &str) -> Key {
    let private = dir.path().join(name);
    let status = ssh_keygen()
        .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
        .arg(&private)
        .stdin(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "ssh-keygen -t ed25519 failed");
    let public_line = std::fs::read_to_string(private.with_extension("pub"))
        .unwrap()
        .trim()
        .to_string();
    Key {
        private,
        public_line,
    }
}

/// `ssh-keygen -Y sign -f KEY -n NAMESPACE [-O hashalg=H]` over `blob`;
/// returns the armored signature.
pub fn sign(
    dir: &TempDir,
    key: &Key,
    blob: &[u8],
    namespace: &str,
    hashalg: Option<&str>,
) -> Vec<u8> {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let blob_path = dir.write(&format!("blob-{n}"), blob);
    let mut cmd = ssh_keygen();
    cmd.args(["-q", "-Y", "sign", "-f"]).arg(&key.private);
    cmd.args(["-n", namespace]);
    if let Some(h) = hashalg {
        cmd.arg("-O").arg(format!("hashalg={h}"));
    }
    let out = cmd.arg(&blob_path).stdin(Stdio::null()).output().unwrap();
    assert!(
        out.status.success(),
        "ssh-keygen -Y sign failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sig_path = PathBuf::from(format!("{}.sig", blob_path.display()));
    let sig = std::fs::read(&sig_path).unwrap();
    let _ = std::fs::remove_file(sig_path);
    let _ = std::fs::remove_file(blob_path);
    sig
}

/// Writes an allowed_signers file from lines, mode 0644 (as installed).
pub fn write_allowed_signers(dir: &TempDir, name: &str, lines: &[String]) -> PathBuf {
    let mut text = lines.join("\n");
    text.push('\n');
    let path = dir.write(name, text.as_bytes());
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    path
}

/// The reference verdict: `ssh-keygen -Y verify -f FILE -I PRINCIPAL -n NS
/// -s SIG [-Overify-time=T] < BLOB` exits 0.
pub fn reference_verify(
    dir: &TempDir,
    allowed_signers: &Path,
    principal: &str,
    namespace: &str,
    sig: &[u8],
    blob: &[u8],
    verify_time: Option<&str>,
) -> bool {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let sig_path = dir.write(&format!("verify-{n}.sig"), sig);
    let mut cmd = ssh_keygen();
    cmd.args(["-Y", "verify", "-f"]).arg(allowed_signers);
    cmd.args(["-I", principal, "-n", namespace, "-s"])
        .arg(&sig_path);
    if let Some(t) = verify_time {
        cmd.arg(format!("-Overify-time={t}"));
    }
    let blob_path = dir.write(&format!("verify-{n}.blob"), blob);
    let ok = cmd
        .stdin(std::fs::File::open(&blob_path).unwrap())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap()
        .success();
    let _ = std::fs::remove_file(sig_path);
    let _ = std::fs::remove_file(blob_path);
    ok
}
