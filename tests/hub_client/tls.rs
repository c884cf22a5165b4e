//! https: CA-bundle loading errors, and a real TLS server (Python `ssl`
//! with a certificate chain made by `openssl`) that the client trusts only
//! through the configured bundle.

use super::{KEY, config, no_key, sample_report};
use felhom_agent::hub::{CaProblem, HubClient, HubError};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const SERVER: &str = r#"
import http.server, ssl, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get('Content-Length', '0')))
        ok = self.headers.get('Authorization') == 'Bearer ' + sys.argv[3]
        body = b'{"poll_interval_seconds":120,"blocked":false,"desired_generation":null,"has_signed_ops":false}'
        self.send_response(200 if ok else 401)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(body)))
        self.send_header('Connection', 'close')
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[1], sys.argv[2])
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
print(srv.server_address[1], flush=True)
srv.serve_forever()
"#;

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("hub-tls-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn tool(name: &str, hint: &str) -> Command {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(found, "{name} is required for the TLS tests: {hint}");
    Command::new(name)
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = tool("openssl", "apt-get install openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA (`NAME-ca.pem`) and, if `leaf`, a server certificate for 127.0.0.1 signed by it.
fn make_ca(dir: &Path, name: &str, leaf: bool) {
    let ca_key = format!("{name}-ca.key");
    let ca = format!("{name}-ca.pem");
    let subj = format!("/CN={name} test CA");
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &ca_key,
            "-out",
            &ca,
            "-days",
            "2",
            "-subj",
            &subj,
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
    if leaf {
        std::fs::write(
            dir.join("leaf.ext"),
            "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        openssl(
            dir,
            &[
                "req",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-keyout",
                "leaf.key",
                "-out",
                "leaf.csr",
                "-subj",
                "/CN=127.0.0.1",
            ],
        );
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                "leaf.csr",
                "-CA",
                &ca,
                "-CAkey",
                &ca_key,
                "-CAcreateserial",
                "-out",
                "leaf.pem",
                "-days",
                "2",
                "-extfile",
                "leaf.ext",
            ],
        );
    }
}

/// The Python TLS server; killed on drop.
struct TlsServer {
    child: Child,
    port: u16,
}

impl TlsServer {
    fn start(dir: &Path) -> TlsServer {
        let mut child = tool("python3", "apt-get install python3")
            .args(["-c", SERVER])
            .arg(dir.join("leaf.pem"))
            .arg(dir.join("leaf.key"))
            .arg(KEY)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line.trim().parse().expect("server printed its port");
        TlsServer { child, port }
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn https_config(port: u16, ca_file: PathBuf) -> felhom_agent::config::HubConfig {
    let mut cfg = config(
        &format!("https://127.0.0.1:{port}"),
        Duration::from_secs(10),
    );
    cfg.ca_file = ca_file;
    cfg
}

#[test]
fn https_succeeds_with_the_issuing_ca_and_fails_as_tls_with_another() {
    let dir = scratch("chain");
    make_ca(&dir, "hub", true);
    make_ca(&dir, "other", false);
    let server = TlsServer::start(&dir);

    let trusted = HubClient::new(&https_config(server.port, dir.join("hub-ca.pem"))).unwrap();
    // The server answers 401 unless the bearer key arrived intact over TLS.
    let envelope = trusted.report(&sample_report()).unwrap();
    assert_eq!(envelope.poll_interval_seconds, 120);

    let untrusted = HubClient::new(&https_config(server.port, dir.join("other-ca.pem"))).unwrap();
    let err = no_key(untrusted.report(&sample_report()).unwrap_err());
    assert!(matches!(err, HubError::Tls(_)), "{err}");
    assert!(!err.is_transient());
}

fn ca_error(content: Option<&[u8]>) -> CaProblem {
    let dir = scratch("bundle");
    let path = dir.join("ca.pem");
    if let Some(bytes) = content {
        std::fs::write(&path, bytes).unwrap();
    }
    match HubClient::new(&https_config(443, path.clone())).unwrap_err() {
        HubError::CaFile { path: p, problem } => {
            assert_eq!(p, path);
            problem
        }
        other => panic!("expected CaFile, got {other}"),
    }
}

#[test]
fn unusable_ca_bundles_are_typed_errors_at_construction() {
    assert_eq!(
        ca_error(None),
        CaProblem::Read(std::io::ErrorKind::NotFound)
    );
    assert_eq!(ca_error(Some(b"")), CaProblem::NoCertificates);
    assert_eq!(
        ca_error(Some(b"this is not PEM at all\n")),
        CaProblem::NoCertificates
    );
    // Well-formed PEM whose DER is not a certificate.
    let junk = b"-----BEGIN CERTIFICATE-----\nAAECAwQFBgcICQ==\n-----END CERTIFICATE-----\n";
    assert_eq!(ca_error(Some(junk)), CaProblem::NoCertificates);
    // A section that never ends.
    let torn = b"-----BEGIN CERTIFICATE-----\nAAECAwQFBgcICQ==\n";
    assert!(matches!(ca_error(Some(torn)), CaProblem::Pem(_)));
    let big = vec![b'#'; felhom_agent::hub::MAX_CA_FILE_BYTES as usize + 1];
    assert_eq!(ca_error(Some(&big)), CaProblem::TooLarge);
}
