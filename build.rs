//! Build script: records which source the binary is built from, for `--version`.
//!
//! Owns: the compile-time variable `FELHOM_BUILD_SOURCE`, either
//! `git commit <40 hex digits>` or `not built from a git checkout`.
//!
//! Trusts: the `git` on `PATH`, asked only two read-only questions (the work
//! tree's top level and the commit `HEAD` resolves to). No dependency.
//!
//! Invariants:
//! - The commit is reported only when this package's directory is itself the
//!   top level of a git work tree: a release tarball unpacked inside some other
//!   repository is "not built from a git checkout", not that repository's
//!   commit.
//! - Reproducible: the value depends on the checked-out commit only (no time,
//!   host, path or user), so two builds of one commit embed the same bytes.
//! - Never fails the build: without git, or outside a checkout, it says so.
//! - Uncommitted changes are not detected (Cargo cannot rerun a build script
//!   on every edit); release builds come from a clean checkout (dist/deb.sh).
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    String::from_utf8(out.stdout)
        .ok()
        .map(|s| s.trim().to_string())
}

fn is_commit_id(s: &str) -> bool {
    s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The commit `HEAD` resolves to, when `dir` is the top of a work tree.
fn checked_out_commit(dir: &Path) -> Option<String> {
    let top = PathBuf::from(git(dir, &["rev-parse", "--show-toplevel"])?);
    if top.canonicalize().ok()? != dir.canonicalize().ok()? {
        return None;
    }
    git(dir, &["rev-parse", "--verify", "HEAD^{commit}"]).filter(|c| is_commit_id(c))
}

/// Files whose change moves `HEAD`: `HEAD` itself (a checkout), the branch
/// it names (a commit), and `packed-refs` (a branch packed by `git gc`).
/// `--git-path` resolves them for linked work trees too.
fn head_files(dir: &Path) -> Vec<PathBuf> {
    let mut names = vec!["HEAD".to_string(), "packed-refs".to_string()];
    if let Some(branch) = git(dir, &["symbolic-ref", "--quiet", "HEAD"]) {
        names.push(branch);
    }
    names
        .iter()
        .filter_map(|name| git(dir, &["rev-parse", "--git-path", name]))
        .map(|p| dir.join(p))
        .filter(|p| p.exists())
        .collect()
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let Some(dir) = std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from) else {
        println!("cargo:rustc-env=FELHOM_BUILD_SOURCE=not built from a git checkout");
        return;
    };
    match checked_out_commit(&dir) {
        Some(commit) => {
            for file in head_files(&dir) {
                println!("cargo:rerun-if-changed={}", file.display());
            }
            println!("cargo:rustc-env=FELHOM_BUILD_SOURCE=git commit {commit}");
        }
        None => println!("cargo:rustc-env=FELHOM_BUILD_SOURCE=not built from a git checkout"),
    }
}
