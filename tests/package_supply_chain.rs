//! CONTRACT §13: the test command passes on a fresh clone with nothing beside
//! it. Everything the supply-chain check reads (the RustSec advisory snapshot
//! included) must be in the repository, not in a sibling directory of the
//! build environment. And the check catches what would make the carried
//! snapshot or the generated inventories (SBOM, Debian copyright) lie.
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
    let out = cmd.output().unwrap_or_else(|e| {
        panic!("cannot run {cmd:?} ({e}); install it (apt-get install git python3)")
    });
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
        let dir = std::env::temp_dir().join(format!("felhom-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir(&dir).unwrap();
        EmptyDir(dir)
    }
}

impl Drop for EmptyDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A `git clone` of the repository at its `HEAD` commit, alone in an empty
/// temp dir: what a new user gets. (Uncommitted changes are not in it.)
fn fresh_clone(tag: &str) -> (EmptyDir, PathBuf) {
    let repo = Path::new(MANIFEST_DIR);
    let commit = git(repo, &["rev-parse", "--verify", "HEAD^{commit}"]);
    let tmp = EmptyDir::new(tag);
    let clone = tmp.0.join("felhom-agent");
    run(Command::new("git")
        .args(["clone", "--quiet", "--no-checkout"])
        .arg(repo)
        .arg(&clone));
    git(&clone, &["checkout", "--quiet", "--detach", &commit]);
    let beside: Vec<_> = std::fs::read_dir(&tmp.0).unwrap().collect();
    assert_eq!(beside.len(), 1, "the clone must have nothing beside it");
    (tmp, clone)
}

fn check(clone: &Path) -> Output {
    Command::new("python3")
        .arg("audit/check.py")
        .current_dir(clone)
        .output()
        .unwrap_or_else(|e| panic!("python3 not runnable ({e}); apt-get install python3"))
}

fn assert_check_fails(clone: &Path, needle: &str) {
    let out = check(clone);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "check passed:\n{stderr}");
    assert!(stderr.contains(needle), "expected {needle:?} in:\n{stderr}");
}

fn edit(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{} lacks {from:?}", path.display());
    std::fs::write(path, text.replacen(from, to, 1)).unwrap();
}

#[test]
fn supply_chain_check_passes_in_a_fresh_clone_with_nothing_beside_it() {
    let (_tmp, clone) = fresh_clone("fresh-clone");
    let out = check(&clone);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(report.contains("advisory snapshot"), "{report}");
    assert_eq!(
        git(&clone, &["status", "--porcelain"]),
        "",
        "the check must not change the clone"
    );
}

/// The build environment keeps a full advisory database beside the repository;
/// only the refresh script may name it. The pattern is a regular expression
/// whose own text does not match it, so this file is searched like any other.
#[test]
fn only_the_refresh_script_names_the_build_environments_shared_directory() {
    let out = Command::new("git")
        .arg("-C")
        .arg(MANIFEST_DIR)
        .args(["grep", "-l", "-E", r"\.\./shared", "--", "."])
        .args([":!vendor"])
        .output()
        .unwrap();
    let files = String::from_utf8(out.stdout).unwrap();
    let files: Vec<&str> = files.lines().collect();
    assert_eq!(files, ["audit/refresh_advisories.py"]);
}

#[test]
fn a_locked_crate_the_advisory_snapshot_does_not_cover_fails_the_check() {
    // As after adding a dependency without refreshing: the snapshot was taken
    // without looking for `ring` advisories.
    let (_tmp, clone) = fresh_clone("uncovered");
    edit(
        &clone.join("audit/advisory-db/SNAPSHOT.json"),
        "\"ring\",\n",
        "",
    );
    assert_check_fails(&clone, "not covered by the RustSec snapshot");
    assert_check_fails(&clone, "ring");
}

#[test]
fn a_removed_or_edited_advisory_fails_the_check() {
    let (_tmp, clone) = fresh_clone("tampered");
    let ring = clone.join("audit/advisory-db/crates/ring");
    let first = std::fs::read_dir(&ring)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    edit(&first, "patched = [", "patched = [\">= 0.0.0\", ");
    assert_check_fails(&clone, "changed by hand");
    std::fs::remove_file(&first).unwrap();
    assert_check_fails(&clone, "differs from SNAPSHOT.json");
}

#[test]
fn an_affected_locked_version_fails_the_check() {
    // The carried rustls advisory, edited (and re-hashed) to cover the locked
    // version: proves the snapshot is really consulted.
    let (_tmp, clone) = fresh_clone("affected");
    let adv = clone.join("audit/advisory-db/crates/rustls/RUSTSEC-2024-0336.md");
    edit(&adv, "patched = [\">= 0.23.5\"", "patched = [\">= 99.0.0\"");
    let digest = run(Command::new("sha256sum").arg(&adv));
    let digest = String::from_utf8_lossy(&digest.stdout);
    let digest = digest.split_whitespace().next().unwrap();
    let meta = clone.join("audit/advisory-db/SNAPSHOT.json");
    let text = std::fs::read_to_string(&meta).unwrap();
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    let old = doc["advisories"]["crates/rustls/RUSTSEC-2024-0336.md"]
        .as_str()
        .unwrap();
    edit(&meta, old, digest);
    assert_check_fails(&clone, "is affected by RUSTSEC-2024-0336");
}

