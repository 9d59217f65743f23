//! The deploy path, offline: `terraform apply` of the real module (`terraform/examples/local`,
//! through `scripts/tf-local.sh`) builds a region in moto, and the binaries run against what
//! it created, read back from moto rather than from our own copy of the names:
//! - peer-dns, configured with the environment Terraform gave the function, handles a launch
//!   event for an instance the module's ASG launched and writes its record in the module's zone;
//! - the module's EventBridge rules match the launch events peer-dns acts on and nothing else
//!   (moto's `TestEventPattern`);
//! - `node-bootstrap prepare`, with the environment file the launch template's user-data
//!   writes, claims the module's volume for its peer (a loop device), under the module's
//!   lifecycle hook, to its etcd environment file.
//!
//! Needs root and loop devices (the prepare part) and Terraform >= 1.5 with the AWS provider:
//! skips loudly without them, fails under CI.

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use steadfast_core::aws::sdk::{client_config, Cloud, Timeouts};
use steadfast_core::aws::{Groups, Instances, Records, Volumes};
use steadfast_core::retry::Retry;
use steadfast_core::vocab::eventbridge::{self, Origin};
use steadfast_core::vocab::{env, Tags, TAG_CLUSTER, TAG_INITIALIZED};
use steadfast_sandbox::node::{Names, NodeEnv, NodeSpec};
use steadfast_sandbox::paths::{built_bin, workspace_root};
use steadfast_sandbox::privileges::skip_unless_block_devices;
use steadfast_sandbox::region::terraform::{cloud_init_file, env_lines, BOOTSTRAP_ENV};
use steadfast_sandbox::standins::http;
use steadfast_sandbox::standins::hypervisor::{create_image, Hypervisor};
use steadfast_sandbox::standins::imds::{Imds, InstanceIdentity};
use steadfast_sandbox::standins::moto::sdk_config_for;

/// The applied region: `tf-local.sh up`'s JSON; `down` when dropped, unless the test took it
/// down itself (and checked that `terraform destroy` worked).
struct Applied {
    dir: tempfile::TempDir,
    up: Value,
    destroyed: bool,
}

impl Drop for Applied {
    fn drop(&mut self) {
        if !self.destroyed {
            let _ = self.down();
        }
    }
}

impl Applied {
    /// `tf-local.sh down`: `terraform destroy` of what `up` applied, then the launcher stopped.
    fn down(&mut self) -> std::io::Result<std::process::Output> {
        self.destroyed = true;
        Command::new(workspace_root().join("scripts/tf-local.sh"))
            .arg("down")
            .arg(self.dir.path())
            .output()
    }

    fn out(&self, name: &str) -> &Value {
        &self.up["outputs"][name]["value"]
    }

    /// A by-peer-index map output, as a list in peer order.
    fn by_peer(&self, name: &str) -> Vec<String> {
        let m: BTreeMap<String, String> = serde_json::from_value(self.out(name).clone())
            .unwrap_or_else(|e| panic!("output {name}: {e}: {}", self.out(name)));
        let mut v: Vec<(u32, String)> = m.into_iter().map(|(k, v)| (k.parse().unwrap(), v)).collect();
        v.sort();
        v.into_iter().map(|(_, v)| v).collect()
    }

    fn http_port(&self) -> u16 {
        let ep = self.up["moto"]["http_endpoint"].as_str().unwrap();
        ep.rsplit(':').next().unwrap().parse().unwrap()
    }

    /// What the node talks to moto with: TLS, as on AWS (the module's buckets deny plain
    /// http, and the launcher enforces that), trusting the launcher's certificate only.
    fn cloud_env(&self) -> Vec<(String, String)> {
        vec![
            (
                "AWS_ENDPOINT_URL".into(),
                self.up["moto"]["https_endpoint"].as_str().unwrap().into(),
            ),
            (
                "SSL_CERT_FILE".into(),
                self.up["moto"]["cert_file"].as_str().unwrap().into(),
            ),
            ("AWS_REGION".into(), "us-east-1".into()),
            ("AWS_DEFAULT_REGION".into(), "us-east-1".into()),
            (
                "AWS_ACCESS_KEY_ID".into(),
                self.up["moto"]["access_key"].as_str().unwrap().into(),
            ),
            (
                "AWS_SECRET_ACCESS_KEY".into(),
                self.up["moto"]["secret_key"].as_str().unwrap().into(),
            ),
        ]
    }
}

