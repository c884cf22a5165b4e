//! A scriptable stub hub for tests: plain HTTP/1.1 on 127.0.0.1, one
//! request per connection (every answer says `Connection: close`), one
//! thread per connection so a delayed answer blocks nothing else.
//!
//! Include it with `#[path = "support/stub_hub.rs"] mod stub_hub;`.
//!
//! ```ignore
//! let hub = StubHub::start();
//! hub.on("POST", "/api/v1/host-report", Reply::json(200, r#"{...}"#));
//! hub.once("GET", "/api/v1/hosts/h/jobs", Reply::status(500));   // first call only
//! hub.on_fn("DELETE", "/api/v1/hosts/h/jobs/*", |req| Reply::status(204));
//! // ... run the client against hub.url() ...
//! let reqs = hub.requests_to("POST", "/api/v1/host-report");
//! assert_eq!(reqs[0].header("authorization"), Some("Bearer KEY"));
//! ```
//!
//! Routing: method plus exact path, or a path ending in `*` as a prefix.
//! One-shot replies (`once`) are used first, in order, then the standing
//! reply (`on`/`on_fn`). Unrouted requests get 404. Every request is
//! recorded (method, path, headers, body) before any delay, and the number
//! of answer bytes the stub managed to write is recorded when it is done.
//! Dropping the hub stops it and joins every thread (delays are cut short).
#![allow(dead_code)]

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Request heads larger than this are answered 431 and dropped.
const MAX_HEAD_BYTES: usize = 64 * 1024;
/// Request bodies larger than this are refused (the agent sends reports of a few KiB).
const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;
/// A client that stops sending for this long is dropped.
const READ_TIMEOUT: Duration = Duration::from_secs(10);
const STREAM_CHUNK: usize = 64 * 1024;

/// A recorded request.
#[derive(Clone, Debug)]
pub struct Recorded {
    /// Position in arrival order, starting at 0.
    pub index: usize,
    pub method: String,
    pub path: String,
    /// In arrival order, names as sent.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Bytes of the answer written, once the answer is finished.
    pub answer_bytes_written: Option<u64>,
}

impl Recorded {
    /// The first header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON (panics if it is not JSON: a test failure).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("request body is JSON")
    }
}

/// How the stub answers.
#[derive(Clone, Debug)]
pub enum Shape {
    /// Status line, headers, `Content-Length`, body.
    Normal,
    /// Close the connection without writing anything.
    Close,
    /// Write these bytes (not HTTP) and close.
    Garbage(Vec<u8>),
    /// A 200-style answer of `len` filler bytes (`x`), streamed; with or
    /// without a `Content-Length` header (without: delimited by close).
    Oversized { len: u64, declare_length: bool },
    /// Declare `declared` bytes of body, send only the reply's body, close.
    Truncated { declared: u64 },
    /// Send the head and the first half of the body, then stall this long.
    StallBody(Duration),
}

/// One scripted answer.
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Wait this long (after recording the request) before answering.
    pub delay: Duration,
    pub shape: Shape,
}

impl Reply {
    pub fn status(status: u16) -> Reply {
        Reply::bytes(status, Vec::new())
    }

    pub fn bytes(status: u16, body: Vec<u8>) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body,
            delay: Duration::ZERO,
            shape: Shape::Normal,
        }
    }

    /// A JSON answer (`Content-Type: application/json`).
    pub fn json(status: u16, body: &str) -> Reply {
        Reply::bytes(status, body.as_bytes().to_vec()).header("Content-Type", "application/json")
    }

    pub fn json_value(status: u16, value: &serde_json::Value) -> Reply {
        Reply::json(status, &value.to_string())
    }

    pub fn close() -> Reply {
        Reply::status(0).shape(Shape::Close)
    }

    pub fn garbage(bytes: &[u8]) -> Reply {
        Reply::status(0).shape(Shape::Garbage(bytes.to_vec()))
    }

    pub fn oversized(status: u16, len: u64, declare_length: bool) -> Reply {
        Reply::status(status).shape(Shape::Oversized {
            len,
            declare_length,
        })
    }

    pub fn truncated(status: u16, body: &[u8], declared: u64) -> Reply {
        Reply::bytes(status, body.to_vec()).shape(Shape::Truncated { declared })
    }

    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    pub fn delayed(mut self, delay: Duration) -> Reply {
        self.delay = delay;
        self
    }

    pub fn shape(mut self, shape: Shape) -> Reply {
        self.shape = shape;
        self
    }
}

