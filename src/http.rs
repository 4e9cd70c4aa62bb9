//! A minimal HTTP/1.1 on a socket: read one message, write one JSON response, keep the
//! connection alive between them. The emulator's server side, and the one reader the tests use
//! where they speak HTTP without a client (a test server, a kept-alive connection).
//!
//! Hand-written on `httparse` (already in the tree through ureq) rather than a server crate,
//! because the drop fault must close a connection *without* answering, and tiny_http answers a
//! dropped request with a 500 and keeps the socket open. Everything read here is untrusted: sizes
//! are capped and nothing panics.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// Largest request head (request line and headers) accepted.
pub const MAX_HEAD: usize = 64 * 1024;
/// Largest request body accepted; the largest real parameter is a 6144-character policy.
pub const MAX_BODY: usize = 4 * 1024 * 1024;
const MAX_HEADERS: usize = 96;

/// One request as it arrived: the target is still encoded, exactly as the signature covers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    pub method: String,
    /// The raw path, still percent-encoded.
    pub path: String,
    /// The raw query without `?` (empty when there is none).
    pub query: String,
    /// Header names as sent (compare case-insensitively), values as sent.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Whether the client allows the connection to stay open afterwards.
    pub keep_alive: bool,
}

impl HttpRequest {
    /// The first value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim())
    }
}

/// One response as it arrived (see [`Connection::read_response`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    /// Header names as sent (compare case-insensitively), values as sent.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Whether the server keeps the connection open afterwards.
    pub keep_alive: bool,
}

impl HttpResponse {
    /// The first value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim())
    }
}

/// Which message a reader expects.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Request,
    Response,
}

/// The start line of a message.
enum Start {
    Request { method: String, target: String },
    Response { status: u16 },
}

/// One message before it is told apart: start line, headers, body.
struct Message {
    start: Start,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    keep_alive: bool,
}

/// The head at the front of `buffer`: its length, start line, HTTP minor version and headers;
/// `None` while it is incomplete.
type Head = (usize, Start, u8, Vec<(String, String)>);

fn parse_head(buffer: &[u8], kind: Kind) -> Result<Option<Head>, httparse::Error> {
    let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let owned = |headers: &[httparse::Header<'_>]| -> Vec<(String, String)> {
        headers
            .iter()
            .map(|h| {
                (
                    h.name.to_string(),
                    String::from_utf8_lossy(h.value).into_owned(),
                )
            })
            .collect()
    };
    match kind {
        Kind::Request => {
            let mut parsed = httparse::Request::new(&mut slots);
            let httparse::Status::Complete(len) = parsed.parse(buffer)? else {
                return Ok(None);
            };
            let start = Start::Request {
                method: parsed.method.unwrap_or_default().to_string(),
                target: parsed.path.unwrap_or_default().to_string(),
            };
            Ok(Some((
                len,
                start,
                parsed.version.unwrap_or(1),
                owned(parsed.headers),
            )))
        }
        Kind::Response => {
            let mut parsed = httparse::Response::new(&mut slots);
            let httparse::Status::Complete(len) = parsed.parse(buffer)? else {
                return Ok(None);
            };
            let start = Start::Response {
                status: parsed.code.unwrap_or_default(),
            };
            Ok(Some((
                len,
                start,
                parsed.version.unwrap_or(1),
                owned(parsed.headers),
            )))
        }
    }
}

/// What reading the next request produced.
#[derive(Debug)]
pub enum Incoming {
    Request(Box<HttpRequest>),
    /// The peer closed the connection (or stayed idle too long) between requests.
    Closed,
    /// The bytes are not an acceptable HTTP/1.1 request: answer with this status, then close.
    Bad(u16, &'static str),
}

/// A connection with the bytes read past the last request (pipelining leaves some behind).
pub struct Connection {
    pub stream: TcpStream,
    buffer: Vec<u8>,
}

impl Connection {
    pub fn new(stream: TcpStream) -> Self {
        Self {
            stream,
            buffer: Vec::new(),
        }
    }

