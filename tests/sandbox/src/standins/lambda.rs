//! peer-dns under `cargo lambda watch`: the Lambda runtime API emulator from cargo-lambda (in
//! the project venv) on loopback, with the function binary attached to it.
//!
//! `cargo lambda watch --only-lambda-apis` serves the runtime and invoke APIs and leaves running
//! the function to us: the binary is the one cargo already built (a nested `cargo build` inside
//! `cargo test` would wait on cargo's own lock, and rebuild the SDK with other features).
//!
//! Several function processes may poll the one runtime API: each invocation goes to one of them
//! (cargo-lambda queues invocations per function and hands each to the next `/next` poller), as
//! Lambda hands concurrent invocations to separate execution environments.

use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use steadfast_core::poll::{self, Backoff, Poll};
use steadfast_core::vocab::env;

use super::http;
use crate::error::{Result, SandboxError};
use crate::paths;
use crate::standins::moto::free_port;

/// The function name cargo-lambda's runtime API serves in `--only-lambda-apis` mode.
pub const FUNCTION: &str = "_";

#[derive(Debug)]
pub struct LambdaWatch {
    watch: Child,
    functions: Vec<Child>,
    pub port: u16,
}

fn wait_port(port: u16, timeout: Duration, what: &str, child: &mut Child) -> Result<()> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    poll::until_blocking(timeout, Backoff::every(Duration::from_millis(20)), || {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() {
            return Ok(Poll::Ready(()));
        }
        match child.try_wait() {
            Ok(Some(st)) => Err(SandboxError::Setup(format!("{what} exited at start: {st}"))),
            _ => Ok(Poll::Pending(format!("nothing listens on {addr}"))),
        }
    })?
    .map_err(|_| SandboxError::Setup(format!("{what} did not listen on {addr} within {timeout:?}")))
}

impl LambdaWatch {
    /// Starts `cargo lambda watch --only-lambda-apis -A 127.0.0.1 -P <free port>`.
    pub fn start() -> Result<Self> {
        Self::start_on(free_port()?)
    }

    /// Starts it on 127.0.0.1:`port`.
    pub fn start_on(port: u16) -> Result<Self> {
        let bin = paths::cargo_lambda()?;
        let mut watch = Command::new(&bin)
            .args([
                "lambda",
                "watch",
                "--only-lambda-apis",
                "-A",
                "127.0.0.1",
                "-P",
                &port.to_string(),
            ])
            .current_dir(paths::workspace_root())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(SandboxError::io(format!("start {}", bin.display())))?;
        wait_port(port, Duration::from_secs(30), "cargo lambda watch", &mut watch)?;
        Ok(Self {
            watch,
            functions: Vec::new(),
            port,
        })
    }

    /// Starts the function binary against this runtime API, with `env` on top of the Lambda
    /// variables, in place of any running. Returns when the process is spawned (its init runs
    /// on its own).
    pub fn start_function(&mut self, binary: &Path, env: &[(String, String)], log: Option<&Path>) -> Result<u32> {
        let pids = self.start_functions(binary, env, log, 1)?;
        pids.first()
            .copied()
            .ok_or_else(|| SandboxError::Setup(format!("no process of {} started", binary.display())))
    }

    /// Starts `instances` processes of the function binary (concurrent execution environments),
    /// in place of any running; they share one log (appended). Their pids.
    pub fn start_functions(
        &mut self,
        binary: &Path,
        env: &[(String, String)],
        log: Option<&Path>,
        instances: usize,
    ) -> Result<Vec<u32>> {
        self.stop_function();
        let log = match log {
            Some(p) => Some(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)
                    .map_err(SandboxError::io(format!("open {}", p.display())))?,
            ),
            None => None,
        };
        for _ in 0..instances.max(1) {
            let child = self.spawn_function(binary, env, log.as_ref())?;
            self.functions.push(child);
        }
        Ok(self.functions.iter().map(Child::id).collect())
    }

    fn spawn_function(&self, binary: &Path, env: &[(String, String)], log: Option<&std::fs::File>) -> Result<Child> {
        let mut cmd = Command::new(binary);
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AWS_LAMBDA_RUNTIME_API", format!("http://127.0.0.1:{}/.rt", self.port))
            .env("AWS_LAMBDA_FUNCTION_NAME", FUNCTION)
            .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null());
        match log {
            Some(f) => {
                let out = f.try_clone().map_err(SandboxError::io("dup log"))?;
                let err = f.try_clone().map_err(SandboxError::io("dup log"))?;
                cmd.stdout(out).stderr(err);
            }
            None => {
                cmd.stdout(Stdio::null()).stderr(Stdio::null());
            }
        }
        cmd.spawn()
            .map_err(SandboxError::io(format!("start {}", binary.display())))
    }

    /// Stops every function process.
    pub fn stop_function(&mut self) {
        for mut f in self.functions.drain(..) {
            let _ = f.kill();
            let _ = f.wait();
        }
    }

    /// The invoke URL path, as AWS's `Invoke` API has it.
    pub fn invoke_path(&self) -> String {
        format!("/2015-03-31/functions/{FUNCTION}/invocations")
    }

    /// POSTs `event` to the invoke URL; returns (HTTP status, body).
    pub async fn invoke(&self, event: &serde_json::Value, timeout: Duration) -> Result<(u16, String)> {
        http::request(self.port, "POST", &self.invoke_path(), &[], &event.to_string(), timeout).await
    }
}

impl Drop for LambdaWatch {
    fn drop(&mut self) {
        self.stop_function();
        let _ = self.watch.kill();
        let _ = self.watch.wait();
    }
}

/// peer-dns's environment for `region` (its configuration variables plus moto's endpoint and
/// credentials), with `RUST_LOG` set to `log`.
pub fn peer_dns_env(
    moto: &crate::standins::moto::Moto,
    region: &crate::region::Region,
    log: &str,
) -> Vec<(String, String)> {
    let c = &region.cluster;
    let mut env = moto.env();
    env.extend([
        (env::CLUSTER.to_string(), c.name().to_string()),
        (env::HOSTED_ZONE_ID.into(), region.zone_id.clone()),
        (env::DOMAIN.into(), c.domain().to_string()),
        (env::PEER_COUNT.into(), c.peer_count().to_string()),
        (env::PLACEHOLDER_NETWORK.into(), region.placeholders.to_string()),
        ("RUST_LOG".into(), log.into()),
    ]);
    env
}