pub type Handler = Arc<dyn Fn(&Recorded) -> Reply + Send + Sync>;

struct Route {
    method: String,
    path: String,
    once: VecDeque<Reply>,
    standing: Option<Handler>,
}

impl Route {
    fn matches(&self, method: &str, path: &str) -> bool {
        self.method.eq_ignore_ascii_case(method)
            && match self.path.strip_suffix('*') {
                Some(prefix) => path.starts_with(prefix),
                None => self.path == path,
            }
    }
}

#[derive(Default)]
struct Shared {
    stop: AtomicBool,
    routes: Mutex<Vec<Route>>,
    requests: Mutex<Vec<Recorded>>,
    workers: Mutex<Vec<JoinHandle<()>>>,
}

/// The running stub. Stops on drop.
pub struct StubHub {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl StubHub {
    pub fn start() -> StubHub {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let shared = Arc::new(Shared::default());
        let acceptor = {
            let shared = Arc::clone(&shared);
            std::thread::spawn(move || accept_loop(&listener, &shared))
        };
        StubHub {
            addr,
            shared,
            acceptor: Some(acceptor),
        }
    }

    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The standing reply for `method path` (replaces an earlier one).
    pub fn on(&self, method: &str, path: &str, reply: Reply) {
        self.on_fn(method, path, move |_| reply.clone());
    }

    /// A standing handler computing the reply from the request.
    pub fn on_fn(
        &self,
        method: &str,
        path: &str,
        handler: impl Fn(&Recorded) -> Reply + Send + Sync + 'static,
    ) {
        self.with_route(method, path, |r| r.standing = Some(Arc::new(handler)));
    }

    /// A one-shot reply, used before the standing one (FIFO).
    pub fn once(&self, method: &str, path: &str, reply: Reply) {
        self.with_route(method, path, |r| r.once.push_back(reply));
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.requests.lock().expect("lock").clone()
    }

    pub fn requests_to(&self, method: &str, path: &str) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| r.method == method && r.path == path)
            .collect()
    }

    /// Polls until `done(requests)` holds or `limit` passes; returns whether it held.
    pub fn wait_until(&self, limit: Duration, done: impl Fn(&[Recorded]) -> bool) -> bool {
        let start = Instant::now();
        loop {
            if done(&self.requests()) {
                return true;
            }
            if start.elapsed() > limit {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn with_route(&self, method: &str, path: &str, edit: impl FnOnce(&mut Route)) {
        let mut routes = self.shared.routes.lock().expect("lock");
        let existing = routes
            .iter_mut()
            .find(|r| r.method.eq_ignore_ascii_case(method) && r.path == path);
        match existing {
            Some(route) => edit(route),
            None => {
                let mut route = Route {
                    method: method.to_string(),
                    path: path.to_string(),
                    once: VecDeque::new(),
                    standing: None,
                };
                edit(&mut route);
                routes.push(route);
            }
        }
    }
}

impl Drop for StubHub {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept.
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.acceptor.take() {
            let _ = t.join();
        }
        let workers = std::mem::take(&mut *self.shared.workers.lock().expect("lock"));
        for w in workers {
            let _ = w.join();
        }
    }
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    for stream in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(stream) = stream else { continue };
        let shared_for_worker = Arc::clone(shared);
        let worker = std::thread::spawn(move || serve(stream, &shared_for_worker));
        let mut workers = shared.workers.lock().expect("lock");
        // Finished connections need no join; keep the list short in long runs.
        workers.retain(|w| !w.is_finished());
        workers.push(worker);
    }
}

fn serve(mut stream: TcpStream, shared: &Shared) {
    let _ = stream.set_read_timeout(Some(READ_TIMEOUT));
    let Some((method, path, headers, body)) = read_request(&mut stream) else {
        return;
    };
    let index = {
        let mut requests = shared.requests.lock().expect("lock");
        let index = requests.len();
        requests.push(Recorded {
            index,
            method,
            path,
            headers,
            body,
            answer_bytes_written: None,
        });
        index
    };
    let request = shared.requests.lock().expect("lock")[index].clone();
    let reply = pick_reply(shared, &request);
    if !sleep_unless_stopped(reply.delay, &shared.stop) {
        return;
    }
    let written = write_reply(&mut stream, &reply, &shared.stop);
    let _ = stream.shutdown(std::net::Shutdown::Both);
    shared.requests.lock().expect("lock")[index].answer_bytes_written = Some(written);
}

