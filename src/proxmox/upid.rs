//! PVE task identifiers (UPIDs).
//!
//! Format (PVE::Tools::upid_decode), nine `:`-separated fields, the last empty:
//!
//! ```text
//! UPID:{node}:{pid:8 hex}:{pstart:8-9 hex}:{starttime:8 hex}:{type}:{id}:{user}:
//! UPID:pve1:000003E8:00001B58:6B025D56:qmshutdown:100:felhom@pve!agent:
//! ```
//!
//! The node a task runs on is read from its UPID, and status is polled on
//! that node. A parsed UPID is printable ASCII without whitespace, so it is
//! safe to log and to place (percent-encoded) in a URL path.

use std::fmt;

/// Real UPIDs are under 128 bytes; the bound keeps hostile input small.
pub const MAX_UPID_LEN: usize = 256;
/// PVE node names are DNS labels.
const MAX_NODE_LEN: usize = 63;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Upid {
    text: String,
    node_end: usize,
    task_type: String,
    id: String,
    user: String,
    starttime: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpidError {
    TooLong,
    NotPrintable,
    Prefix,
    FieldCount,
    Node,
    Hex(&'static str),
    Empty(&'static str),
}

impl fmt::Display for UpidError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UpidError::TooLong => write!(f, "UPID longer than {MAX_UPID_LEN} bytes"),
            UpidError::NotPrintable => write!(f, "UPID has whitespace or non-ASCII bytes"),
            UpidError::Prefix => write!(f, "UPID does not start with 'UPID:' or end with ':'"),
            UpidError::FieldCount => write!(f, "UPID does not have 8 fields"),
            UpidError::Node => write!(f, "UPID node is not a valid node name"),
            UpidError::Hex(field) => write!(f, "UPID field {field} is not hexadecimal"),
            UpidError::Empty(field) => write!(f, "UPID field {field} is empty"),
        }
    }
}

impl std::error::Error for UpidError {}

impl Upid {
    pub fn parse(text: &str) -> Result<Upid, UpidError> {
        if text.len() > MAX_UPID_LEN {
            return Err(UpidError::TooLong);
        }
        if !text.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(UpidError::NotPrintable);
        }
        let body = text
            .strip_prefix("UPID:")
            .and_then(|r| r.strip_suffix(':'))
            .ok_or(UpidError::Prefix)?;
        let fields: Vec<&str> = body.split(':').collect();
        let [node, pid, pstart, start, task_type, id, user] = fields.as_slice() else {
            return Err(UpidError::FieldCount);
        };
        if !valid_node(node) {
            return Err(UpidError::Node);
        }
        hex_field(pid, 8, 8, "pid")?;
        hex_field(pstart, 8, 9, "pstart")?;
        let starttime = hex_field(start, 8, 8, "starttime")?;
        if task_type.is_empty() {
            return Err(UpidError::Empty("type"));
        }
        if user.is_empty() {
            return Err(UpidError::Empty("user"));
        }
        Ok(Upid {
            text: text.to_string(),
            node_end: "UPID:".len() + node.len(),
            task_type: (*task_type).to_string(),
            id: (*id).to_string(),
            user: (*user).to_string(),
            starttime,
        })
    }

    /// The node the task runs on (its status lives there).
    pub fn node(&self) -> &str {
        self.text.get("UPID:".len()..self.node_end).unwrap_or("")
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// `qmstart`, `vzshutdown`, `qmdestroy`, ...
    pub fn task_type(&self) -> &str {
        &self.task_type
    }

    /// The task's object id (the vmid for guest tasks; may be empty).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Who started the task (`user@realm!token`).
    pub fn user(&self) -> &str {
        &self.user
    }

    /// Unix time the task started.
    pub fn starttime(&self) -> u64 {
        self.starttime
    }
}

impl fmt::Display for Upid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// A PVE node name: a DNS label (letters, digits, inner hyphens).
pub fn valid_node(node: &str) -> bool {
    let bytes = node.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= MAX_NODE_LEN
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
        && bytes.first().is_some_and(u8::is_ascii_alphanumeric)
        && bytes.last().is_some_and(u8::is_ascii_alphanumeric)
}

fn hex_field(text: &str, min: usize, max: usize, name: &'static str) -> Result<u64, UpidError> {
    if text.len() < min || text.len() > max || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(UpidError::Hex(name));
    }
    u64::from_str_radix(text, 16).map_err(|_| UpidError::Hex(name))
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

    const REAL: &str = "UPID:pve1:000003E8:00001B58:6B025D56:qmshutdown:100:felhom@pve!agent:";

    #[test]
    fn parses_fields_and_node() {
        let u = Upid::parse(REAL).unwrap();
        assert_eq!(u.node(), "pve1");
        assert_eq!(u.task_type(), "qmshutdown");
        assert_eq!(u.id(), "100");
        assert_eq!(u.user(), "felhom@pve!agent");
        assert_eq!(u.starttime(), 0x6B02_5D56);
        assert_eq!(u.as_str(), REAL);
        let nine = "UPID:n-1:0000A1B2:0123ABCDE:65000000:vzdump::root@pam:";
        assert_eq!(Upid::parse(nine).unwrap().id(), "");
    }

    #[test]
    fn rejects_malformed() {
        let cases = [
            ("", UpidError::Prefix),
            (
                "UPID:pve1:000003E8:00001B58:6B025D56:qmstart:100:root@pam",
                UpidError::Prefix,
            ),
            (
                "UPID:pve1:3E8:00001B58:6B025D56:qmstart:100:root@pam:",
                UpidError::Hex("pid"),
            ),
            (
                "UPID:-x:000003E8:00001B58:6B025D56:qmstart:100:root@pam:",
                UpidError::Node,
            ),
            (
                "UPID:pve1:000003E8:00001B58:6B025D56:qmstart:100:",
                UpidError::FieldCount,
            ),
            (
                "UPID:pve1:000003E8:00001B58:6B025D56::100:root@pam:",
                UpidError::Empty("type"),
            ),
            (
                "UPID:pve 1:000003E8:00001B58:6B025D56:t:1:u:",
                UpidError::NotPrintable,
            ),
            (
                "UPID:../x:000003E8:00001B58:6B025D56:t:1:u:",
                UpidError::Node,
            ),
        ];
        for (text, want) in cases {
            assert_eq!(Upid::parse(text), Err(want), "{text}");
        }
        assert_eq!(
            Upid::parse(&format!("{REAL}{}", "a".repeat(300))),
            Err(UpidError::TooLong)
        );
    }
}
