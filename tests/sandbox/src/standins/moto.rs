//! EC2, Auto Scaling, Route 53 (and the rest Terraform needs): the project's moto launcher,
//! `tests/sandbox/moto/steadfast_moto.py`, on 127.0.0.1. It is moto 5.2.5 with what AWS does and
//! moto does not: LAUNCHING lifecycle hooks that hold instances in `Pending:Wait` until
//! `CompleteLifecycleAction` (or the heartbeat timeout), termination realism knobs, throttling
//! faults and call counters, S3 `aws:SecureTransport` conditions. Its admin API lives under
//! `/_steadfast/` on the same port.

use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use serde_json::Value;

use super::http;
use crate::error::{Result, SandboxError};
use crate::paths;

/// The region the local stand-in pretends to be.
pub const REGION: &str = "us-east-1";

#[derive(Debug)]
pub struct Moto {
    /// The launcher this process started, or (`attach`) one started by another (its pid).
    child: Option<Child>,
    attached: Option<u32>,
    pub port: u16,
    /// The https port (same state), when one was asked for.
    pub ssl_port: Option<u16>,
}

/// A free TCP port on 127.0.0.1 (bound, then released).
pub fn free_port() -> Result<u16> {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(SandboxError::io("bind 127.0.0.1:0"))?;
    Ok(l.local_addr().map_err(SandboxError::io("local_addr"))?.port())
}

impl Moto {
    /// Starts the launcher on a free port and waits until it says it is ready.
    pub fn start() -> Result<Self> {
        Self::launch(0, None)
    }

    /// Starts it on 127.0.0.1:`port`.
    pub fn start_on(port: u16) -> Result<Self> {
        Self::launch(port, None)
    }

    /// Starts it on `port`, its own log (moto's requests, the launcher's faults and lifecycle
    /// actions) going to `log`: the region's evidence when something goes wrong.
    pub fn start_logged(port: u16, log: &std::path::Path) -> Result<Self> {
        Self::launch_with(port, None, Some(log))
    }

    /// Starts it on `port` (0: any) and, when given, an https port (0: any) serving one state.
    pub fn launch(port: u16, ssl_port: Option<u16>) -> Result<Self> {
        Self::launch_with(port, ssl_port, None)
    }

    fn launch_with(port: u16, ssl_port: Option<u16>, log: Option<&std::path::Path>) -> Result<Self> {
        let stderr = match log {
            Some(p) => {
                Stdio::from(std::fs::File::create(p).map_err(SandboxError::io(format!("create {}", p.display())))?)
            }
            None => Stdio::null(),
        };
        let (python, script) = paths::moto_launcher()?;
        let mut cmd = Command::new(&python);
        cmd.arg(&script)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()]);
        if let Some(p) = ssl_port {
            cmd.args(["--ssl-port", &p.to_string()]);
        }
        let mut child = cmd
            .env("MOTO_ALLOW_NONEXISTENT_REGION", "false")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .map_err(SandboxError::io(format!("start {}", script.display())))?;
        let Some(out) = child.stdout.take() else {
            return Err(SandboxError::Setup("moto launcher: no stdout".into()));
        };
        // The ready line, read on a thread so a launcher that hangs cannot hang us.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(out).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx.recv_timeout(Duration::from_secs(30)).unwrap_or_default();
        let ready = parse_ready(&line);
        match ready {
            Some((port, ssl_port)) => Ok(Self {
                child: Some(child),
                attached: None,
                port,
                ssl_port,
            }),
            None => {
                let status = child.try_wait().ok().flatten();
                let _ = child.kill();
                let _ = child.wait();
                Err(SandboxError::Setup(format!(
                    "the moto launcher did not say it was ready within 30 s (exit: {status:?}; said {line:?})"
                )))
            }
        }
    }

    /// A launcher that another process started (`scripts/tf-local.sh up`), on `port` (http)
    /// and `ssl_port`, as process `pid`: stopped (SIGTERM) when this is dropped, as one this
    /// process started would be.
    pub fn attach(port: u16, ssl_port: Option<u16>, pid: u32) -> Self {
        Self {
            child: None,
            attached: Some(pid),
            port,
            ssl_port,
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn pid(&self) -> u32 {
        match &self.child {
            Some(c) => c.id(),
            None => self.attached.unwrap_or_default(),
        }
    }

    /// Environment a process needs to talk to this moto (endpoint, region, dummy credentials).
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("AWS_ENDPOINT_URL".into(), self.endpoint()),
            ("AWS_REGION".into(), REGION.into()),
            ("AWS_DEFAULT_REGION".into(), REGION.into()),
            ("AWS_ACCESS_KEY_ID".into(), "testing".into()),
            ("AWS_SECRET_ACCESS_KEY".into(), "testing".into()),
            ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
        ]
    }

    /// An SDK configuration pointing at this moto.
    pub async fn sdk_config(&self) -> SdkConfig {
        sdk_config_for(&self.endpoint()).await
    }

    /// The admin API: `GET` (no body) or `POST` `/_steadfast/<what>`; the JSON answer.
    pub async fn admin(&self, what: &str, body: Option<&Value>) -> Result<Value> {
        admin(self.port, what, body).await
    }

    /// Waits until the region has changed since `after` (a write, a timer, an admin POST), or
    /// `wait` (at most 10 s) has passed; the changes so far. Pass `None` to read them without
    /// waiting.
    pub async fn changes(&self, after: Option<&Changes>, wait: Duration) -> Result<Changes> {
        let after = after.map_or(-1, |c| i128::from(c.generation));
        let what = format!("changes?after={after}&wait_ms={}", wait.as_millis().min(10_000));
        let answer = admin(self.port, &what, None).await?;
        serde_json::from_value(answer.clone())
            .map_err(|e| SandboxError::Setup(format!("moto GET /_steadfast/{what}: {e}: {answer}")))
    }
}