    /// Reads the next request. `idle` bounds the wait for it; `give_up` is polled while no byte
    /// of a request has arrived, so a shutdown, or another connection waiting for a worker, does
    /// not sit behind an idle keep-alive connection.
    pub fn read_request(&mut self, idle: Duration, give_up: &dyn Fn() -> bool) -> Incoming {
        let message = match self.read_message(Kind::Request, idle, give_up) {
            Ok(message) => message,
            Err(incoming) => return incoming,
        };
        let Start::Request { method, target } = message.start else {
            return Incoming::Bad(400, "malformed HTTP request");
        };
        let (path, query) = match target.split_once('?') {
            Some((p, q)) => (p.to_string(), q.to_string()),
            None => (target, String::new()),
        };
        Incoming::Request(Box::new(HttpRequest {
            method,
            path,
            query,
            headers: message.headers,
            body: message.body,
            keep_alive: message.keep_alive,
        }))
    }

    /// Reads the next response (the client side of a test): `None` when the peer closed the
    /// connection, stayed silent for `idle`, or sent something that is not an HTTP/1.1 response.
    pub fn read_response(&mut self, idle: Duration) -> Option<HttpResponse> {
        let message = self.read_message(Kind::Response, idle, &|| false).ok()?;
        let Start::Response { status } = message.start else {
            return None;
        };
        Some(HttpResponse {
            status,
            headers: message.headers,
            body: message.body,
            keep_alive: message.keep_alive,
        })
    }

    /// Reads one message: the head, then a body of `content-length` bytes.
    fn read_message(
        &mut self,
        kind: Kind,
        idle: Duration,
        give_up: &dyn Fn() -> bool,
    ) -> Result<Message, Incoming> {
        // Short socket timeouts let the loop poll `give_up`; `idle` is the real limit.
        let _ = self
            .stream
            .set_read_timeout(Some(Duration::from_millis(200)));
        let started = Instant::now();
        let (head_len, start, minor, headers) = loop {
            match parse_head(&self.buffer, kind) {
                Ok(Some(head)) => break head,
                Ok(None) => {}
                Err(httparse::Error::TooManyHeaders) => {
                    return Err(Incoming::Bad(431, "too many headers"));
                }
                Err(_) => return Err(Incoming::Bad(400, "malformed HTTP request")),
            }
            if self.buffer.len() > MAX_HEAD {
                return Err(Incoming::Bad(431, "request head too large"));
            }
            match self.fill() {
                Ok(0) => return Err(Incoming::Closed),
                Ok(_) => {}
                Err(e) if is_timeout(&e) => {
                    // Between messages the connection may be given up at any poll; a message
                    // already under way gets the whole idle limit.
                    if (self.buffer.is_empty() && give_up()) || started.elapsed() >= idle {
                        return Err(Incoming::Closed);
                    }
                }
                Err(_) => return Err(Incoming::Closed),
            }
        };

        let find = |name: &str| {
            headers
                .iter()
                .filter(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.trim().to_string())
                .collect::<Vec<_>>()
        };
        if !find("transfer-encoding").is_empty() {
            return Err(Incoming::Bad(
                411,
                "chunked bodies are not supported; send content-length",
            ));
        }
        let content_length = match find("content-length").as_slice() {
            [] => 0,
            [one] => match one.parse::<usize>() {
                Ok(n) => n,
                Err(_) => return Err(Incoming::Bad(400, "content-length is not a number")),
            },
            _ => return Err(Incoming::Bad(400, "content-length is repeated")),
        };
        if content_length > MAX_BODY {
            return Err(Incoming::Bad(413, "request body too large"));
        }
        let connection = find("connection").join(",").to_ascii_lowercase();
        let keep_alive = if minor == 0 {
            connection.contains("keep-alive")
        } else {
            !connection.contains("close")
        };

        let _ = self.stream.set_read_timeout(Some(idle));
        while self.buffer.len() < head_len + content_length {
            match self.fill() {
                Ok(0) | Err(_) => return Err(Incoming::Closed),
                Ok(_) => {}
            }
        }
        let body = self.buffer[head_len..head_len + content_length].to_vec();
        self.buffer.drain(..head_len + content_length);
        Ok(Message {
            start,
            headers,
            body,
            keep_alive,
        })
    }

    fn fill(&mut self) -> io::Result<usize> {
        let mut chunk = [0u8; 16 * 1024];
        let n = self.stream.read(&mut chunk)?;
        self.buffer.extend_from_slice(&chunk[..n]);
        Ok(n)
    }

