//! The region as the Terraform module makes it (`sandbox up --terraform`): `scripts/tf-local.sh`
//! applies `terraform/examples/local` (the real module, TLS on) against the region's moto
//! launcher, and the sandbox adopts what it made, read from its outputs and from moto, never
//! restated: the zone, the groups, the volumes, the backup bucket and key, the CA secret's name,
//! the services the nodes may reach (the module's `required_vpc_endpoints`), node-bootstrap's
//! configuration (the `bootstrap.env` the launch template's user-data writes) and peer-dns's (the
//! function's environment). `tf-local.sh destroy` and `apply` make a new deployment of the same
//! name on the same moto, as in an account where whatever Terraform does not own survives.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use aws_config::SdkConfig;
use serde_json::Value;
use steadfast_core::vocab::{env, PlaceholderNetwork, Transport};
use steadfast_core::Cluster;

use super::{cloud, Backups, Clients, Region};
use crate::error::{Result, SandboxError};

/// What `tf-local.sh up` or `apply` printed (its `up.json`).
#[derive(Debug, Clone)]
pub struct Applied {
    pub up: Value,
}

impl Applied {
    pub fn parse(up: Value) -> Result<Self> {
        let a = Self { up };
        a.https_endpoint()?;
        a.cert_file()?;
        a.out("zone_id")?;
        Ok(a)
    }

    /// One output's value.
    pub fn out(&self, name: &str) -> Result<&Value> {
        let v = &self.up["outputs"][name]["value"];
        if v.is_null() {
            return Err(SandboxError::Setup(format!(
                "terraform output {name} is missing (examples/local must output it)"
            )));
        }
        Ok(v)
    }

    /// A string output.
    pub fn string(&self, name: &str) -> Result<String> {
        self.out(name)?
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| SandboxError::Setup(format!("terraform output {name} is not a string")))
    }

    /// A by-peer-index map output, as a list in peer order.
    pub fn by_peer(&self, name: &str) -> Result<Vec<String>> {
        let m = self
            .out(name)?
            .as_object()
            .ok_or_else(|| SandboxError::Setup(format!("terraform output {name} is not a map")))?;
        let mut v: Vec<(u32, String)> = Vec::new();
        for (k, val) in m {
            let n = k
                .parse()
                .map_err(|_| SandboxError::Setup(format!("terraform output {name}: key {k} is not a peer index")))?;
            let s = val
                .as_str()
                .ok_or_else(|| SandboxError::Setup(format!("terraform output {name}[{k}] is not a string")))?;
            v.push((n, s.to_string()));
        }
        v.sort();
        Ok(v.into_iter().map(|(_, s)| s).collect())
    }

    fn moto(&self, key: &str) -> Result<&str> {
        self.up["moto"][key]
            .as_str()
            .ok_or_else(|| SandboxError::Setup(format!("tf-local.sh printed no moto.{key}")))
    }

    /// The launcher's https endpoint (the module's buckets refuse plain http, so nodes use it).
    pub fn https_endpoint(&self) -> Result<String> {
        Ok(self.moto("https_endpoint")?.to_string())
    }

    /// The certificate of the https endpoint (a node trusts it as its only root).
    pub fn cert_file(&self) -> Result<PathBuf> {
        Ok(PathBuf::from(self.moto("cert_file")?))
    }

    /// The launcher's process.
    pub fn moto_pid(&self) -> Option<u32> {
        self.up["moto"]["pid"].as_u64().map(|p| p as u32)
    }

    /// How long `terraform apply` took (s).
    pub fn apply_secs(&self) -> f64 {
        self.up["seconds"]["apply"].as_f64().unwrap_or_default()
    }

    /// The services the nodes may reach: the module's `required_vpc_endpoints` (the gateway and
    /// the interface endpoints a subnet without a route out must have).
    pub fn reachable(&self) -> Result<Vec<String>> {
        let e = self.out("required_vpc_endpoints")?;
        let mut out = Vec::new();
        for kind in ["gateway", "interface"] {
            let list = e[kind].as_array().ok_or_else(|| {
                SandboxError::Setup(format!("terraform output required_vpc_endpoints has no {kind} list"))
            })?;
            out.extend(list.iter().filter_map(|s| s.as_str().map(str::to_string)));
        }
        Ok(out)
    }
}