/// The launcher's count of changes to the region (`GET /_steadfast/changes`), by what they may
/// have changed: `instances`, `volumes`, `records`, `tags`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
pub struct Changes {
    pub generation: u64,
    pub counts: std::collections::BTreeMap<String, u64>,
}

impl Changes {
    /// Whether any of `sources` counted a change since `earlier`.
    pub fn since(&self, earlier: &Changes, sources: &[&str]) -> bool {
        sources
            .iter()
            .any(|s| self.counts.get(*s).copied().unwrap_or(0) != earlier.counts.get(*s).copied().unwrap_or(0))
    }
}

/// The admin API of the launcher on `port` (the sandbox CLI talks to the supervisor's moto).
pub async fn admin(port: u16, what: &str, body: Option<&Value>) -> Result<Value> {
    let path = format!("/_steadfast/{what}");
    let (method, text) = match body {
        Some(b) => ("POST", b.to_string()),
        None => ("GET", String::new()),
    };
    let (status, answer) = http::request(port, method, &path, &[], &text, Duration::from_secs(10)).await?;
    if status != 200 {
        return Err(SandboxError::Setup(format!("moto {method} {path}: {status} {answer}")));
    }
    serde_json::from_str(&answer).map_err(|e| SandboxError::Setup(format!("moto {method} {path}: {e}: {answer}")))
}

/// `(http port, https port)` from `steadfast-moto ready http=<P> https=<Q|none>`.
fn parse_ready(line: &str) -> Option<(u16, Option<u16>)> {
    let rest = line.trim().strip_prefix("steadfast-moto ready ")?;
    let mut http = None;
    let mut https = None;
    for part in rest.split_whitespace() {
        match part.split_once('=')? {
            ("http", p) => http = p.parse().ok(),
            ("https", "none") => {}
            ("https", p) => https = Some(p.parse().ok()?),
            _ => {}
        }
    }
    Some((http?, https))
}

/// An SDK configuration for an emulator endpoint, with dummy static credentials.
pub async fn sdk_config_for(endpoint: &str) -> SdkConfig {
    sdk_config_as(endpoint, "testing").await
}

/// The same, signing with `access_key` (the launcher can tell callers apart by it).
pub async fn sdk_config_as(endpoint: &str, access_key: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(endpoint)
        .credentials_provider(aws_config::meta::credentials::CredentialsProviderChain::first_try(
            "sandbox",
            aws_sdk_ec2::config::Credentials::new(access_key, "testing", None, None, "sandbox"),
        ))
        .load()
        .await
}

/// The running region's moto (on its fixed port), signed as the supervisor: the launcher never
/// injects faults into these calls.
pub async fn supervisor_sdk_config() -> SdkConfig {
    sdk_config_as(
        &format!("http://127.0.0.1:{}", crate::config::MOTO_PORT),
        crate::config::SUPERVISOR_KEY,
    )
    .await
}

impl Drop for Moto {
    fn drop(&mut self) {
        if let Some(c) = self.child.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if let Some(pid) = self.attached.filter(|p| *p > 1) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_ready;

    #[test]
    fn ready_line() {
        assert_eq!(
            parse_ready("steadfast-moto ready http=5000 https=none\n"),
            Some((5000, None))
        );
        assert_eq!(parse_ready("steadfast-moto ready http=1 https=2"), Some((1, Some(2))));
        assert_eq!(parse_ready("Traceback (most recent call last)"), None);
        assert_eq!(parse_ready(""), None);
    }
}