/// Whether `scripts/tf-env.sh` finds a Terraform >= 1.5 (with the provider from a mirror or
/// the registry). Without one: a loud skip, or a failure under CI.
pub(crate) fn terraform_missing() -> Option<String> {
    // tf_find prints TF_PLUGIN_DIR; without a mirror, init would need the public registry,
    // which a test never reaches for.
    let out = Command::new("bash")
        .arg("-c")
        .arg("source scripts/tf-env.sh && tf_find && printf '%s\\n' \"$TF_PLUGIN_DIR\"")
        .current_dir(workspace_root())
        .output()
        .ok()?;
    if !out.status.success() {
        return Some(String::from_utf8_lossy(&out.stderr).trim().to_string());
    }
    let plugin_dir = String::from_utf8_lossy(&out.stdout).trim().to_string();
    plugin_dir.is_empty().then(|| {
        "no filesystem mirror of the hashicorp/aws provider found (set STEADFAST_TF_PLUGIN_DIR to one)".to_string()
    })
}

fn apply() -> Applied {
    let dir = tempfile::tempdir().unwrap();
    let nb = built_bin("node-bootstrap").expect("node-bootstrap (cargo test --workspace builds it)");
    let out = Command::new(workspace_root().join("scripts/tf-local.sh"))
        .arg("up")
        .arg(dir.path())
        .env("TF_VAR_peer_count", "3")
        .env("TF_VAR_node_bootstrap_path", &nb)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let applied = Applied {
        up: serde_json::from_str(&stdout).unwrap_or(Value::Null),
        dir,
        destroyed: false,
    };
    assert!(
        out.status.success() && applied.up.is_object(),
        "tf-local.sh up failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    applied
}

/// A SigV4-shaped Authorization header for `service` (moto routes by its scope; it does not
/// check signatures).
fn authorization(service: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential=steadfast-local/20261122/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=0"
    )
}

