//! `systemd`: the service manager protocol, with std only.
//!
//! - `sd_notify`: one datagram to `$NOTIFY_SOCKET` (a filesystem path, or an
//!   abstract socket written `@name`), carrying `READY=1`, `WATCHDOG=1` or
//!   `STATUS=...`. Without `$NOTIFY_SOCKET` notifications are no-ops, so the
//!   same binary runs by hand.
//! - The watchdog interval from `$WATCHDOG_USEC` (honouring `$WATCHDOG_PID`).
//!
//! Credentials (`$CREDENTIALS_DIRECTORY`) are resolved by `config`, journald
//! priority prefixes by `logging`.

use std::io;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

/// A STATUS= line longer than this is cut: it is a one-line summary.
const MAX_STATUS_LEN: usize = 512;

/// Where notifications go. Built from the environment once at start.
#[derive(Debug, Clone)]
pub struct Notifier {
    socket: Option<String>,
}

impl Notifier {
    /// Reads `$NOTIFY_SOCKET`.
    pub fn from_env() -> Notifier {
        Notifier::new(
            std::env::var("NOTIFY_SOCKET")
                .ok()
                .filter(|s| !s.is_empty()),
        )
    }

    /// A notifier for an explicit socket address (`/path` or `@abstract`).
    pub fn new(socket: Option<String>) -> Notifier {
        Notifier { socket }
    }

    pub fn is_active(&self) -> bool {
        self.socket.is_some()
    }

    /// `READY=1`: start-up (including journal recovery) is complete.
    pub fn ready(&self) -> io::Result<()> {
        self.send("READY=1")
    }

    /// `WATCHDOG=1`: the main loop is alive.
    pub fn watchdog(&self) -> io::Result<()> {
        self.send("WATCHDOG=1")
    }

    /// `STATUS=...`: a one-line human summary (newlines become spaces).
    pub fn status(&self, text: &str) -> io::Result<()> {
        let mut line: String = text
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .take(MAX_STATUS_LEN)
            .collect();
        line.insert_str(0, "STATUS=");
        self.send(&line)
    }

    fn send(&self, message: &str) -> io::Result<()> {
        let Some(socket) = &self.socket else {
            return Ok(());
        };
        let addr = match socket.strip_prefix('@') {
            Some(name) => SocketAddr::from_abstract_name(name.as_bytes())?,
            None if socket.starts_with('/') => SocketAddr::from_pathname(socket)?,
            None => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "NOTIFY_SOCKET must be an absolute path or @abstract",
                ));
            }
        };
        let sock = UnixDatagram::unbound()?;
        let sent = sock.send_to_addr(message.as_bytes(), &addr)?;
        if sent != message.len() {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                "short notify datagram",
            ));
        }
        Ok(())
    }
}

/// The watchdog timeout requested by systemd, if it is meant for this process.
pub fn watchdog_interval() -> Option<Duration> {
    let usec = std::env::var("WATCHDOG_USEC").ok()?;
    if let Ok(pid) = std::env::var("WATCHDOG_PID")
        && pid.trim().parse::<u32>().ok()? != std::process::id()
    {
        return None;
    }
    parse_watchdog_usec(&usec)
}

/// `WATCHDOG_USEC` as a duration; zero or garbage means no watchdog.
pub fn parse_watchdog_usec(text: &str) -> Option<Duration> {
    let usec: u64 = text.trim().parse().ok()?;
    (usec > 0).then(|| Duration::from_micros(usec))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notifications_arrive_on_a_path_socket_in_order() -> io::Result<()> {
        let dir = std::env::temp_dir().join(format!("felhom-notify-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let path = dir.join("notify.sock");
        let _ = std::fs::remove_file(&path);
        let server = UnixDatagram::bind(&path)?;
        let n = Notifier::new(Some(path.display().to_string()));
        n.ready()?;
        n.watchdog()?;
        n.status("pass ok\n3 actions")?;
        let mut buf = [0u8; 1024];
        let mut got = Vec::new();
        for _ in 0..3 {
            let len = server.recv(&mut buf)?;
            got.push(String::from_utf8_lossy(buf.get(..len).unwrap_or_default()).into_owned());
        }
        assert_eq!(got, ["READY=1", "WATCHDOG=1", "STATUS=pass ok 3 actions"]);
        std::fs::remove_dir_all(&dir)
    }

    #[test]
    fn notifications_reach_an_abstract_socket() -> io::Result<()> {
        let name = format!("felhom-notify-test-{}", std::process::id());
        let addr = SocketAddr::from_abstract_name(name.as_bytes())?;
        let server = UnixDatagram::bind_addr(&addr)?;
        Notifier::new(Some(format!("@{name}"))).ready()?;
        let mut buf = [0u8; 64];
        let len = server.recv(&mut buf)?;
        assert_eq!(buf.get(..len), Some(&b"READY=1"[..]));
        Ok(())
    }

    #[test]
    fn without_a_socket_notify_is_a_no_op() {
        assert!(Notifier::new(None).ready().is_ok());
    }

    #[test]
    fn relative_socket_path_is_refused() {
        assert!(Notifier::new(Some("relative".into())).ready().is_err());
    }

    #[test]
    fn watchdog_usec_parses() {
        assert_eq!(
            parse_watchdog_usec("30000000"),
            Some(Duration::from_secs(30))
        );
        assert_eq!(parse_watchdog_usec("0"), None);
        assert_eq!(parse_watchdog_usec("x"), None);
    }
}
