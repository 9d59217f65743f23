//! A minimal HTTP/1.1 client for loopback stand-ins (the Lambda invoke API, moto's admin and
//! REST APIs): one request per connection, `Connection: close`.

use std::net::Ipv4Addr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::error::{Result, SandboxError};

/// Sends `method path` with `headers` and `body` to 127.0.0.1:`port`. Returns (status, body).
pub async fn request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
    timeout: Duration,
) -> Result<(u16, String)> {
    let fut = async {
        let mut s = tokio::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port))
            .await
            .map_err(SandboxError::io(format!("connect 127.0.0.1:{port}")))?;
        let mut req = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n");
        if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-type")) {
            req.push_str("Content-Type: application/json\r\n");
        }
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str(&format!(
            "Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ));
        s.write_all(req.as_bytes()).await.map_err(SandboxError::io("send"))?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await.map_err(SandboxError::io("read"))?;
        let text = String::from_utf8_lossy(&buf).to_string();
        let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        let (head, rest) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let body = if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
            dechunk(rest)
        } else {
            rest.to_string()
        };
        Ok((status, body))
    };
    tokio::time::timeout(timeout, fut)
        .await
        .map_err(|_| SandboxError::Setup(format!("{method} {path} on port {port}: no answer within {timeout:?}")))?
}

/// Decodes a chunked body, by bytes (a chunk size counts bytes, not characters).
fn dechunk(s: &str) -> String {
    let mut rest = s.as_bytes();
    let mut out = Vec::new();
    while let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") {
        let size = String::from_utf8_lossy(&rest[..eol]);
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        let body = &rest[eol + 2..];
        if n == 0 || body.len() < n {
            break;
        }
        out.extend_from_slice(&body[..n]);
        rest = body[n..].strip_prefix(b"\r\n").unwrap_or(&body[n..]);
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::dechunk;

    #[test]
    fn chunks_are_counted_in_bytes() {
        // "héllo" is 6 bytes; a char-based slice would panic or cut it.
        assert_eq!(dechunk("6\r\nhéllo\r\n3\r\n ok\r\n0\r\n\r\n"), "héllo ok");
        assert_eq!(dechunk("zz\r\nbroken"), "");
        assert_eq!(dechunk("5\r\nab"), "");
    }
}