/// `scripts/tf-local.sh <cmd> <state>` with `envs`: its JSON answer. Its log goes to
/// `<state>/tf-local.log`.
pub fn tf_local(cmd: &str, state: &Path, envs: &[(String, String)]) -> Result<Value> {
    let script = crate::paths::workspace_root().join("scripts/tf-local.sh");
    std::fs::create_dir_all(state).map_err(SandboxError::io(format!("mkdir {}", state.display())))?;
    let log_path = state.join("tf-local.log");
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(SandboxError::io(format!("open {}", log_path.display())))?;
    let out = Command::new(&script)
        .arg(cmd)
        .arg(state)
        .envs(envs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .stderr(log)
        .output()
        .map_err(SandboxError::io(format!("run {}", script.display())))?;
    if !out.status.success() {
        let said = std::fs::read_to_string(&log_path).unwrap_or_default();
        let tail: Vec<&str> = said.lines().rev().take(15).collect();
        return Err(SandboxError::Setup(format!(
            "tf-local.sh {cmd} failed ({}); the end of {}:\n{}",
            out.status,
            log_path.display(),
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        )));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| {
        SandboxError::Setup(format!(
            "tf-local.sh {cmd} printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        ))
    })
}

impl Region {
    /// The region `applied` describes, for `cluster`: what the module made, read back.
    pub async fn adopt(conf: &SdkConfig, cluster: Cluster, transport: Transport, applied: &Applied) -> Result<Self> {
        let name = applied.string("cluster_name")?;
        if name != cluster.name().as_str() || applied.string("domain")? != cluster.domain().as_str() {
            return Err(SandboxError::Setup(format!(
                "Terraform made cluster {name}.{}, not {}",
                applied.string("domain")?,
                cluster.cluster_domain()
            )));
        }
        let cloud = cloud(conf);
        let clients = Clients::new(conf, &cloud);
        let placeholders: PlaceholderNetwork = applied.string("placeholder_network")?.parse()?;
        let groups = applied.by_peer("asg_names")?;
        let volumes = applied.by_peer("volume_ids")?;
        let templates = applied.by_peer("launch_template_ids")?;
        for (what, n) in [
            ("asg_names", groups.len()),
            ("volume_ids", volumes.len()),
            ("launch_template_ids", templates.len()),
        ] {
            if n != cluster.peer_count() as usize {
                return Err(SandboxError::Setup(format!(
                    "terraform output {what} has {n} entries, not one per peer ({})",
                    cluster.peer_count()
                )));
            }
        }
        Ok(Self {
            cluster,
            transport,
            clients,
            cloud,
            placeholders,
            vpc_id: applied.string("vpc_id")?,
            subnets: applied
                .out("subnet_ids")?
                .as_array()
                .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_string)).collect())
                .unwrap_or_default(),
            zone_id: applied.string("zone_id")?,
            launch_template: templates[0].clone(),
            volumes,
            groups,
            backups: Some(Backups {
                bucket: applied.string("backup_bucket_name")?,
                kms_key: applied.string("kms_key_arn")?,
            }),
        })
    }

    /// node-bootstrap's configuration as a node of this region gets it: the `bootstrap.env`
    /// that peer 0's launch template's user-data writes (every peer's is the same), without the
    /// settings that are a machine's own (its paths, its etcd account), which the sandbox gives
    /// each node under its root.
    pub async fn bootstrap_env(&self) -> Result<Vec<(String, String)>> {
        let versions = self
            .clients
            .ec2
            .describe_launch_template_versions()
            .launch_template_id(&self.launch_template)
            .versions("$Latest")
            .send()
            .await
            .map_err(super::aws("ec2", "DescribeLaunchTemplateVersions"))?;
        let encoded = versions
            .launch_template_versions()
            .first()
            .and_then(|v| v.launch_template_data())
            .and_then(|d| d.user_data())
            .ok_or_else(|| SandboxError::Setup(format!("launch template {} has no user-data", self.launch_template)))?;
        let bytes = aws_smithy_types::base64::decode(encoded)
            .map_err(|e| SandboxError::Setup(format!("user-data of {}: {e}", self.launch_template)))?;
        let user_data = String::from_utf8_lossy(&bytes);
        let file = cloud_init_file(&user_data, BOOTSTRAP_ENV).ok_or_else(|| {
            SandboxError::Setup(format!(
                "the user-data of {} writes no {BOOTSTRAP_ENV}",
                self.launch_template
            ))
        })?;
        Ok(env_lines(&file)
            .into_iter()
            .filter(|(k, _)| !MACHINE_OWN.contains(&k.as_str()))
            .collect())
    }
}

/// Where cloud-init writes node-bootstrap's configuration.
pub const BOOTSTRAP_ENV: &str = "/etc/steadfast/bootstrap.env";

/// The settings of `bootstrap.env` that are a machine's own: the sandbox sets them per node.
const MACHINE_OWN: &[&str] = &[
    env::DATA_DIR,
    env::ENV_FILE,
    env::TLS_DIR,
    env::SCRATCH_DIR,
    env::ETCD_USER,
    env::ETCDUTL_BIN,
];

/// `KEY=value` lines (comments and blank lines skipped).
pub fn env_lines(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| l.split_once('=').map(|(k, v)| (k.trim().to_string(), v.to_string())))
        .filter(|(k, _)| !k.is_empty())
        .collect()
}

