//! CONTRACT §13: the test command passes on a fresh clone with nothing beside
//! it. Everything the supply-chain check reads (the RustSec advisory snapshot
//! included) must be in the repository, not in a sibling directory of the
//! build environment.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const MANIFEST_DIR: &str = env!("CARGO_MANIFEST_DIR");

fn run(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?} ({e}); install it (apt-get install git python3)"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = run(Command::new("git").arg("-C").arg(dir).args(args));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// An empty directory of its own under the system temp dir, removed on drop.
struct EmptyDir(PathBuf);

impl EmptyDir {
    fn new(tag: &str) -> EmptyDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let dir = std::env::temp_dir().join(format!(
            "felhom-{tag}-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir(&dir).unwrap();
        EmptyDir(dir)
    }
}

impl Drop for EmptyDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn supply_chain_check_passes_in_a_fresh_clone_with_nothing_beside_it() {
    let repo = Path::new(MANIFEST_DIR);
    let commit = git(repo, &["rev-parse", "--verify", "HEAD^{commit}"]);
    let tmp = EmptyDir::new("fresh-clone");
    let clone = tmp.0.join("felhom-agent");
    run(Command::new("git")
        .args(["clone", "--quiet", "--no-checkout"])
        .arg(repo)
        .arg(&clone));
    git(&clone, &["checkout", "--quiet", "--detach", &commit]);
    let beside: Vec<_> = std::fs::read_dir(&tmp.0).unwrap().collect();
    assert_eq!(beside.len(), 1, "the clone must have nothing beside it");

    let out = run(Command::new("python3")
        .arg("audit/check.py")
        .current_dir(&clone)
        .env_remove("FELHOM_ADVISORY_DB"));
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(report.contains("advisory snapshot"), "{report}");
    assert_eq!(
        git(&clone, &["status", "--porcelain"]),
        "",
        "the check must not change the clone"
    );
}

#[test]
fn only_the_refresh_script_names_the_build_environments_shared_directory() {
    let out = Command::new("git")
        .arg("-C")
        .arg(MANIFEST_DIR)
        .args(["grep", "-l", "-F", "../shared", "--", ".", ":!vendor"])
        .output()
        .unwrap();
    let files = String::from_utf8(out.stdout).unwrap();
    let files: Vec<&str> = files.lines().collect();
    assert_eq!(files, ["audit/refresh_advisories.py"]);
}
