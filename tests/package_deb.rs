//! The Debian package `bash dist/deb.sh` builds, inspected with `dpkg-deb`
//! and `lintian` (CONTRACT §13): its layout, conffiles, control fields,
//! maintainer scripts, the unit inside it, and the binary's provenance.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "support/deb.rs"]
mod support;
use support::{
    control_field, deb, expected_version_line, exposure, listed, packaged, repo_file, run, stdout,
    unpacked,
};

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

/// `dpkg-deb -c`: path -> (mode string, owner/group, mtime "YYYY-MM-DD HH:MM").
fn members() -> BTreeMap<String, (String, String, String)> {
    let listing = stdout(
        Command::new("dpkg-deb")
            .arg("-c")
            .arg(deb())
            .env("TZ", "UTC"),
    );
    listing
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let path = f[5]
                .trim_start_matches('.')
                .trim_end_matches('/')
                .to_string();
            (
                path,
                (
                    f[0].to_string(),
                    f[1].to_string(),
                    format!("{} {}", f[3], f[4]),
                ),
            )
        })
        .collect()
}

const FILES: &[(&str, &str)] = &[
    ("/usr/bin/felhom-agent", "-rwxr-xr-x"),
    ("/usr/lib/systemd/system/felhom-agent.service", "-rw-r--r--"),
    ("/usr/lib/sysusers.d/felhom-agent.conf", "-rw-r--r--"),
    ("/etc/felhom-agent/agent.json", "-rw-r--r--"),
    ("/usr/share/doc/felhom-agent/copyright", "-rw-r--r--"),
    (
        "/usr/share/doc/felhom-agent/changelog.Debian.gz",
        "-rw-r--r--",
    ),
    ("/usr/share/doc/felhom-agent/README.md", "-rw-r--r--"),
    ("/usr/share/man/man8/felhom-agent.8.gz", "-rw-r--r--"),
];

#[test]
fn package_is_named_version_arch_and_lays_files_out_as_the_contract_says() {
    let version = control_field("Version");
    let arch = control_field("Architecture");
    let host_arch = stdout(Command::new("dpkg").arg("--print-architecture"));
    assert_eq!(arch, host_arch.trim());
    assert_eq!(control_field("Package"), "felhom-agent");
    let name = deb().file_name().unwrap().to_str().unwrap();
    assert_eq!(name, format!("felhom-agent_{version}_{arch}.deb"));
    assert!(deb().parent().unwrap().ends_with("target/debian"));
    let changelog = String::from_utf8(repo_file("dist/debian/changelog")).unwrap();
    assert!(changelog.starts_with(&format!("felhom-agent ({version}) ")));
    assert!(version.starts_with(&format!("{}-", env!("CARGO_PKG_VERSION"))));

    let members = members();
    for (path, mode) in FILES {
        let (m, _, _) = members
            .get(*path)
            .unwrap_or_else(|| panic!("package lacks {path}"));
        assert_eq!(m, mode, "{path}");
    }
    let allowed_roots = [
        "/usr/bin/felhom-agent",
        "/usr/lib/systemd/system/felhom-agent.service",
        "/usr/lib/sysusers.d/felhom-agent.conf",
        "/etc/felhom-agent",
        "/usr/share/doc/felhom-agent",
        "/usr/share/man/man8/felhom-agent.8.gz",
        "/usr/share/lintian/overrides/felhom-agent",
    ];
    for (path, (mode, owner, _)) in &members {
        assert_eq!(owner, "root/root", "{path} must be owned by root");
        if mode.starts_with('-') {
            assert!(
                allowed_roots.iter().any(|r| path.starts_with(r)),
                "unexpected file {path} in the package"
            );
        }
    }
    assert!(
        !members.keys().any(|p| p.starts_with("/var")),
        "the package must not own the state dir"
    );
}

#[test]
fn every_member_has_the_same_fixed_mtime() {
    let mtimes: std::collections::BTreeSet<String> =
        members().into_values().map(|(_, _, t)| t).collect();
    assert_eq!(mtimes.len(), 1, "mtimes differ: {mtimes:?}");
}

#[test]
fn listed_docs_and_examples_are_shipped_verbatim() {
    for (list, dir) in [
        ("dist/debian/docs", "usr/share/doc/felhom-agent"),
        (
            "dist/debian/examples",
            "usr/share/doc/felhom-agent/examples",
        ),
    ] {
        let paths = listed(list);
        assert!(!paths.is_empty(), "{list} lists nothing");
        for path in paths {
            let base = path.rsplit('/').next().unwrap();
            let shipped = std::fs::read(unpacked().join(dir).join(base))
                .unwrap_or_else(|e| panic!("{path} (from {list}) not in /{dir} ({e})"));
            assert_eq!(shipped, repo_file(&path), "{path} differs in the package");
        }
    }
    for example in [
        "agent.json",
        "operational.allowed_signers",
        "recovery.allowed_signers",
    ] {
        assert!(
            unpacked()
                .join("usr/share/doc/felhom-agent/examples")
                .join(example)
                .is_file(),
            "example {example} missing"
        );
    }
    assert_eq!(
        packaged("usr/share/doc/felhom-agent/copyright").as_bytes(),
        repo_file("dist/debian/copyright")
    );
}

#[test]
fn the_config_is_the_only_conffile() {
    assert_eq!(
        packaged("DEBIAN/conffiles"),
        "/etc/felhom-agent/agent.json\n"
    );
    assert_eq!(
        packaged("etc/felhom-agent/agent.json").as_bytes(),
        repo_file("dist/agent.json")
    );
}

