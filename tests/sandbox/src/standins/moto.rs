//! A moto server (`moto_server` from the project venv) on 127.0.0.1 and a free port.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};

use crate::error::{Result, SandboxError};
use crate::paths;

/// The region the local stand-in pretends to be.
pub const REGION: &str = "us-east-1";

#[derive(Debug)]
pub struct Moto {
    child: Child,
    pub port: u16,
}

/// A free TCP port on 127.0.0.1 (bound, then released).
pub fn free_port() -> Result<u16> {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(SandboxError::io("bind 127.0.0.1:0"))?;
    Ok(l.local_addr().map_err(SandboxError::io("local_addr"))?.port())
}

impl Moto {
    /// Starts moto and waits until it answers (at most 30 s).
    pub fn start() -> Result<Self> {
        Self::start_on(free_port()?)
    }

    /// Starts moto on 127.0.0.1:`port`.
    pub fn start_on(port: u16) -> Result<Self> {
        let bin = paths::moto_server()?;
        let child = Command::new(&bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .env("MOTO_ALLOW_NONEXISTENT_REGION", "false")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(SandboxError::io(format!("start {}", bin.display())))?;
        let mut moto = Self { child, port };
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let start = Instant::now();
        loop {
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(moto);
            }
            if let Ok(Some(status)) = moto.child.try_wait() {
                return Err(SandboxError::Setup(format!("moto_server exited at start: {status}")));
            }
            if start.elapsed() > Duration::from_secs(30) {
                return Err(SandboxError::Setup(format!(
                    "moto_server did not listen on {addr} within 30 s"
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
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
}

/// An SDK configuration for an emulator endpoint, with dummy static credentials.
pub async fn sdk_config_for(endpoint: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(endpoint)
        .credentials_provider(aws_config::meta::credentials::CredentialsProviderChain::first_try(
            "sandbox",
            aws_sdk_ec2::config::Credentials::new("testing", "testing", None, None, "sandbox"),
        ))
        .load()
        .await
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
