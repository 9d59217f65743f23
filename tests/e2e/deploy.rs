//! The deploy path, whole: `sandbox up --terraform` applies `terraform/examples/local` (the real
//! module, TLS on) against the region's moto, and the nodes, configured by the launch template's
//! user-data and held to the module's `required_vpc_endpoints`, form a healthy TLS cluster that
//! a client reaches through the load balancer under the client endpoint's name. Then `sandbox
//! redeploy` destroys it and applies it again with the same name, and the new deployment forms
//! a new cluster: a new CA secret beside the old one (which the account keeps), never blocked by
//! it.
//!
//! Needs root, loop devices, namespaces, dnsmasq and Terraform with the AWS provider: skips
//! loudly without them, fails under CI.

use serde_json::Value;
use steadfast_sandbox::config::NODE_KEY;
use steadfast_sandbox::privileges::skip_unless_block_devices;
use steadfast_sandbox::state;

const NAME: &str = "steadfast-tf";

fn sandbox(args: &[&str]) -> (bool, String, String) {
    crate::sandbox::sandbox_as(NAME, args)
}

/// `sandbox exec -- sh -c <script>`: success and what it printed.
fn exec(script: &str) -> (bool, String) {
    let (ok, out, err) = sandbox(&["exec", "--", "sh", "-c", script]);
    (ok, format!("{out}{err}"))
}

fn status() -> Value {
    crate::sandbox::status_as(NAME)
}

