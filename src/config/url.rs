//! A minimal, strict URL form for the two endpoints the agent talks to:
//! `scheme://host[:port][/path]`, scheme `https` (or `http` for a loopback
//! hub). No user info, query or fragment: nothing that could smuggle a
//! credential or change meaning when paths are appended.

use std::fmt;
use std::net::IpAddr;

const MAX_URL_LEN: usize = 2048;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    https: bool,
    host: String,
    port: u16,
    /// No trailing slash; empty for the root.
    base_path: String,
    normalized: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UrlError {
    TooLong,
    Scheme,
    Host,
    Port,
    Forbidden(&'static str),
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UrlError::TooLong => write!(f, "URL longer than {MAX_URL_LEN} characters"),
            UrlError::Scheme => write!(f, "URL must start with https:// (or http:// for loopback)"),
            UrlError::Host => write!(f, "URL has no valid host"),
            UrlError::Port => write!(f, "URL port is not a number between 1 and 65535"),
            UrlError::Forbidden(what) => write!(f, "URL must not contain {what}"),
        }
    }
}

impl Endpoint {
    pub fn parse(text: &str) -> Result<Endpoint, UrlError> {
        if text.len() > MAX_URL_LEN {
            return Err(UrlError::TooLong);
        }
        let (https, rest) = if let Some(r) = text.strip_prefix("https://") {
            (true, r)
        } else if let Some(r) = text.strip_prefix("http://") {
            (false, r)
        } else {
            return Err(UrlError::Scheme);
        };
        if rest.contains('@') {
            return Err(UrlError::Forbidden("user info (@)"));
        }
        if rest.contains(['?', '#']) {
            return Err(UrlError::Forbidden("a query or fragment"));
        }
        if !rest.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(UrlError::Forbidden("spaces or non-ASCII characters"));
        }
        let (authority, path) = match rest.find('/') {
            Some(i) => (
                rest.get(..i).unwrap_or_default(),
                rest.get(i..).unwrap_or_default(),
            ),
            None => (rest, ""),
        };
        let (host, port_text) = split_host_port(authority)?;
        if host.is_empty() {
            return Err(UrlError::Host);
        }
        let port = match port_text {
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or(UrlError::Port)?,
            None if https => 443,
            None => 80,
        };
        let base_path = path.trim_end_matches('/').to_string();
        let scheme = if https { "https" } else { "http" };
        let host_for_url = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.to_string()
        };
        let normalized = format!("{scheme}://{host_for_url}:{port}{base_path}");
        Ok(Endpoint {
            https,
            host: host.to_string(),
            port,
            base_path,
            normalized,
        })
    }

    pub fn is_https(&self) -> bool {
        self.https
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `scheme://host:port[/base]`, no trailing slash; append `/api2/json/...`.
    pub fn as_str(&self) -> &str {
        &self.normalized
    }

    /// 127.0.0.0/8, ::1 or `localhost`.
    pub fn is_loopback(&self) -> bool {
        if self.host.eq_ignore_ascii_case("localhost") {
            return true;
        }
        self.host
            .parse::<IpAddr>()
            .map(|ip| ip.is_loopback())
            .unwrap_or(false)
    }
}

fn split_host_port(authority: &str) -> Result<(&str, Option<&str>), UrlError> {
    if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or(UrlError::Host)?;
        host.parse::<std::net::Ipv6Addr>()
            .map_err(|_| UrlError::Host)?;
        return match after {
            "" => Ok((host, None)),
            p => Ok((host, Some(p.strip_prefix(':').ok_or(UrlError::Port)?))),
        };
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (authority, None),
    };
    let host_ok = host
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_');
    if !host_ok {
        return Err(UrlError::Host);
    }
    Ok((host, port))
}
