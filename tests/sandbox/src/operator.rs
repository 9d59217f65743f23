//! How the sandbox itself (its status, the chaos suite's clients, `sandbox exec`) reaches etcd:
//! as an operator would. With TLS on, it holds a client certificate issued from the cluster's CA
//! in the region's Secrets Manager, exactly as `steadfast cert issue` gives one to an
//! application, and re-issues it when asked (after a CA rotation's second phase). With TLS off
//! it connects in plain http.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use aws_config::SdkConfig;
use etcd_client::{Client, ConnectOptions};
use steadfast_core::aws::sdk::{Cloud, SecretsManager};
use steadfast_core::clock::now;
use steadfast_core::etcd::Access;
use steadfast_core::retry::Retry;
use steadfast_core::tls::{client_credentials, ClientCredentials, DAY_SECS};
use steadfast_core::vocab::Transport;
use steadfast_core::Cluster;

use crate::error::{Result, SandboxError};

/// The name the sandbox's client certificate is issued for.
pub const CLIENT_NAME: &str = "sandbox-operator";

/// The credentials, shared by every clone.
#[derive(Clone)]
pub struct Operator {
    transport: Transport,
    cluster: Cluster,
    secrets: Option<SecretsManager>,
    /// The CA secret it issues from.
    secret: steadfast_core::tls::CaSecret,
    creds: Arc<RwLock<Option<ClientCredentials>>>,
}

impl std::fmt::Debug for Operator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Operator").field("transport", &self.transport).finish()
    }
}

impl Operator {
    /// Plain http: no certificate.
    pub fn plain(cluster: &Cluster) -> Self {
        Self {
            transport: Transport::Plain,
            cluster: cluster.clone(),
            secrets: None,
            secret: steadfast_core::tls::CaSecret::of(cluster),
            creds: Arc::default(),
        }
    }

    /// `transport` for the region whose Secrets Manager `conf` reaches. With TLS, the certificate
    /// is issued on first use (the CA exists once the first node has started).
    pub fn new(transport: Transport, cluster: &Cluster, conf: &SdkConfig) -> Self {
        let secrets = (transport == Transport::Tls)
            .then(|| Cloud::from_conf(conf, Retry::with_deadline(Duration::from_secs(10))).secrets);
        Self {
            transport,
            cluster: cluster.clone(),
            secrets,
            secret: steadfast_core::tls::CaSecret::of(cluster),
            creds: Arc::default(),
        }
    }

    /// Issues from the CA secret `secret` (a deployment's own name) instead of the vocabulary's.
    pub fn with_secret(mut self, secret: steadfast_core::tls::CaSecret) -> Self {
        self.secret = secret;
        self
    }

    pub fn transport(&self) -> Transport {
        self.transport
    }

    /// `scheme://host:port`.
    pub fn url(&self, host: impl std::fmt::Display, port: u16) -> String {
        format!("{}://{host}:{port}", self.transport.scheme())
    }

    /// Issues a new client certificate from the CA that signs now, with the CAs trusted now.
    pub async fn refresh(&self) -> Result<()> {
        let Some(secrets) = &self.secrets else { return Ok(()) };
        let c = client_credentials(secrets, &self.secret, CLIENT_NAME, now(), DAY_SECS).await?;
        if let Ok(mut g) = self.creds.write() {
            *g = Some(c);
        }
        Ok(())
    }

    fn current(&self) -> Option<ClientCredentials> {
        self.creds.read().ok().and_then(|g| g.clone())
    }

    /// How the operator reaches etcd (core's port): plain, or TLS with its client certificate
    /// (issued first if there is none yet).
    pub async fn access(&self) -> Result<Access> {
        if self.transport == Transport::Plain {
            return Ok(Access::plain());
        }
        if self.current().is_none() {
            self.refresh().await?;
        }
        let c = self
            .current()
            .ok_or_else(|| SandboxError::Setup("no client certificate could be issued".into()))?;
        Ok(Access::tls(
            c.trust_bundle.as_bytes(),
            c.cert.cert_pem.as_bytes(),
            c.cert.key_pem.as_bytes(),
        ))
    }