fn pick_reply(shared: &Shared, request: &Recorded) -> Reply {
    let handler = {
        let mut routes = shared.routes.lock().expect("lock");
        // Exact routes win over prefix routes.
        let pos = routes
            .iter()
            .position(|r| !r.path.ends_with('*') && r.matches(&request.method, &request.path))
            .or_else(|| {
                routes
                    .iter()
                    .position(|r| r.matches(&request.method, &request.path))
            });
        let Some(route) = pos.and_then(|p| routes.get_mut(p)) else {
            return Reply::json(404, r#"{"error":"no route"}"#);
        };
        if let Some(reply) = route.once.pop_front() {
            return reply;
        }
        route.standing.clone()
    };
    match handler {
        Some(h) => h(request),
        None => Reply::json(404, r#"{"error":"no reply scripted"}"#),
    }
}

type Request = (String, String, Vec<(String, String)>, Vec<u8>);

fn read_request(stream: &mut TcpStream) -> Option<Request> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p;
        }
        if buf.len() > MAX_HEAD_BYTES {
            let _ = stream.write_all(b"HTTP/1.1 431 Too Large\r\nConnection: close\r\n\r\n");
            return None;
        }
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let method = first.next()?.to_string();
    let path = first.next()?.to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    let length = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    if length > MAX_BODY_BYTES {
        return None;
    }
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    body.truncate(length);
    Some((method, path, headers, body))
}

/// Sleeps in small steps; false if the hub was stopped meanwhile.
fn sleep_unless_stopped(total: Duration, stop: &AtomicBool) -> bool {
    let start = Instant::now();
    while start.elapsed() < total {
        if stop.load(Ordering::SeqCst) {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5).min(total));
    }
    !stop.load(Ordering::SeqCst)
}

fn head(reply: &Reply, length: Option<u64>) -> Vec<u8> {
    let mut head = format!("HTTP/1.1 {} Stub\r\nConnection: close\r\n", reply.status);
    for (n, v) in &reply.headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    if let Some(len) = length {
        head.push_str(&format!("Content-Length: {len}\r\n"));
    }
    head.push_str("\r\n");
    head.into_bytes()
}

struct Counted<'a> {
    stream: &'a mut TcpStream,
    written: u64,
}

impl Counted<'_> {
    fn send(&mut self, bytes: &[u8]) -> bool {
        match self.stream.write_all(bytes) {
            Ok(()) => {
                self.written += bytes.len() as u64;
                true
            }
            Err(_) => false,
        }
    }
}

/// Writes the answer; returns the bytes the peer accepted.
fn write_reply(stream: &mut TcpStream, reply: &Reply, stop: &AtomicBool) -> u64 {
    let mut out = Counted { stream, written: 0 };
    let body_len = reply.body.len() as u64;
    match &reply.shape {
        Shape::Normal => {
            let _ = out.send(&head(reply, Some(body_len))) && out.send(&reply.body);
        }
        Shape::Close => {}
        Shape::Garbage(bytes) => {
            let _ = out.send(bytes);
        }
        Shape::Oversized {
            len,
            declare_length,
        } => {
            if out.send(&head(reply, declare_length.then_some(*len))) {
                let filler = vec![b'x'; STREAM_CHUNK];
                let mut left = *len;
                while left > 0 && !stop.load(Ordering::SeqCst) {
                    let n = left.min(STREAM_CHUNK as u64);
                    if !out.send(&filler[..n as usize]) {
                        break;
                    }
                    left -= n;
                }
            }
        }
        Shape::Truncated { declared } => {
            let _ = out.send(&head(reply, Some(*declared))) && out.send(&reply.body);
        }
        Shape::StallBody(stall) => {
            let half = reply.body.len() / 2;
            if out.send(&head(reply, Some(body_len))) && out.send(&reply.body[..half]) {
                let _ = out.stream.flush();
                if sleep_unless_stopped(*stall, stop) {
                    let _ = out.send(&reply.body[half..]);
                }
            }
        }
    }
    out.written
}
