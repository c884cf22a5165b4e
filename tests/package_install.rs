//! The package installed for real with `dpkg -i` and purged with
//! `dpkg --purge` (CONTRACT §13), on a throwaway root machine such as CI.
//!
//! Needs root: elsewhere it is skipped with a message saying so (the only
//! skip in the suite). It refuses to run where felhom-agent is already
//! installed, and it never starts the service. It leaves the machine as it
//! found it: the user and state directory it caused are removed at the end.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "support/deb.rs"]
mod support;
use support::{deb, expected_version_line, repo_file, run, stdout};

use std::fs::File;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const STATE_DIR: &str = "/var/lib/felhom-agent";
const MARKER: &str = "/var/lib/felhom-agent/package-test-marker";
const UNIT: &str = "/usr/lib/systemd/system/felhom-agent.service";

fn is_root() -> bool {
    stdout(Command::new("id").arg("-u")).trim() == "0"
}

/// `dpkg ARGS`, waiting while another dpkg or apt holds the dpkg lock.
fn dpkg(args: &[&str]) {
    for _ in 0..90 {
        let out = Command::new("dpkg").args(args).output().unwrap();
        if out.status.success() {
            return;
        }
        let err = String::from_utf8_lossy(&out.stderr);
        if !err.contains("lock") {
            panic!(
                "dpkg {args:?} failed:\n{}\n{err}",
                String::from_utf8_lossy(&out.stdout)
            );
        }
        std::thread::sleep(Duration::from_secs(2));
    }
    panic!("dpkg {args:?}: the dpkg lock stayed held for 3 minutes");
}

fn installed() -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${db:Status-Status}", "felhom-agent"])
        .output()
        .map(|o| o.status.success() && String::from_utf8_lossy(&o.stdout) != "not-installed")
        .unwrap_or(false)
}

/// `getent passwd felhom-agent` fields, if the user exists.
fn passwd_entry() -> Option<Vec<String>> {
    let out = Command::new("getent")
        .args(["passwd", "felhom-agent"])
        .output()
        .unwrap();
    out.status.success().then(|| {
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .split(':')
            .map(str::to_string)
            .collect()
    })
}

fn group_exists() -> bool {
    Command::new("getent")
        .args(["group", "felhom-agent"])
        .output()
        .unwrap()
        .status
        .success()
}

/// Paths of regular files the package ships (from `dpkg-deb -c`).
fn packaged_files() -> Vec<String> {
    stdout(Command::new("dpkg-deb").arg("-c").arg(deb()))
        .lines()
        .filter(|l| l.starts_with('-'))
        .map(|l| {
            l.split_whitespace()
                .nth(5)
                .unwrap()
                .trim_start_matches('.')
                .to_string()
        })
        .collect()
}

fn enablement_links() -> Vec<String> {
    let Ok(dirs) = std::fs::read_dir("/etc/systemd/system") else {
        return Vec::new();
    };
    dirs.filter_map(Result::ok)
        .map(|d| d.path().join("felhom-agent.service"))
        .filter(|p| p.symlink_metadata().is_ok())
        .map(|p| p.display().to_string())
        .collect()
}

fn agent_processes() -> Vec<String> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter(|e| {
            std::fs::read_link(e.path().join("exe"))
                .map(|exe| exe.to_string_lossy().starts_with("/usr/bin/felhom-agent"))
                .unwrap_or(false)
        })
        .map(|e| e.file_name().to_string_lossy().to_string())
        .collect()
}

/// Undoes what the test caused, also when an assertion fails half-way.
struct Restore {
    user_before: bool,
    state_before: bool,
}

impl Drop for Restore {
    fn drop(&mut self) {
        if installed() {
            let _ = Command::new("dpkg")
                .args(["--purge", "felhom-agent"])
                .status();
        }
        let _ = std::fs::remove_file(MARKER);
        if !self.state_before {
            let _ = std::fs::remove_dir_all(STATE_DIR);
        }
        if !self.user_before && passwd_entry().is_some() {
            let _ = Command::new("userdel").arg("felhom-agent").status();
        }
        if !self.user_before && group_exists() {
            let _ = Command::new("groupdel").arg("felhom-agent").status();
        }
    }
}