    /// A client of `endpoints` (URLs made with [`Operator::url`]) with `opts`, and TLS.
    pub async fn connect(&self, endpoints: &[String], opts: ConnectOptions) -> Result<Client> {
        Ok(self.access().await?.client(endpoints, opts).await?)
    }
    /// Writes the certificate, its key and the CA bundle into `dir` (for etcdctl); returns
    /// etcdctl's variables for them. Nothing in plain http.
    pub async fn write_files(&self, dir: &Path) -> Result<Vec<(String, PathBuf)>> {
        if self.transport == Transport::Plain {
            return Ok(vec![]);
        }
        self.refresh().await?;
        let c = self
            .current()
            .ok_or_else(|| SandboxError::Setup("no client certificate could be issued".into()))?;
        std::fs::create_dir_all(dir).map_err(SandboxError::io(format!("mkdir {}", dir.display())))?;
        let mut out = Vec::new();
        for (var, file, body, mode) in [
            ("ETCDCTL_CACERT", "ca.pem", c.trust_bundle.as_str(), 0o644),
            ("ETCDCTL_CERT", "client.pem", c.cert.cert_pem.as_str(), 0o644),
            ("ETCDCTL_KEY", "client-key.pem", c.cert.key_pem.as_str(), 0o600),
        ] {
            use std::os::unix::fs::PermissionsExt;
            let p = dir.join(file);
            std::fs::write(&p, body).map_err(SandboxError::io(format!("write {}", p.display())))?;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode))
                .map_err(SandboxError::io(format!("chmod {}", p.display())))?;
            out.push((var.to_string(), p));
        }
        Ok(out)
    }
}

/// The running region's operator (transport from its state file), made once per region and
/// shared by everything in this process: the status, the chaos load, the faults.
pub async fn current() -> Result<Operator> {
    static CURRENT: std::sync::Mutex<Option<(String, Operator)>> = std::sync::Mutex::new(None);
    let st = crate::state::read_state()
        .ok_or_else(|| SandboxError::Setup("no running region (its state file is missing)".into()))?;
    let key = format!("{}/{}/{}", st.supervisor_pid, st.started_at, st.zone_id);
    if let Some((k, op)) = CURRENT.lock().ok().and_then(|g| g.clone()) {
        if k == key {
            return Ok(op);
        }
    }
    let conf = crate::standins::moto::supervisor_sdk_config().await;
    let cluster = crate::config::cluster()?;
    let secret = steadfast_core::tls::CaSecret::from_setting(&cluster, st.ca_secret.as_deref())?;
    let op = Operator::new(Transport::from_flag(st.tls), &cluster, &conf).with_secret(secret);
    if let Ok(mut g) = CURRENT.lock() {
        *g = Some((key, op.clone()));
    }
    Ok(op)
}

/// A client of the member serving on `ip`, as the region's operator.
pub async fn connect_ip(ip: impl std::fmt::Display, opts: ConnectOptions) -> Result<Client> {
    let op = current().await?;
    op.connect(&[op.url(ip, steadfast_core::vocab::CLIENT_PORT)], opts)
        .await
}

/// A client of the client load balancer on `ip`, as an application reaches the cluster: through
/// the client endpoint, with TLS verifying that name (`etcd.C.D`, in every member's
/// certificate), whichever member the balancer picks.
pub async fn connect_client_endpoint(ip: impl std::fmt::Display, opts: ConnectOptions) -> Result<Client> {
    let op = current().await?;
    let access = op.access().await?.with_server_name(&op.cluster.client_endpoint());
    Ok(access
        .client(&[op.url(ip, steadfast_core::vocab::CLIENT_PORT)], opts)
        .await?)
}