    /// Writes one response with a JSON body.
    pub fn write_response(
        &mut self,
        status: u16,
        headers: &[(String, String)],
        body: &[u8],
        keep_alive: bool,
    ) -> io::Result<()> {
        let mut head = format!("HTTP/1.1 {status} {}\r\n", reason(status));
        head.push_str("content-type: application/json;charset=utf-8\r\n");
        head.push_str(&format!("content-length: {}\r\n", body.len()));
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str(if keep_alive {
            "connection: keep-alive\r\n\r\n"
        } else {
            "connection: close\r\n\r\n"
        });
        let mut out = head.into_bytes();
        out.extend_from_slice(body);
        self.stream.write_all(&out)?;
        self.stream.flush()
    }

    /// Closes the connection without a word: the drop fault.
    pub fn abort(&mut self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
    }
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// Reason phrases for the statuses the emulator sends.
fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        409 => "Conflict",
        411 => "Length Required",
        413 => "Payload Too Large",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;

    use super::*;
    // The idle limit only bounds a hang: every request is written before it is read.
    use crate::testing::harness::HANG_GUARD;

    fn pair() -> (TcpStream, Connection) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        (client, Connection::new(server))
    }

    #[test]
    fn reads_pipelined_requests_with_bodies() {
        let (mut client, mut conn) = pair();
        client
            .write_all(
                b"POST /a?x=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\n\
                    abcGET /b HTTP/1.1\r\nConnection: close\r\n\r\n",
            )
            .unwrap();
        let never = || false;
        let Incoming::Request(first) = conn.read_request(HANG_GUARD, &never) else {
            panic!("expected a request");
        };
        assert_eq!(
            (
                first.method.as_str(),
                first.path.as_str(),
                first.query.as_str()
            ),
            ("POST", "/a", "x=1")
        );
        assert_eq!(first.body, b"abc");
        assert!(first.keep_alive);
        assert_eq!(first.header("HOST"), Some("h"));
        let Incoming::Request(second) = conn.read_request(HANG_GUARD, &never) else {
            panic!("expected a request");
        };
        assert_eq!(second.path, "/b");
        assert!(!second.keep_alive);
        drop(client);
        assert!(matches!(
            conn.read_request(HANG_GUARD, &never),
            Incoming::Closed
        ));
    }

    #[test]
    fn refuses_garbage_and_oversized_bodies() {
        let (mut client, mut conn) = pair();
        client.write_all(b"\x00\x01 nonsense\r\n\r\n").unwrap();
        let never = || false;
        assert!(matches!(
            conn.read_request(HANG_GUARD, &never),
            Incoming::Bad(400, _)
        ));
        let (mut client, mut conn) = pair();
        client
            .write_all(b"POST / HTTP/1.1\r\nContent-Length: 999999999\r\n\r\n")
            .unwrap();
        assert!(matches!(
            conn.read_request(HANG_GUARD, &never),
            Incoming::Bad(413, _)
        ));
        let (mut client, mut conn) = pair();
        client
            .write_all(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n")
            .unwrap();
        assert!(matches!(
            conn.read_request(HANG_GUARD, &never),
            Incoming::Bad(411, _)
        ));
    }

    #[test]
    fn reads_the_responses_it_writes() {
        let (client, mut server) = pair();
        let mut client = Connection::new(client);
        let headers = [("x-acs-request-id".to_string(), "R-1".to_string())];
        server
            .write_response(404, &headers, b"{\"Code\":\"NotFound\"}", true)
            .unwrap();
        server.write_response(200, &[], b"{}", false).unwrap();
        let first = client.read_response(HANG_GUARD).expect("a response");
        assert_eq!(first.status, 404);
        assert_eq!(first.header("X-ACS-Request-Id"), Some("R-1"));
        assert_eq!(first.body, b"{\"Code\":\"NotFound\"}");
        assert!(first.keep_alive);
        let second = client.read_response(HANG_GUARD).expect("a response");
        assert_eq!((second.status, second.body.as_slice()), (200, &b"{}"[..]));
        assert!(!second.keep_alive);
        server.abort();
        assert_eq!(client.read_response(HANG_GUARD), None);
    }

    #[test]
    fn a_request_is_not_a_response() {
        let (mut client, mut conn) = pair();
        client.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
        assert_eq!(conn.read_response(HANG_GUARD), None);
    }
}