/// A JSON-protocol call to moto (EventBridge speaks AWS JSON 1.1).
async fn events_call(port: u16, action: &str, body: &Value) -> Value {
    let headers = [
        ("X-Amz-Target", format!("AWSEvents.{action}")),
        ("Content-Type", "application/x-amz-json-1.1".to_string()),
        ("Authorization", authorization("events")),
    ];
    let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, text) = http::request(port, "POST", "/", &h, &body.to_string(), Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(status, 200, "{action}: {text}");
    serde_json::from_str(&text).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terraform_apply_of_the_module_builds_a_region_the_binaries_run_against() {
    if let Some(why) = terraform_missing() {
        let msg = format!("SKIPPED the offline terraform apply: needs Terraform >= 1.5 with the AWS provider ({why})");
        if steadfast_sandbox::privileges::under_ci() {
            panic!("{msg} (CI must run it)");
        }
        eprintln!("\n!!!!!!!!!! {msg} !!!!!!!!!!\n");
        return;
    }
    let mut tf = apply();
    let conf = sdk_config_for(tf.up["moto"]["http_endpoint"].as_str().unwrap()).await;
    let Cloud {
        records: r53,
        groups: asg,
        ec2,
        ..
    } = Cloud::from_conf(&conf, Retry::with_deadline(Duration::from_secs(10)));
    // Raw SDK clients for what no port covers (the group's launch template, its versions).
    let sdk = client_config(&conf, Timeouts::default());
    let cluster_name = tf.out("cluster_name").as_str().unwrap().to_string();
    let groups = tf.by_peer("asg_names");
    let zone_id = tf.out("zone_id").as_str().unwrap().to_string();
    let hook = tf.out("lifecycle_hook_name").as_str().unwrap().to_string();

    // The groups the module made, tagged for the cluster, each holding one instance in
    // Pending:Wait under the module's hook.
    let found = asg
        .cluster_groups(&steadfast_core::ClusterName::new(&cluster_name).unwrap())
        .await
        .unwrap();
    assert_eq!(found.len(), groups.len(), "{found:?}");
    let mut instance_of = BTreeMap::new();
    for g in &found {
        assert!(groups.contains(&g.name));
        let live: Vec<_> = g.live_instances().collect();
        assert_eq!(live.len(), 1, "{g:?}");
        assert!(live[0].lifecycle_state.is_waiting_for_launch_hook(), "{g:?}");
        instance_of.insert(g.name.clone(), live[0].instance_id.clone());
    }

    // peer-dns, with the environment Terraform gave the function.
    let (status, text) = http::request(
        tf.http_port(),
        "GET",
        &format!(
            "/2015-03-31/functions/{}/configuration",
            tf.out("lambda_function_name").as_str().unwrap()
        ),
        &[("Authorization", authorization("lambda").as_str())],
        "",
        Duration::from_secs(10),
    )
    .await
    .unwrap();
    assert_eq!(status, 200, "{text}");
    let lambda: Value = serde_json::from_str(&text).unwrap();
    let fn_env: BTreeMap<String, String> = serde_json::from_value(lambda["Environment"]["Variables"].clone()).unwrap();
    assert_eq!(fn_env[env::HOSTED_ZONE_ID], zone_id);
    let config = peer_dns::Config::from_lookup(|k| fn_env.get(k).cloned()).unwrap();
    let handler = peer_dns::PeerDns::new(config, r53.clone(), asg.clone(), ec2.clone());
    let g0 = &groups[0];
    let i0 = &instance_of[g0];
    let event = eventbridge::launch_lifecycle_action(&Origin::default(), g0, i0, &hook);
    let out = handler.handle(&event).await.unwrap();
    assert_eq!(out.action, peer_dns::Action::Launch, "{out:?}");
    let ip0 = ec2.describe_instances(std::slice::from_ref(i0)).await.unwrap()[0]
        .private_ip
        .unwrap();
    let domain = format!("{cluster_name}.{}.", tf.out("domain").as_str().unwrap());
    let records = r53.list_a_records(&zone_id, &domain).await.unwrap();
    let rec0 = records.iter().find(|r| r.name == format!("peer-0.{domain}")).unwrap();
    assert_eq!(rec0.values, vec![ip0.to_string()], "{records:?}");

    // The module's EventBridge rules: the launch events match, nothing else does.
    let rules: BTreeMap<String, String> = serde_json::from_value(tf.out("event_rule_names").clone()).unwrap();
    let patterns: Vec<String> = {
        let mut v = Vec::new();
        for name in rules.values() {
            let rule = events_call(tf.http_port(), "DescribeRule", &json!({"Name": name})).await;
            if let Some(p) = rule["EventPattern"].as_str() {
                v.push(p.to_string());
            }
        }
        v
    };
    assert_eq!(
        patterns.len(),
        2,
        "the two launch rules (the sweep is a schedule): {rules:?}"
    );
    let o = Origin::default();
    let mut terminate = eventbridge::launch_lifecycle_action(&o, g0, i0, &hook);
    terminate["detail-type"] = json!("EC2 Instance-terminate Lifecycle Action");
    terminate["detail"]["LifecycleTransition"] = json!("autoscaling:EC2_INSTANCE_TERMINATING");
    let mut terminated = eventbridge::launch_successful(&o, g0, i0);
    terminated["detail-type"] = json!("EC2 Instance Terminate Successful");
    let mut ec2_state = eventbridge::launch_successful(&o, g0, i0);
    ec2_state["source"] = json!("aws.ec2");
    ec2_state["detail-type"] = json!("EC2 Instance State-change Notification");
    let cases = [
        (eventbridge::launch_lifecycle_action(&o, g0, i0, &hook), true),
        (eventbridge::launch_successful(&o, g0, i0), true),
        (eventbridge::launch_successful(&o, "someone-elses-group", i0), false),
        (terminate, false),
        (terminated, false),
        (ec2_state, false),
        (eventbridge::scheduled(&o, "any"), false),
    ];
    for (event, want) in cases {
        let mut matched = 0;
        for p in &patterns {
            let r = events_call(
                tf.http_port(),
                "TestEventPattern",
                &json!({"EventPattern": p, "Event": event.to_string()}),
            )
            .await;
            matched += usize::from(r["Result"] == true);
        }
        assert_eq!(
            matched,
            usize::from(want),
            "{} matched {matched} rules",
            event["detail-type"]
        );
    }

    // The instance is the module's: launched by its group from its launch template, with a
    // loopback address from the example's 127.0.0.0/16 VPC.
    let lt = &tf.by_peer("launch_template_ids")[0];
    let g0_desc = sdk
        .autoscaling
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(g0)
        .send()
        .await
        .unwrap();
    let g0_lt = g0_desc.auto_scaling_groups()[0]
        .launch_template()
        .and_then(|t| t.launch_template_id())
        .map(str::to_string);
    assert_eq!(g0_lt.as_ref(), Some(lt), "{g0} launches from the module's template");
    assert!(ip0.is_loopback(), "{ip0}: the example's VPC is 127.0.0.0/16");

    // The rest plays the instance on this machine (a loop device for its volume, a mount
    // namespace): root only. Everything above, and the destroy below, runs without.
    'prepare: {
        if skip_unless_block_devices(
            "terraform_apply_of_the_module_builds_a_region_the_binaries_run_against (node-bootstrap prepare)",
        ) {
            break 'prepare;
        }
        // node-bootstrap with the environment the launch template's user-data writes.
        let versions = sdk
            .ec2
            .describe_launch_template_versions()
            .launch_template_id(lt)
            .versions("$Latest")
            .send()
            .await
            .unwrap();
        let user_data = versions.launch_template_versions()[0]
            .launch_template_data()
            .and_then(|d| d.user_data())
            .unwrap()
            .to_string();
        let user_data = String::from_utf8(aws_smithy_types::base64::decode(user_data).unwrap()).unwrap();
        let bootstrap_env = cloud_init_file(&user_data, BOOTSTRAP_ENV).unwrap_or_else(|| panic!("{user_data}"));
        let node_env = env_lines(&bootstrap_env);
        let get = |k: &str| node_env.iter().find(|(kk, _)| kk == k).map(|(_, v)| v.clone());
        assert_eq!(get(env::LIFECYCLE_HOOK), Some(hook.clone()), "{bootstrap_env}");
        let inst = &ec2.describe_instances(std::slice::from_ref(i0)).await.unwrap()[0];

        // This machine stands in for the instance: its identity, its volume as a loop device, and
        // names resolved from the module's zone.
        let volumes = tf.by_peer("volume_ids");
        let work = tempfile::tempdir().unwrap();
        let root = work.path().join("node");
        std::fs::create_dir_all(root.join("sys/block")).unwrap();
        let img = work.path().join("volume.img");
        create_image(&img, 64).unwrap();
        let hv = Arc::new(Mutex::new(Hypervisor::default()));
        {
            let mut h = hv.lock().unwrap();
            h.images.insert(volumes[0].clone(), img.clone());
            h.roots.insert(i0.clone(), root.clone());
        }
        let (hv2, ec2b, vol0) = (hv.clone(), ec2.clone(), volumes[0].clone());
        let sync = tokio::spawn(async move {
            loop {
                if let Ok(v) = ec2b.describe_volume(&vol0).await {
                    let pairs: Vec<(String, String)> = v
                        .attachments
                        .iter()
                        .filter(|a| a.state == steadfast_core::aws::AttachmentState::Attached)
                        .map(|a| (vol0.clone(), a.instance_id.clone()))
                        .collect();
                    let _ = hv2.lock().map(|mut h| h.sync(&pairs));
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        });
        let hosts = work.path().join("hosts");
        let mut text = String::from("127.0.0.1 localhost\n");
        // (The zone also holds the client alias, an alias record without values.)
        for r in r53.list_a_records(&zone_id, &domain).await.unwrap() {
            for v in &r.values {
                text.push_str(&format!("{v} {}\n", r.name.trim_end_matches('.')));
            }
        }
        std::fs::write(&hosts, text).unwrap();
        let imds = Imds::start(InstanceIdentity {
            instance_id: i0.clone(),
            availability_zone: inst.availability_zone.clone().unwrap(),
            region: "us-east-1".into(),
            private_ip: ip0,
        })
        .await
        .unwrap();
        let cluster = steadfast_core::Cluster::new(
            steadfast_core::ClusterName::new(&cluster_name).unwrap(),
            steadfast_core::Domain::new(tf.out("domain").as_str().unwrap()).unwrap(),
            3,
            3,
        )
        .unwrap();
        let mut spec = NodeSpec::new(
            &root,
            Names::Hosts(hosts),
            NodeEnv::new()
                .cloud(&tf.cloud_env())
                .node(&cluster, &root, &imds.endpoint()),
        );
        for (k, v) in &node_env {
            spec.set(k, v.clone());
        }
        // What differs on this machine: where the volume shows up and is mounted, and where the
        // TLS files and a read-back snapshot go (inside the node's own root: nothing of a test
        // is left on the host), and the etcd user (the install script creates `etcd`; this
        // machine has none, and `nobody` proves the same ownership code).
        spec.set(env::DATA_DIR, root.join("data").to_string_lossy())
            .set(env::ENV_FILE, root.join("etcd.env").to_string_lossy())
            .set(env::TLS_DIR, root.join("tls").to_string_lossy())
            .set(env::SCRATCH_DIR, root.join("scratch").to_string_lossy())
            .set(env::DEV_ROOT, root.to_string_lossy())
            .set(env::ETCD_USER, "nobody");
        let nb = built_bin("node-bootstrap").unwrap();
        let out = spec.command(&format!("{} prepare", nb.display())).output().unwrap();
        sync.abort();
        hv.lock().unwrap().withdraw_all();
        let log = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success(),
            "node-bootstrap prepare under the module's environment:\n{log}"
        );
        let etcd_env = std::fs::read_to_string(root.join("etcd.env")).unwrap();
        assert!(etcd_env.contains("ETCD_NAME=peer-0"), "{etcd_env}");
        assert!(
            etcd_env.contains(&format!("ETCD_DISCOVERY_SRV={}", domain.trim_end_matches('.'))),
            "{etcd_env}"
        );
        assert!(etcd_env.contains("ETCD_INITIAL_CLUSTER_STATE=new"), "{etcd_env}");
        // The fresh data dir was decided from the module's backup bucket (over TLS: its policy
        // denies plain http), which holds no snapshot yet: a new cluster.
        assert!(
            log.contains("recovery decided") && log.contains("bootstrap a new cluster"),
            "{log}"
        );
        assert!(get(env::BACKUP_BUCKET).is_some(), "{bootstrap_env}");
        let vol = ec2.describe_volume(&volumes[0]).await.unwrap();
        assert!(vol.tags.initialized(), "{vol:?}");
        assert_eq!(vol.tags.get(TAG_INITIALIZED), Some("peer-0"));
        assert!(vol
            .tags
            .contains_all(&Tags::from_pairs([(TAG_CLUSTER, cluster_name.as_str())])));
        assert_eq!(
            vol.foreign_holder("nobody-else"),
            Some(i0.as_str()),
            "attached to the module's instance"
        );
        // prepare completes no lifecycle action: the instance still waits on the module's hook
        // (only `ready`, once etcd is healthy, lets it go into service).
        let g = asg.describe_groups(std::slice::from_ref(g0)).await.unwrap();
        let state = g[0]
            .instances
            .iter()
            .find(|i| &i.instance_id == i0)
            .map(|i| i.lifecycle_state.clone());
        assert!(
            state.as_ref().is_some_and(|s| s.is_waiting_for_launch_hook()),
            "{state:?}"
        );
    }

    // terraform destroy of everything the module made.
    let down = tf.down().expect("run tf-local.sh down");
    let said = String::from_utf8_lossy(&down.stdout).to_string();
    assert!(
        down.status.success(),
        "tf-local.sh down (terraform destroy) failed:\n{said}\n{}",
        String::from_utf8_lossy(&down.stderr)
    );
    let report: Value = serde_json::from_str(&said).unwrap_or(Value::Null);
    assert!(
        report["seconds"]["destroy"].as_f64().is_some_and(|s| s > 0.0),
        "tf-local.sh down did not run terraform destroy: {said}"
    );
}
