//! The Debian package under test, for `tests/package_*.rs`.
//!
//! `tests/run.sh` builds it once (`bash dist/deb.sh`) and passes its path in
//! `FELHOM_TEST_DEB`; without that variable (`cargo test` alone) the first
//! test that needs it runs `dist/deb.sh` itself (a release build: about a
//! minute from scratch, seconds when nothing changed).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

pub const MANIFEST_DIR: &str = env!("CARGO_MANIFEST_DIR");

pub fn run(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?} ({e}); install it (see tests/run.sh)"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

pub fn stdout(cmd: &mut Command) -> String {
    String::from_utf8(run(cmd).stdout).unwrap()
}

/// The `.deb` (built once per test binary when the test command did not).
pub fn deb() -> &'static Path {
    static DEB: OnceLock<PathBuf> = OnceLock::new();
    DEB.get_or_init(|| match std::env::var_os("FELHOM_TEST_DEB") {
        Some(path) => PathBuf::from(path),
        None => {
            let out = stdout(
                Command::new("bash")
                    .arg("dist/deb.sh")
                    .current_dir(MANIFEST_DIR),
            );
            PathBuf::from(out.trim())
        }
    })
}

/// The package unpacked (`dpkg-deb -R`: files, plus `DEBIAN/` with control,
/// conffiles, md5sums and the maintainer scripts), once per test binary.
pub fn unpacked() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("deb-unpacked-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        run(Command::new("dpkg-deb").arg("-R").arg(deb()).arg(&dir));
        dir
    })
}

/// A file of the package (`rel` without the leading `/`), as text.
pub fn packaged(rel: &str) -> String {
    std::fs::read_to_string(unpacked().join(rel))
        .unwrap_or_else(|e| panic!("the package lacks /{rel} ({e})"))
}

pub fn repo_file(rel: &str) -> Vec<u8> {
    std::fs::read(Path::new(MANIFEST_DIR).join(rel)).unwrap()
}

/// One `Field: value` of DEBIAN/control.
pub fn control_field(name: &str) -> String {
    let control = packaged("DEBIAN/control");
    control
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
        .unwrap_or_else(|| panic!("control lacks {name}:\n{control}"))
        .to_string()
}

/// Repository paths listed one a line in `dist/debian/{docs,examples}`.
pub fn listed(list: &str) -> Vec<String> {
    String::from_utf8(repo_file(list))
        .unwrap()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

/// The version line the packaged binary must print: the commit this tree
/// is checked out at, when it is a git checkout of its own.
pub fn expected_version_line() -> String {
    let git = |args: &[&str]| {
        Command::new("git")
            .arg("-C")
            .arg(MANIFEST_DIR)
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let top =
        git(&["rev-parse", "--show-toplevel"]).and_then(|t| Path::new(&t).canonicalize().ok());
    let here = Path::new(MANIFEST_DIR).canonicalize().ok();
    let source = match (top == here && here.is_some())
        .then(|| git(&["rev-parse", "--verify", "HEAD^{commit}"]))
        .flatten()
    {
        Some(commit) => format!("git commit {commit}"),
        None => "not built from a git checkout".to_string(),
    };
    format!("felhom-agent {} ({source})\n", env!("CARGO_PKG_VERSION"))
}

/// `systemd-analyze security --offline=yes` overall exposure of a unit file.
pub fn exposure(unit: &Path) -> f64 {
    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=yes", "--no-pager"])
        .arg(unit)
        .output()
        .unwrap_or_else(|e| {
            panic!("systemd-analyze not runnable ({e}); install it: apt-get install systemd")
        });
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find(|l| l.contains("Overall exposure level"))
        .and_then(|l| l.split(':').nth(1))
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("cannot read the exposure score of {unit:?} from:\n{text}"))
}