fn check_installed() {
    let user = passwd_entry().expect("dpkg -i did not create the felhom-agent user");
    let uid: u32 = user[2].parse().unwrap();
    assert!((1..1000).contains(&uid), "not a system user: {user:?}");
    assert_eq!(user[6], "/usr/sbin/nologin");
    assert!(group_exists());

    let bin = std::fs::metadata("/usr/bin/felhom-agent").unwrap();
    assert_eq!((bin.uid(), bin.permissions().mode() & 0o7777), (0, 0o755));
    assert_eq!(
        std::fs::read(UNIT).unwrap(),
        repo_file("dist/felhom-agent.service")
    );
    assert_eq!(
        std::fs::read("/etc/felhom-agent/agent.json").unwrap(),
        repo_file("dist/agent.json")
    );
    assert!(Path::new("/usr/lib/sysusers.d/felhom-agent.conf").is_file());
    assert!(Path::new("/usr/share/doc/felhom-agent/copyright").is_file());

    // What `systemctl cat` shows, found the way systemd finds it, and loadable
    // by systemd (syntax, the ExecStart binary exists).
    let cat = stdout(
        Command::new("systemd-analyze").args(["cat-config", "systemd/system/felhom-agent.service"]),
    );
    assert!(cat.contains("ExecStart=/usr/bin/felhom-agent "), "{cat}");
    assert!(cat.contains("User=felhom-agent"), "{cat}");
    run(Command::new("systemd-analyze").args(["verify", UNIT]));
    if Path::new("/run/systemd/system").is_dir() {
        let cat = stdout(Command::new("systemctl").args(["cat", "felhom-agent.service"]));
        assert!(cat.contains("ExecStart=/usr/bin/felhom-agent "), "{cat}");
        let active = Command::new("systemctl")
            .args(["is-active", "felhom-agent.service"])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&active.stdout).trim(), "inactive");
    }
    assert_eq!(
        enablement_links(),
        Vec::<String>::new(),
        "install enabled the unit"
    );
    assert_eq!(
        agent_processes(),
        Vec::<String>::new(),
        "install started the agent"
    );

    let state = std::fs::metadata(STATE_DIR).expect("postinst did not create the state dir");
    assert_eq!(state.uid(), uid);
    assert_eq!(state.permissions().mode() & 0o7777, 0o700);

    let version = stdout(Command::new("/usr/bin/felhom-agent").arg("--version"));
    assert_eq!(version, expected_version_line());
}

#[test]
fn dpkg_install_creates_the_user_and_starts_nothing_and_purge_keeps_only_the_state_dir() {
    if !is_root() {
        eprintln!(
            "SKIPPED: installing the package needs root on a throwaway machine \
             (CI runs the test command as root); the package contents are checked \
             by tests/package_deb.rs"
        );
        return;
    }
    // One install test at a time on this machine (several checkouts may run
    // the test command at once).
    let lock = File::create("/run/lock/felhom-agent-package-test.lock")
        .or_else(|_| File::create("/tmp/felhom-agent-package-test.lock"))
        .unwrap();
    lock.lock().unwrap();
    assert!(
        !installed(),
        "felhom-agent is already installed on this machine; this test installs and purges \
         it, so run it where it is not installed (dpkg --purge felhom-agent)"
    );
    let files = packaged_files();
    let _restore = Restore {
        user_before: passwd_entry().is_some(),
        state_before: Path::new(STATE_DIR).exists(),
    };

    dpkg(&["-i", deb().to_str().unwrap()]);
    check_installed();
    // The state dir holds the journal of consumed nonces; purge must keep it.
    std::fs::write(MARKER, b"journal stand-in\n").unwrap();

    dpkg(&["--purge", "felhom-agent"]);
    assert!(!installed());
    for file in &files {
        assert!(
            Path::new(file).symlink_metadata().is_err(),
            "purge left {file}"
        );
    }
    for dir in ["/etc/felhom-agent", "/usr/share/doc/felhom-agent"] {
        assert!(!Path::new(dir).exists(), "purge left {dir}");
    }
    assert_eq!(enablement_links(), Vec::<String>::new());
    assert_eq!(
        std::fs::read(MARKER).expect("purge removed the state dir"),
        b"journal stand-in\n"
    );
    // The user stays with the state dir it owns (a freed uid could be reused).
    assert!(
        passwd_entry().is_some(),
        "purge removed the user owning the state dir"
    );
}
