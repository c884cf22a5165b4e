//! The HTTP status line's reason phrase, which ureq does not expose.
//!
//! Why: PVE 8.0–8.3 (libpve-http-server-perl before 5.2.0) writes an API
//! error's message only into the status line (`HTTP/1.1 500 VM is locked
//! (backup)`) and answers the body `{"data":null}`; pveproxy's 595/596
//! (node unreachable, connection broken) have an empty body on every
//! version. Without the reason phrase every lock, lock-timeout, digest and
//! permission error on those versions would be an anonymous "500".
//!
//! How: the last step of the connector chain wraps the TLS transport. When
//! the transport has sent a request, the next bytes it receives begin the
//! response (HTTP/1.1 without pipelining, no `Expect: 100-continue`); once
//! they hold a whole first line, its reason phrase is stored for the
//! calling thread. ureq's blocking API runs every transport call on the
//! thread that made the request, so [`take`] on that thread, after the
//! call returned, reads the phrase of exactly that response. [`clear`]
//! before each request makes a stale phrase impossible.
//!
//! Trusts nothing: the line is read from at most [`MAX_STATUS_LINE`] bytes,
//! must look like `HTTP/1.x NNN reason`, and the phrase is cut to
//! [`MAX_REASON_CHARS`] (non-UTF-8 bytes replaced). ureq parses the same
//! bytes again for status and headers; this module only observes them.

use std::cell::RefCell;
use std::fmt;

use ureq::unversioned::transport::{Buffers, ConnectionDetails, Connector, NextTimeout, Transport};

/// A status line longer than this is not PVE's (its reason is one line of
/// a Perl `die` message); the phrase is then not captured.
pub const MAX_STATUS_LINE: usize = 4096;
/// The phrase becomes an error message: bounded like every PVE message.
pub const MAX_REASON_CHARS: usize = super::error::MAX_MESSAGE_CHARS;

thread_local! {
    static REASON: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Forgets this thread's last captured phrase (call before a request).
pub(crate) fn clear() {
    REASON.with(|r| r.borrow_mut().take());
}

/// This thread's phrase of the last response, if any.
pub(crate) fn take() -> Option<String> {
    REASON.with(|r| r.borrow_mut().take())
}

fn store(reason: String) {
    REASON.with(|r| *r.borrow_mut() = Some(reason));
}

/// The reason phrase of the status line at the start of `input`:
/// `None` while the line is incomplete, `Some(None)` if it is complete but
/// not a status line (or too long), `Some(Some(phrase))` otherwise.
pub fn reason_phrase(input: &[u8]) -> Option<Option<String>> {
    let window = input
        .get(..input.len().min(MAX_STATUS_LINE))
        .unwrap_or(input);
    let Some(end) = window.iter().position(|b| *b == b'\n') else {
        return (input.len() >= MAX_STATUS_LINE).then_some(None);
    };
    let line = window.get(..end).unwrap_or_default();
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    Some(parse_line(line))
}

/// `HTTP/1.x SP 3DIGIT SP reason` → the reason (possibly empty).
fn parse_line(line: &[u8]) -> Option<String> {
    let rest = line.strip_prefix(b"HTTP/1.")?;
    let (version, rest) = rest.split_first()?;
    if !version.is_ascii_digit() {
        return None;
    }
    let rest = rest.strip_prefix(b" ")?;
    let (code, rest) = rest.split_at_checked(3)?;
    if !code.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let reason = match rest {
        [] => &[][..],
        [b' ', reason @ ..] => reason,
        _ => return None,
    };
    let text = String::from_utf8_lossy(reason);
    let text: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX_REASON_CHARS)
        .collect();
    Some(text.trim().to_string())
}

/// The chain's last step: wraps the TLS transport in a [`StatusLineTransport`].
#[derive(Debug, Default)]
pub(crate) struct StatusLineConnector;

impl<In: Transport> Connector<In> for StatusLineConnector {
    type Out = StatusLineTransport<In>;

    fn connect(
        &self,
        _details: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        Ok(chained.map(|inner| StatusLineTransport {
            inner,
            awaiting_status: false,
        }))
    }
}

/// Delegates everything; notes the first line received after a request.
pub(crate) struct StatusLineTransport<In: Transport> {
    inner: In,
    awaiting_status: bool,
}

