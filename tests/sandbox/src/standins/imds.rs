//! An IMDSv2 stand-in: one per instance, on its own loopback port. It insists on the token flow
//! (`PUT /latest/api/token`, then `X-aws-ec2-metadata-token` on every GET), as IMDSv2-required
//! instances do.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::error::{Result, SandboxError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceIdentity {
    pub instance_id: String,
    pub availability_zone: String,
    pub region: String,
    pub private_ip: Ipv4Addr,
}

impl InstanceIdentity {
    fn paths(&self) -> BTreeMap<&'static str, String> {
        BTreeMap::from([
            ("/latest/meta-data/instance-id", self.instance_id.clone()),
            (
                "/latest/meta-data/placement/availability-zone",
                self.availability_zone.clone(),
            ),
            ("/latest/meta-data/placement/region", self.region.clone()),
            ("/latest/meta-data/local-ipv4", self.private_ip.to_string()),
        ])
    }
}

#[derive(Debug)]
pub struct Imds {
    pub port: u16,
    pub identity: Arc<Mutex<InstanceIdentity>>,
    task: JoinHandle<()>,
}

const TOKEN: &str = "sandbox-imdsv2-token";

impl Imds {
    /// Serves `identity` on 127.0.0.1 and a free port.
    pub async fn start(identity: InstanceIdentity) -> Result<Self> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .map_err(SandboxError::io("bind IMDS"))?;
        let port = listener.local_addr().map_err(SandboxError::io("IMDS addr"))?.port();
        let identity = Arc::new(Mutex::new(identity));
        let id2 = identity.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = listener.accept().await else {
                    return;
                };
                let id = id2.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    // Requests are tiny; read until the end of the headers (bodies are empty).
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        match sock.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                        if buf.len() > 65536 {
                            return;
                        }
                    }
                    let req = String::from_utf8_lossy(&buf).to_string();
                    let (status, body) = answer(&req, &id);
                    // IMDSv2 echoes the token's TTL; aws-config insists on it.
                    let ttl = if req.starts_with("PUT ") {
                        "X-aws-ec2-metadata-token-ttl-seconds: 21600\r\n"
                    } else {
                        ""
                    };
                    let resp = format!(
                        "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\n{ttl}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = sock.write_all(resp.as_bytes()).await;
                    let _ = sock.shutdown().await;
                });
            }
        });
        Ok(Self { port, identity, task })
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn set(&self, identity: InstanceIdentity) {
        if let Ok(mut g) = self.identity.lock() {
            *g = identity;
        }
    }
}

fn answer(req: &str, id: &Arc<Mutex<InstanceIdentity>>) -> (&'static str, String) {
    let mut lines = req.split("\r\n");
    let first = lines.next().unwrap_or_default();
    let mut parts = first.split(' ');
    let (method, path) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| {
            l.split_once(':')
                .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        })
        .collect();
    let header = |k: &str| headers.iter().find(|(hk, _)| hk == k).map(|(_, v)| v.as_str());
    match (method, path) {
        ("PUT", "/latest/api/token") => match header("x-aws-ec2-metadata-token-ttl-seconds") {
            Some(_) => ("200 OK", TOKEN.to_string()),
            None => ("400 Bad Request", "missing X-aws-ec2-metadata-token-ttl-seconds".into()),
        },
        ("GET", p) => {
            if header("x-aws-ec2-metadata-token") != Some(TOKEN) {
                return ("401 Unauthorized", String::new());
            }
            let Ok(g) = id.lock() else {
                return ("500 Internal Server Error", String::new());
            };
            match g.paths().get(p) {
                Some(v) => ("200 OK", v.clone()),
                None => ("404 Not Found", String::new()),
            }
        }
        _ => ("405 Method Not Allowed", String::new()),
    }
}

impl Drop for Imds {
    fn drop(&mut self) {
        self.task.abort();
    }
}