/// What the launcher says the nodes called and were refused (its reach report).
fn reach() -> Value {
    let (ok, out) = exec("curl -fsS http://127.0.0.1:5000/_steadfast/reach");
    assert!(ok, "the reach report: {out}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("reach: {e}: {out}"))
}

/// The nodes called only what the deployment provides endpoints for, and needed the CA.
fn reached_only_the_endpoints(when: &str) {
    let r = reach();
    let allowed: Vec<&str> = r["allow"][NODE_KEY]
        .as_array()
        .unwrap_or_else(|| panic!("{when}: no allow-list for the nodes: {r:#}"))
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for s in ["s3", "ec2", "autoscaling", "monitoring", "secretsmanager"] {
        assert!(allowed.contains(&s), "{when}: the module's list lacks {s}: {r:#}");
    }
    assert_eq!(
        r["refused"][NODE_KEY].as_object().map_or(0, |m| m.len()),
        0,
        "{when}: a node called a service the module provides no endpoint for: {r:#}"
    );
    let called = r["called"][NODE_KEY]
        .as_object()
        .unwrap_or_else(|| panic!("{when}: the nodes called nothing: {r:#}"));
    assert!(called.contains_key("secretsmanager"), "{when}: TLS reads the CA: {r:#}");
}

/// Through the client endpoint (the load balancer), TLS checking its name: the cluster id.
fn cluster_id_through_the_load_balancer(key: &str) -> String {
    let ep = "https://etcd.local.steadfast.internal:2379";
    let (ok, out) = exec(&format!("etcdctl --endpoints {ep} put {key} v"));
    assert!(ok && out.contains("OK"), "a put through {ep}: {out}");
    let (ok, out) = exec(&format!("etcdctl --endpoints {ep} endpoint status -w json"));
    assert!(ok, "endpoint status through {ep}: {out}");
    let v: Value = serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"));
    v[0]["Status"]["header"]["cluster_id"].to_string()
}

#[test]
fn the_modules_region_forms_a_tls_cluster_and_a_new_deployment_of_the_same_name_forms_another() {
    let name = "the_modules_region_forms_a_tls_cluster_and_a_new_deployment_of_the_same_name_forms_another";
    if skip_unless_block_devices(name) {
        return;
    }
    if let Some(why) = crate::terraform::terraform_missing() {
        let msg = format!("SKIPPED {name}: needs Terraform >= 1.5 with the AWS provider ({why})");
        if steadfast_sandbox::privileges::under_ci() {
            panic!("{msg} (CI must run it)");
        }
        eprintln!("\n!!!!!!!!!! {msg} !!!!!!!!!!\n");
        return;
    }
    let _one = crate::one_region_at_a_time();
    std::env::set_var("STEADFAST_SANDBOX_NAME", NAME);
    let _ = sandbox(&["down"]);
    let _guard = crate::sandbox::Down(NAME);

    // The first deployment.
    let (ok, out, err) = sandbox(&["up", "--terraform", "--detach", "--timeout-secs", "300"]);
    assert!(ok, "sandbox up --terraform failed:\n{out}\n{err}");
    let first = state::read_state().expect("the region's state file");
    assert!(first.terraform && first.tls, "{first:?}");
    let secret1 = first.ca_secret.clone().expect("Terraform names the CA secret");
    assert!(
        secret1.starts_with("steadfast/local/ca-"),
        "one name per deployment: {secret1}"
    );
    let s = status();
    assert_eq!(s["healthy"], true, "{s:#}");
    for p in s["peers"].as_array().unwrap() {
        assert_eq!(p["lifecycle"], "InService", "{p}");
    }
    // Every node ran with the configuration the module's user-data writes.
    for (id, n) in state::read_nodes() {
        let get = |k: &str| n.env.iter().find(|(kk, _)| kk == k).map(|(_, v)| v.clone());
        assert_eq!(get("STEADFAST_TLS_CA_NAME").as_deref(), Some(secret1.as_str()), "{id}");
        assert_eq!(get("STEADFAST_TLS").as_deref(), Some("true"), "{id}");
        assert!(
            get("AWS_ENDPOINT_URL").is_some_and(|u| u.starts_with("https://")),
            "{id}"
        );
    }
    reached_only_the_endpoints("the first deployment");
    let id1 = cluster_id_through_the_load_balancer("steadfast/first");

    // terraform destroy, then apply with the same name: a new deployment.
    let (ok, out, err) = sandbox(&["redeploy"]);
    assert!(ok, "sandbox redeploy failed:\n{out}\n{err}");
    let second = state::read_state().expect("the region's state file");
    let secret2 = second.ca_secret.clone().expect("Terraform names the CA secret");
    assert_ne!(second.zone_id, first.zone_id, "a new zone");
    assert_ne!(secret2, secret1, "a new deployment, a new CA secret");
    assert_eq!(status()["healthy"], true);
    reached_only_the_endpoints("the second deployment");
    // etcd's cluster ID is the same: it is derived from the members' URLs and the initial
    // cluster token (the cluster's name), which a deployment of the same name repeats. What
    // makes it a new cluster is its data: the old key is not there.
    let id2 = cluster_id_through_the_load_balancer("steadfast/second");
    assert_eq!(id2, id1, "the same names make the same cluster ID");
    let (ok, out) =
        exec("etcdctl --endpoints https://etcd.local.steadfast.internal:2379 get steadfast/first --print-value-only");
    assert!(
        ok && out.trim().is_empty(),
        "the old cluster's data is not in the new one: {out}"
    );
    // The account kept the first deployment's CA secret (Terraform never owned it), and it
    // stood in nobody's way.
    let venv_python = steadfast_sandbox::paths::venv().join("bin/python");
    let (ok, out) = exec(&format!(
        "{} -c 'import boto3; c = boto3.client(\"secretsmanager\", endpoint_url=\"http://127.0.0.1:5000\", region_name=\"us-east-1\", aws_access_key_id=\"x\", aws_secret_access_key=\"x\"); print(\"\\n\".join(s[\"Name\"] for s in c.list_secrets()[\"SecretList\"]))'",
        venv_python.display()
    ));
    assert!(ok, "{out}");
    assert!(
        out.lines().any(|l| l == secret1) && out.lines().any(|l| l == secret2),
        "{out}"
    );

    let (ok, out, err) = sandbox(&["down"]);
    assert!(ok, "down: {out} {err}");
}