#[test]
fn stale_sbom_or_debian_copyright_fails_the_check() {
    let (_tmp, clone) = fresh_clone("stale");
    edit(
        &clone.join("audit/sbom.cdx.json"),
        "\"SHA-256\"",
        "\"SHA-1\"",
    );
    assert_check_fails(&clone, "audit/sbom.cdx.json is stale");
    run(Command::new("git")
        .arg("-C")
        .arg(&clone)
        .args(["checkout", "--", "audit/sbom.cdx.json"]));
    edit(
        &clone.join("dist/debian/copyright"),
        "License: ISC",
        "License: GPL-3",
    );
    assert_check_fails(&clone, "dist/debian/copyright is stale");
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn advisory(id: &str, package: &str) -> String {
    format!(
        "```toml\n[advisory]\nid = \"{id}\"\npackage = \"{package}\"\ndate = \"2030-01-01\"\n\n\
         [versions]\npatched = [\">= 0.0.1\"]\n```\n\n# A test advisory\n"
    )
}

fn refresh(clone: &Path, db: &Path) -> Output {
    Command::new("python3")
        .arg("audit/refresh_advisories.py")
        .arg(db)
        .current_dir(clone)
        .output()
        .unwrap()
}

fn snapshot(clone: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(clone.join("audit/advisory-db/SNAPSHOT.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn refresh_script_carries_only_locked_crates_advisories_and_names_the_source_commit() {
    let (tmp, clone) = fresh_clone("refresh");
    let db = tmp.0.join("advisory-db");
    write(
        &db.join("crates/ring/RUSTSEC-2099-0001.md"),
        &advisory("RUSTSEC-2099-0001", "ring"),
    );
    write(
        &db.join("crates/not-locked-here/RUSTSEC-2099-0002.md"),
        &advisory("RUSTSEC-2099-0002", "not-locked-here"),
    );
    write(&db.join("LICENSE.txt"), "CC0\n");

    // A git checkout: the commit and its date come from git.
    let dbgit = |args: &[&str]| {
        run(Command::new("git")
            .arg("-C")
            .arg(&db)
            .args(["-c", "user.name=t", "-c", "user.email=t@example.org"])
            .args(args)
            .env("GIT_COMMITTER_DATE", "2030-01-02T03:04:05Z")
            .env("GIT_AUTHOR_DATE", "2030-01-02T03:04:05Z"))
    };
    dbgit(&["init", "--quiet"]);
    dbgit(&["add", "."]);
    dbgit(&["commit", "--quiet", "-m", "advisories"]);
    let commit = git(&db, &["rev-parse", "HEAD"]);
    let out = refresh(&clone, &db);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta = snapshot(&clone);
    assert_eq!(meta["commit"], commit.as_str());
    assert_eq!(meta["date"], "2030-01-02");
    assert!(
        meta["identified_by"]
            .as_str()
            .unwrap()
            .contains("git rev-parse HEAD")
    );
    let files: Vec<&String> = meta["advisories"].as_object().unwrap().keys().collect();
    assert_eq!(files, ["crates/ring/RUSTSEC-2099-0001.md"]);
    let covered = meta["covered_crates"].as_array().unwrap();
    assert!(covered.iter().any(|c| c == "ring"));
    assert!(!covered.iter().any(|c| c == "felhom-agent"));
    run(Command::new("python3")
        .args(["audit/check.py", "--write"])
        .current_dir(&clone));
    let out = check(&clone);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let advisories_md = std::fs::read_to_string(clone.join("audit/ADVISORIES.md")).unwrap();
    assert!(advisories_md.contains(&commit), "{advisories_md}");

    // An export without git metadata: its SNAPSHOT.txt names the commit.
    std::fs::remove_dir_all(db.join(".git")).unwrap();
    let exported = "f".repeat(40);
    write(
        &db.join("SNAPSHOT.txt"),
        &format!("Snapshot of the RustSec advisory database, commit {exported} of 2031-02-03.\n"),
    );
    let out = refresh(&clone, &db);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta = snapshot(&clone);
    assert_eq!(meta["commit"], exported.as_str());
    assert_eq!(meta["date"], "2031-02-03");
    assert!(
        meta["identified_by"]
            .as_str()
            .unwrap()
            .contains("SNAPSHOT.txt")
    );

    // Neither: it refuses rather than guess.
    std::fs::remove_file(db.join("SNAPSHOT.txt")).unwrap();
    let out = refresh(&clone, &db);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--commit and --date"));
}
