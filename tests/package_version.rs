//! `felhom-agent --version` names the release and the git commit the binary
//! was built from (CONTRACT §6, issue: a reviewer must know which source a
//! binary came from), and says so plainly when it was not built from git.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;
use std::process::Command;

const MANIFEST_DIR: &str = env!("CARGO_MANIFEST_DIR");

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(MANIFEST_DIR)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("git not runnable ({e}); install it: apt-get install git"));
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The commit this source tree is checked out at, when the manifest
/// directory is the top level of a git work tree (not a tarball unpacked
/// inside some other repository).
fn checked_out_commit() -> Option<String> {
    let top = git(&["rev-parse", "--show-toplevel"])?;
    let same =
        Path::new(&top).canonicalize().ok()? == Path::new(MANIFEST_DIR).canonicalize().ok()?;
    if !same {
        return None;
    }
    git(&["rev-parse", "--verify", "HEAD^{commit}"])
}

#[test]
fn version_prints_the_release_and_the_commit_it_was_built_from() {
    let out = Command::new(env!("CARGO_BIN_EXE_felhom-agent"))
        .arg("--version")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let expected = match checked_out_commit() {
        Some(commit) => {
            assert_eq!(commit.len(), 40, "unexpected commit id {commit:?}");
            format!(
                "felhom-agent {} (git commit {commit})\n",
                env!("CARGO_PKG_VERSION")
            )
        }
        None => format!(
            "felhom-agent {} (not built from a git checkout)\n",
            env!("CARGO_PKG_VERSION")
        ),
    };
    assert_eq!(stdout, expected);
}

#[test]
fn short_version_flag_prints_the_same_line() {
    let run = |flag: &str| {
        Command::new(env!("CARGO_BIN_EXE_felhom-agent"))
            .arg(flag)
            .output()
            .unwrap()
    };
    let long = run("--version");
    let short = run("-V");
    assert_eq!(short.status.code(), Some(0));
    assert_eq!(short.stdout, long.stdout);
}
