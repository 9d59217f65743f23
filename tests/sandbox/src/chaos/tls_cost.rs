//! What TLS costs a client, measured in the same run as the scenarios: two 3-member etcd
//! clusters on this machine, the same etcd and timing as the region's members, one plain http
//! and one with mutual TLS exactly as the nodes configure it (a certificate from a CA made by
//! core's `tls` code, client certificate authentication on both ports). The same writers write
//! to each in turns (plain, TLS, plain, TLS, ...) so that both see the same machine; the report
//! gives each one's write latency (p50, p99).

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use etcd_client::{Certificate, Client, ConnectOptions, Identity, TlsOptions};
use serde::{Deserialize, Serialize};
use steadfast_core::tls::{cert, CaState, Usage, DAY_SECS};
use steadfast_core::vocab::{EtcdTiming, Sans};
use steadfast_core::Cluster;

use super::traffic::percentile;
use crate::error::{Result, SandboxError};

/// One side's write latency.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Latency {
    pub writes: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// Plain http against mutual TLS, same members, same load.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TlsCost {
    pub members: u32,
    pub writers: u32,
    /// Seconds of load on each side.
    pub seconds: f64,
    pub plain: Latency,
    pub tls: Latency,
}

const MEMBERS: u8 = 3;
const WRITERS: u32 = 4;
const ROUNDS: u32 = 4;
const ROUND: Duration = Duration::from_secs(3);

struct Killed(Vec<Child>);

impl Drop for Killed {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Member `i`'s address on side `net` (127.0.7.x: TLS, 127.0.8.x: plain).
fn ip(net: u8, i: u8) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, net, i + 1)
}