impl<In: Transport> fmt::Debug for StatusLineTransport<In> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StatusLineTransport")
            .finish_non_exhaustive()
    }
}

impl<In: Transport> Transport for StatusLineTransport<In> {
    fn buffers(&mut self) -> &mut dyn Buffers {
        self.inner.buffers()
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        self.awaiting_status = true;
        self.inner.transmit_output(amount, timeout)
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        let progressed = self.inner.await_input(timeout)?;
        if self.awaiting_status
            && let Some(found) = reason_phrase(self.inner.buffers().input())
        {
            self.awaiting_status = false;
            if let Some(reason) = found {
                store(reason);
            }
        }
        Ok(progressed)
    }

    fn is_open(&mut self) -> bool {
        self.inner.is_open()
    }

    fn is_tls(&self) -> bool {
        self.inner.is_tls()
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
mod tests {
    use super::*;

    #[test]
    fn the_reason_of_a_complete_status_line_is_read() {
        let r = |s: &[u8]| reason_phrase(s);
        assert_eq!(
            r(b"HTTP/1.1 500 VM is locked (backup)\r\nServer: pve\r\n"),
            Some(Some("VM is locked (backup)".into()))
        );
        assert_eq!(
            r(b"HTTP/1.0 595 No route to host\r\n"),
            Some(Some("No route to host".into()))
        );
        assert_eq!(r(b"HTTP/1.1 200\r\n"), Some(Some(String::new())));
        assert_eq!(r(b"HTTP/1.1 200 \r\n"), Some(Some(String::new())));
        assert_eq!(
            r(b"HTTP/1.1 500 tab\there\n"),
            Some(Some("tab here".into()))
        );
    }

    #[test]
    fn an_incomplete_line_waits_and_a_foreign_one_is_ignored() {
        assert_eq!(reason_phrase(b"HTTP/1.1 500 VM is"), None);
        assert_eq!(reason_phrase(b""), None);
        for bad in [
            &b"HTTP/2 500 x\r\n"[..],
            b"HTTP/1.1 50 x\r\n",
            b"HTTP/1.1 5000 x\r\n",
            b"HTTP/1.1 abc x\r\n",
            b"HTTP/1.1500 x\r\n",
            b"SSH-2.0-OpenSSH\r\n",
            b"\r\n",
        ] {
            assert_eq!(reason_phrase(bad), Some(None), "{bad:?}");
        }
        let long = vec![b'x'; MAX_STATUS_LINE + 1];
        assert_eq!(reason_phrase(&long), Some(None));
    }

    #[test]
    fn the_phrase_is_bounded_and_printable() {
        let mut line = b"HTTP/1.1 500 ".to_vec();
        line.extend(std::iter::repeat_n(b'a', MAX_STATUS_LINE - 20));
        line.extend(b"\r\n");
        let got = reason_phrase(&line).unwrap().unwrap();
        assert_eq!(got.chars().count(), MAX_REASON_CHARS);
        let got = reason_phrase(b"HTTP/1.1 500 caf\xc3\xa9 \xff\x1b[31m\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(got, "café \u{fffd} [31m");
    }

    /// Mutation fuzzing: every prefix, every byte flipped, never a panic,
    /// never more than the bound.
    #[test]
    fn mutated_status_lines_never_panic_and_stay_bounded() {
        let seed = b"HTTP/1.1 403 Permission check failed (/vms/100, VM.PowerMgmt)\r\nX: y\r\n";
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for round in 0..20_000 {
            let mut input = seed.to_vec();
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let at = (state as usize) % input.len();
            input[at] = (state >> 32) as u8;
            if round % 3 == 0 {
                input.truncate((state >> 16) as usize % (input.len() + 1));
            }
            if let Some(Some(r)) = reason_phrase(&input) {
                assert!(r.chars().count() <= MAX_REASON_CHARS);
                assert!(!r.contains('\n') && !r.contains('\r'));
            }
        }
    }

    #[test]
    fn the_phrase_is_per_thread_and_taken_once() {
        clear();
        store("mine".into());
        std::thread::spawn(|| assert_eq!(take(), None))
            .join()
            .unwrap();
        assert_eq!(take(), Some("mine".into()));
        assert_eq!(take(), None);
    }
}