#[test]
fn control_declares_the_runtime_dependencies() {
    let depends = control_field("Depends");
    assert!(depends.contains("libc6 (>= 2."), "{depends}");
    assert!(depends.contains("systemd"), "{depends}");
    let size: u64 = control_field("Installed-Size").parse().unwrap();
    let binary = std::fs::metadata(unpacked().join("usr/bin/felhom-agent")).unwrap();
    assert!(
        size >= binary.len() / 1024,
        "Installed-Size {size} KiB too small"
    );
}

#[test]
fn md5sums_cover_every_file() {
    let out = Command::new("md5sum")
        .args(["--check", "--strict", "--quiet", "DEBIAN/md5sums"])
        .current_dir(unpacked())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let listed = packaged("DEBIAN/md5sums").lines().count();
    let files = stdout(
        Command::new("find")
            .args([
                ".", "-path", "./DEBIAN", "-prune", "-o", "-type", "f", "-print",
            ])
            .current_dir(unpacked()),
    );
    assert_eq!(listed, files.lines().count());
}

/// Lines of a maintainer script that are code (no comments, no blanks).
fn code(script: &str) -> Vec<String> {
    packaged(&format!("DEBIAN/{script}"))
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

#[test]
fn maintainer_scripts_create_the_user_reload_systemd_and_never_start_the_agent() {
    for script in ["postinst", "prerm", "postrm"] {
        let path = unpacked().join("DEBIAN").join(script);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o755, "{script} mode");
        run(Command::new("sh").arg("-n").arg(&path));
        let lines = code(script);
        assert_eq!(
            lines.first().map(String::as_str),
            Some("set -e"),
            "{script}"
        );
        for line in &lines {
            for forbidden in [
                "systemctl start",
                "systemctl restart",
                "systemctl enable",
                "--now",
                "deb-systemd-invoke start",
            ] {
                assert!(
                    !line.contains(forbidden),
                    "{script} starts the agent: {line}"
                );
            }
            assert!(
                !(line.contains("rm ") && line.contains("/var/lib/felhom-agent")),
                "{script} deletes the state dir: {line}"
            );
            assert!(
                !line.contains("userdel") && !line.contains("deluser"),
                "{script} removes the user: {line}"
            );
        }
    }
    let postinst = code("postinst");
    assert!(
        postinst
            .iter()
            .any(|l| l == "systemd-sysusers felhom-agent.conf")
    );
    assert!(postinst.iter().any(|l| l == "systemctl daemon-reload"));
    assert!(code("postrm").iter().any(|l| l.contains("daemon-reload")));
}

#[test]
fn sysusers_entry_creates_the_felhom_agent_system_user() {
    let root = unpacked().with_extension("sysusers-root");
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(root.join("etc")).unwrap();
    run(Command::new("systemd-sysusers")
        .arg(format!("--root={}", root.display()))
        .arg(unpacked().join("usr/lib/sysusers.d/felhom-agent.conf")));
    let passwd = std::fs::read_to_string(root.join("etc/passwd")).unwrap();
    let entry = passwd
        .lines()
        .find(|l| l.starts_with("felhom-agent:"))
        .unwrap_or_else(|| panic!("no felhom-agent user in {passwd}"));
    let f: Vec<&str> = entry.split(':').collect();
    let uid: u32 = f[2].parse().unwrap();
    assert!((1..1000).contains(&uid), "not a system uid: {entry}");
    assert_eq!(f[6], "/usr/sbin/nologin", "{entry}");
    let group = std::fs::read_to_string(root.join("etc/group")).unwrap();
    assert!(group.lines().any(|l| l.starts_with("felhom-agent:")));
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn packaged_unit_is_the_shipped_unit_starting_usr_bin_and_scores_at_most_1_0() {
    let unit = packaged("usr/lib/systemd/system/felhom-agent.service");
    assert_eq!(unit.as_bytes(), repo_file("dist/felhom-agent.service"));
    let exec: Vec<&str> = unit
        .lines()
        .filter(|l| l.starts_with("ExecStart="))
        .collect();
    assert_eq!(
        exec,
        ["ExecStart=/usr/bin/felhom-agent --config /etc/felhom-agent/agent.json"]
    );
    let score = exposure(&unpacked().join("usr/lib/systemd/system/felhom-agent.service"));
    assert!(score <= 1.0, "packaged unit exposure {score} > 1.0");
}

#[test]
fn packaged_binary_names_its_commit_and_holds_no_build_path() {
    let bin = unpacked().join("usr/bin/felhom-agent");
    let out = stdout(Command::new(&bin).arg("--version"));
    assert_eq!(out, expected_version_line());
    let bytes = std::fs::read(&bin).unwrap();
    let src = std::fs::canonicalize(support::MANIFEST_DIR).unwrap();
    let mut leaks = vec![src.to_str().unwrap().to_string()];
    if let Some(home) = std::env::var_os("HOME").filter(|h| h.len() > 1) {
        leaks.push(format!("{}/.cargo", home.to_string_lossy()));
    }
    for leak in leaks {
        assert!(
            !bytes.windows(leak.len()).any(|w| w == leak.as_bytes()),
            "the binary contains the build path {leak}"
        );
    }
    assert!(
        bytes
            .windows(b"/usr/src/felhom-agent/".len())
            .any(|w| w == b"/usr/src/felhom-agent/"),
        "source paths are not remapped to /usr/src/felhom-agent"
    );
}

#[test]
fn lintian_reports_no_errors() {
    let out = Command::new("lintian")
        .args([
            "--fail-on",
            "error",
            "--allow-root",
            "--tag-display-limit",
            "0",
        ])
        .arg(deb())
        .output()
        .unwrap_or_else(|e| {
            panic!("lintian not runnable ({e}); install it: apt-get install lintian")
        });
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && !text.lines().any(|l| l.starts_with("E: ")),
        "lintian found errors:\n{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