fn start(net: u8, tls: Option<&Path>, dir: &Path, timing: EtcdTiming) -> Result<Vec<Child>> {
    let scheme = if tls.is_some() { "https" } else { "http" };
    let bin = crate::paths::etcd_bin_dir()?.join("etcd");
    let initial: Vec<String> = (0..MEMBERS)
        .map(|i| format!("m{i}={scheme}://{}:2380", ip(net, i)))
        .collect();
    let mut out = Vec::new();
    for i in 0..MEMBERS {
        let a = ip(net, i);
        let mut cmd = Command::new(&bin);
        cmd.env("ETCD_NAME", format!("m{i}"))
            .env("ETCD_DATA_DIR", dir.join(format!("{net}-{i}")))
            .env("ETCD_LISTEN_CLIENT_URLS", format!("{scheme}://{a}:2379"))
            .env("ETCD_ADVERTISE_CLIENT_URLS", format!("{scheme}://{a}:2379"))
            .env("ETCD_LISTEN_PEER_URLS", format!("{scheme}://{a}:2380"))
            .env("ETCD_INITIAL_ADVERTISE_PEER_URLS", format!("{scheme}://{a}:2380"))
            .env("ETCD_INITIAL_CLUSTER", initial.join(","))
            .env("ETCD_INITIAL_CLUSTER_TOKEN", format!("tls-cost-{net}"))
            .env("ETCD_HEARTBEAT_INTERVAL", timing.heartbeat().as_millis().to_string())
            .env("ETCD_ELECTION_TIMEOUT", timing.election().as_millis().to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(t) = tls {
            let f = |n: &str| t.join(format!("{n}.pem"));
            cmd.env("ETCD_CERT_FILE", f(&format!("m{i}")))
                .env("ETCD_KEY_FILE", f(&format!("m{i}-key")))
                .env("ETCD_TRUSTED_CA_FILE", f("ca"))
                .env("ETCD_CLIENT_CERT_AUTH", "true")
                .env("ETCD_PEER_CERT_FILE", f(&format!("m{i}")))
                .env("ETCD_PEER_KEY_FILE", f(&format!("m{i}-key")))
                .env("ETCD_PEER_TRUSTED_CA_FILE", f("ca"))
                .env("ETCD_PEER_CLIENT_CERT_AUTH", "true");
        }
        out.push(
            cmd.spawn()
                .map_err(SandboxError::io(format!("start {}", bin.display())))?,
        );
    }
    Ok(out)
}

/// A CA and the certificates: one per member (its address), one client.
fn certificates(cluster: &Cluster, net: u8, dir: &Path) -> Result<TlsOptions> {
    let now = chrono::Utc::now().timestamp();
    let ca = CaState::create(cluster, now, DAY_SECS).map_err(|e| SandboxError::Setup(e.to_string()))?;
    std::fs::create_dir_all(dir).map_err(SandboxError::io(format!("mkdir {}", dir.display())))?;
    let put = |name: &str, body: &str| {
        std::fs::write(dir.join(format!("{name}.pem")), body).map_err(SandboxError::io(format!("write {name}.pem")))
    };
    put("ca", &ca.trust_bundle())?;
    let err = |e: steadfast_core::Error| SandboxError::Setup(e.to_string());
    for i in 0..MEMBERS {
        let sans = Sans {
            dns: vec![],
            ips: vec![IpAddr::V4(ip(net, i)), IpAddr::V4(Ipv4Addr::LOCALHOST)],
        };
        let leaf = cert::issue(&ca.signing, &format!("m{i}"), &sans, Usage::Peer, now, DAY_SECS).map_err(err)?;
        put(&format!("m{i}"), &leaf.cert_pem)?;
        put(&format!("m{i}-key"), &leaf.key_pem)?;
    }
    let client = cert::issue(
        &ca.signing,
        "tls-cost",
        &Sans {
            dns: vec![],
            ips: vec![],
        },
        Usage::Client,
        now,
        DAY_SECS,
    )
    .map_err(err)?;
    Ok(TlsOptions::new()
        .ca_certificate(Certificate::from_pem(ca.trust_bundle()))
        .identity(Identity::from_pem(client.cert_pem, client.key_pem)))
}

async fn connect(net: u8, tls: Option<TlsOptions>) -> Result<Client> {
    let scheme = if tls.is_some() { "https" } else { "http" };
    let endpoints: Vec<String> = (0..MEMBERS)
        .map(|i| format!("{scheme}://{}:2379", ip(net, i)))
        .collect();
    let mut opts = ConnectOptions::new()
        .with_timeout(Duration::from_secs(2))
        .with_connect_timeout(Duration::from_secs(2));
    if let Some(t) = tls {
        opts = opts.with_tls(t);
    }
    let t0 = Instant::now();
    loop {
        let attempt = async {
            let mut c = Client::connect(&endpoints, Some(opts.clone())).await.ok()?;
            c.put("tls-cost/ready", "1", None).await.ok()?;
            Some(c)
        };
        if let Ok(Some(c)) = tokio::time::timeout(Duration::from_secs(3), attempt).await {
            return Ok(c);
        }
        if t0.elapsed() > Duration::from_secs(60) {
            return Err(SandboxError::Setup(format!(
                "tls cost: the {scheme} cluster did not serve within 60 s"
            )));
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// `WRITERS` writers for `ROUND`; every acknowledged write's latency (ms).
async fn round(c: &Client, side: &str, n: u32) -> Vec<f64> {
    let tasks: Vec<_> = (0..WRITERS)
        .map(|w| {
            let mut c = c.clone();
            let prefix = format!("tls-cost/{side}/{n}/{w}/");
            tokio::spawn(async move {
                let mut lat = Vec::new();
                let t0 = Instant::now();
                let mut i = 0u64;
                while t0.elapsed() < ROUND {
                    let t = Instant::now();
                    let put =
                        tokio::time::timeout(Duration::from_secs(2), c.put(format!("{prefix}{i}"), "v", None)).await;
                    if matches!(put, Ok(Ok(_))) {
                        lat.push(t.elapsed().as_secs_f64() * 1000.0);
                    }
                    i += 1;
                }
                lat
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap_or_default());
    }
    all
}

fn latency(v: Vec<f64>) -> Latency {
    Latency {
        writes: v.len() as u64,
        p50_ms: percentile(&v, 50.0),
        p99_ms: percentile(&v, 99.0),
    }
}

/// Measures it; `dir` holds the members' data and certificates (removed afterwards).
pub async fn measure(cluster: &Cluster, timing: EtcdTiming, dir: &Path) -> Result<TlsCost> {
    let (tls_net, plain_net) = (7, 8);
    let tls = certificates(cluster, tls_net, &dir.join("certs"))?;
    let mut procs = Killed(start(plain_net, None, dir, timing)?);
    procs.0.extend(start(tls_net, Some(&dir.join("certs")), dir, timing)?);
    let plain_c = connect(plain_net, None).await?;
    let tls_c = connect(tls_net, Some(tls)).await?;
    let (mut plain, mut with_tls) = (Vec::new(), Vec::new());
    for n in 0..ROUNDS {
        plain.extend(round(&plain_c, "plain", n).await);
        with_tls.extend(round(&tls_c, "tls", n).await);
    }
    drop(procs);
    let _ = std::fs::remove_dir_all(dir);
    Ok(TlsCost {
        members: u32::from(MEMBERS),
        writers: WRITERS,
        seconds: (ROUND * ROUNDS).as_secs_f64(),
        plain: latency(plain),
        tls: latency(with_tls),
    })
}