/// The text of the file cloud-init writes at `path`: the block scalar under its `content: |`.
pub fn cloud_init_file(user_data: &str, path: &str) -> Option<String> {
    let mut lines = user_data.lines().skip_while(|l| l.trim() != format!("- path: {path}"));
    lines.next()?;
    let mut text = String::new();
    let mut indent = None;
    let mut inside = false;
    for l in lines {
        if !inside {
            if l.trim_start().starts_with("- path:") {
                return None;
            }
            inside = l.trim() == "content: |";
            continue;
        }
        let lead = l.len() - l.trim_start().len();
        let want = *indent.get_or_insert(lead);
        if !l.trim().is_empty() && lead < want {
            break;
        }
        text.push_str(l.get(want..).unwrap_or(""));
        text.push('\n');
    }
    Some(text)
}

/// The environment Terraform gave the function `name` (`GetFunctionConfiguration` on moto's
/// plain-http port).
pub async fn function_env(moto_http_port: u16, name: &str) -> Result<Vec<(String, String)>> {
    let auth =
        "AWS4-HMAC-SHA256 Credential=testing/20261202/us-east-1/lambda/aws4_request, SignedHeaders=host, Signature=0";
    let (status, text) = crate::standins::http::request(
        moto_http_port,
        "GET",
        &format!("/2015-03-31/functions/{name}/configuration"),
        &[("Authorization", auth)],
        "",
        Duration::from_secs(10),
    )
    .await?;
    if status != 200 {
        return Err(SandboxError::Setup(format!(
            "GetFunctionConfiguration {name}: {status} {text}"
        )));
    }
    let conf: Value = serde_json::from_str(&text)
        .map_err(|e| SandboxError::Setup(format!("GetFunctionConfiguration {name}: {e}")))?;
    Ok(conf["Environment"]["Variables"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default())
}

/// The client endpoint's host (`etcd.C.D` of Terraform's `host:port` output).
pub fn client_endpoint_host(applied: &Applied) -> Result<String> {
    let ep = applied.string("client_endpoint")?;
    Ok(ep.rsplit_once(':').map(|(h, _)| h.to_string()).unwrap_or(ep))
}

/// A loopback address, checked (the region never sends anything elsewhere).
pub fn loopback(ip: &str) -> Result<Ipv4Addr> {
    let a: Ipv4Addr = ip.parse().map_err(|e| SandboxError::Setup(format!("{ip}: {e}")))?;
    if !a.is_loopback() {
        return Err(SandboxError::Setup(format!("{ip} is not a loopback address")));
    }
    Ok(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cloud_init_reader_takes_exactly_one_block() {
        let ud = "#cloud-config\nwrite_files:\n  - path: /etc/a\n    content: |\n      A=1\n      # c\n      B=two words\n  - path: /etc/b\n    content: |\n      C=3\nruncmd:\n  - x\n";
        assert_eq!(cloud_init_file(ud, "/etc/a").unwrap(), "A=1\n# c\nB=two words\n");
        assert_eq!(cloud_init_file(ud, "/etc/b").unwrap(), "C=3\n");
        assert_eq!(cloud_init_file(ud, "/etc/none"), None);
        assert_eq!(
            env_lines("A=1\n# c\nB=two words\n\n"),
            vec![("A".into(), "1".into()), ("B".into(), "two words".into())]
        );
    }

    #[test]
    fn outputs_are_read_not_restated() {
        let a = Applied::parse(serde_json::json!({
            "moto": {"https_endpoint": "https://127.0.0.1:5443", "cert_file": "/x/c.pem", "pid": 7},
            "outputs": {
                "zone_id": {"value": "Z1"},
                "asg_names": {"value": {"1": "local-peer-1", "0": "local-peer-0", "10": "local-peer-10"}},
                "required_vpc_endpoints": {"value": {"gateway": ["s3"], "interface": ["ec2", "secretsmanager"]}},
                "client_endpoint": {"value": "etcd.local.steadfast.internal:2379"}
            }
        }))
        .unwrap();
        assert_eq!(
            a.by_peer("asg_names").unwrap(),
            ["local-peer-0", "local-peer-1", "local-peer-10"]
        );
        assert_eq!(a.reachable().unwrap(), ["s3", "ec2", "secretsmanager"]);
        assert_eq!(client_endpoint_host(&a).unwrap(), "etcd.local.steadfast.internal");
        assert_eq!(a.moto_pid(), Some(7));
        let missing = a.string("ca_secret_name").unwrap_err().to_string();
        assert!(missing.contains("ca_secret_name"), "{missing}");
        assert!(Applied::parse(serde_json::json!({"outputs": {}})).is_err());
    }
}
