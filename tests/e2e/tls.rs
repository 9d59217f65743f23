//! TLS against real parts: the cluster CA in moto's Secrets Manager, a real etcd with client
//! certificate authentication, the real `steadfast` binary and etcdctl.
//! - Nine nodes racing to create the CA yield exactly one.
//! - A client with a certificate from `steadfast cert issue` writes; one with no certificate,
//!   one from another CA, an expired one, and a plain-http client are all refused. Through the
//!   client load balancer (real HAProxy in TCP mode, as the sandbox's NLB) a client that checks
//!   the client endpoint's name writes; a name no certificate carries, no certificate and plain
//!   http are refused there too.

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use steadfast_core::aws::sdk::{Cloud, SecretsManager};
use steadfast_core::aws::PutOutcome;
use steadfast_core::clock::now;
use steadfast_core::retry::Retry;
use steadfast_core::tls::{ca, cert, CaSecret, CaState, Usage, DAY_SECS};
use steadfast_core::vocab::{ClusterName, Domain, Sans};
use steadfast_core::Cluster;
use steadfast_sandbox::paths::{self, built_bin};
use steadfast_sandbox::standins::haproxy::ClientLb;
use steadfast_sandbox::standins::moto::Moto;

/// The member's address: a loopback address of this test's own.
const IP: Ipv4Addr = Ipv4Addr::new(127, 0, 9, 1);
/// The client load balancer's (HAProxy, as the sandbox runs it for the module's NLB).
const LB_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 9, 2);

fn cluster(name: &str) -> Cluster {
    Cluster::new(
        ClusterName::new(name).unwrap(),
        Domain::new("steadfast.internal").unwrap(),
        9,
        3,
    )
    .unwrap()
}

async fn secrets(moto: &Moto) -> SecretsManager {
    let conf = moto.sdk_config().await;
    Cloud::from_conf(&conf, Retry::with_deadline(Duration::from_secs(20))).secrets
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn nine_nodes_racing_to_create_the_ca_yield_exactly_one() {
    let moto = Moto::start().expect("moto (make deps)");
    rt().block_on(async {
        let sm = Arc::new(secrets(&moto).await);
        let c = cluster("race");
        // All nine start together: each first finds no secret, then creates.
        let gate = Arc::new(tokio::sync::Barrier::new(9));
        let tasks: Vec<_> = (0..9)
            .map(|_| {
                let (sm, c, gate) = (sm.clone(), c.clone(), gate.clone());
                tokio::spawn(async move {
                    gate.wait().await;
                    ca::get_or_create(sm.as_ref(), &c, &CaSecret::of(&c), None, now(), 3650 * DAY_SECS).await
                })
            })
            .collect();
        let mut created = 0;
        let mut fingerprints = std::collections::BTreeSet::new();
        for t in tasks {
            let (state, outcome) = t.await.unwrap().expect("get_or_create");
            created += usize::from(outcome == PutOutcome::Created);
            fingerprints.insert(state.signing_info().unwrap().fingerprint);
        }
        assert_eq!(created, 1, "exactly one creator wins");
        assert_eq!(
            fingerprints.len(),
            1,
            "every node ends up with the same CA: {fingerprints:?}"
        );
        let stored = ca::read(sm.as_ref(), &CaSecret::of(&c)).await.unwrap();
        assert_eq!(
            fingerprints.into_iter().next().unwrap(),
            stored.signing_info().unwrap().fingerprint,
            "the one in Secrets Manager"
        );
    });
}

struct Etcd(std::process::Child);

impl Drop for Etcd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn write(dir: &Path, name: &str, body: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p.to_string_lossy().into_owned()
}

/// etcdctl `put` against the member as (ca, cert, key) at `url`: success, and what it said.
fn put(url: &str, tls: &[(&str, &str)]) -> (bool, String) {
    let etcdctl = paths::etcd_bin_dir().unwrap().join("etcdctl");
    let mut cmd = Command::new(etcdctl);
    cmd.args(["--endpoints", url, "--dial-timeout", "2s", "--command-timeout", "3s"]);
    for (flag, v) in tls {
        cmd.arg(format!("--{flag}={v}"));
    }
    let out = cmd
        .args(["put", "steadfast/tls-test", "v"])
        .env_remove("ETCDCTL_CACERT")
        .env_remove("ETCDCTL_CERT")
        .env_remove("ETCDCTL_KEY")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn only_a_client_with_a_good_certificate_is_served() {
    // A real etcd on a loopback address of its own: one at a time with the region tests, which
    // count the machine's etcd processes.
    let _one = crate::one_region_at_a_time();
    let steadfast = built_bin("steadfast").expect("the steadfast binary (make test builds every binary first)");
    let moto = Moto::start().expect("moto (make deps)");
    let dir = tempfile::tempdir().unwrap();
    let c = cluster("tls");
    let state: CaState = rt().block_on(async {
        let sm = secrets(&moto).await;
        ca::get_or_create(&sm, &c, &CaSecret::of(&c), None, now(), 3650 * DAY_SECS)
            .await
            .unwrap()
            .0
    });
    // The member's certificate, as prepare issues it.
    let peer = c.peer(0).unwrap();
    let leaf = cert::issue(
        &state.signing,
        &c.member_name(peer),
        &c.peer_sans(peer, IP),
        Usage::Peer,
        now(),
        DAY_SECS,
    )
    .unwrap();
    let ca_file = write(dir.path(), "ca.pem", &state.trust_bundle());
    let cert_file = write(dir.path(), "peer.pem", &leaf.cert_pem);
    let key_file = write(dir.path(), "peer-key.pem", &leaf.key_pem);
    let https = format!("https://{IP}:2379");
    let etcd = paths::etcd_bin_dir().unwrap().join("etcd");
    let _etcd = Etcd(
        Command::new(etcd)
            .env("ETCD_NAME", "solo")
            .env("ETCD_DATA_DIR", dir.path().join("data"))
            .env("ETCD_LISTEN_CLIENT_URLS", &https)
            .env("ETCD_LISTEN_METRICS_URLS", format!("http://{IP}:2381"))
            .env("ETCD_ADVERTISE_CLIENT_URLS", &https)
            .env("ETCD_LISTEN_PEER_URLS", format!("https://{IP}:2380"))
            .env("ETCD_INITIAL_ADVERTISE_PEER_URLS", format!("https://{IP}:2380"))
            .env("ETCD_INITIAL_CLUSTER", format!("solo=https://{IP}:2380"))
            .env("ETCD_CERT_FILE", &cert_file)
            .env("ETCD_KEY_FILE", &key_file)
            .env("ETCD_TRUSTED_CA_FILE", &ca_file)
            .env("ETCD_CLIENT_CERT_AUTH", "true")
            .env("ETCD_PEER_CERT_FILE", &cert_file)
            .env("ETCD_PEER_KEY_FILE", &key_file)
            .env("ETCD_PEER_TRUSTED_CA_FILE", &ca_file)
            .env("ETCD_PEER_CLIENT_CERT_AUTH", "true")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );

    // An application's certificate, from the operator's command.
    let app_dir = dir.path().join("app");
    let out = Command::new(&steadfast)
        .args(["cert", "issue", "--name", "billing", "--days", "2", "--out"])
        .arg(&app_dir)
        .envs(moto.env())
        .env("STEADFAST_CLUSTER", "tls")
        .env("STEADFAST_DOMAIN", "steadfast.internal")
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "steadfast cert issue: {said}");
    let app = |f: &str| app_dir.join(f).to_string_lossy().into_owned();
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(app_dir.join("billing-key.pem"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600, "the key is the caller's alone");
    let issued = steadfast_core::tls::CertInfo::parse(&std::fs::read_to_string(app("billing.pem")).unwrap()).unwrap();
    assert_eq!(
        issued.issuer,
        state.signing_info().unwrap().subject,
        "issued from the cluster's CA"
    );
    assert!(
        (issued.not_after - now() - 2 * DAY_SECS).abs() < 600,
        "valid the days asked for"
    );

    // The issued certificate writes (waiting for the member to come up).
    let good = [
        ("cacert", app("ca.pem")),
        ("cert", app("billing.pem")),
        ("key", app("billing-key.pem")),
    ];
    let good: Vec<(&str, &str)> = good.iter().map(|(f, v)| (*f, v.as_str())).collect();
    let t0 = Instant::now();
    loop {
        let (ok, said) = put(&https, &good);
        if ok {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "a client with an issued certificate could not write: {said}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }

    // No certificate.
    let (ok, said) = put(&https, &[("cacert", &app("ca.pem"))]);
    assert!(!ok, "a client with no certificate was served: {said}");
    // One from another CA (another cluster's).
    let other = CaState::create(&cluster("other"), now(), 3650 * DAY_SECS).unwrap();
    let foreign = cert::issue(
        &other.signing,
        "billing",
        &Sans {
            dns: vec![],
            ips: vec![],
        },
        Usage::Client,
        now(),
        DAY_SECS,
    )
    .unwrap();
    let (f_cert, f_key) = (
        write(dir.path(), "foreign.pem", &foreign.cert_pem),
        write(dir.path(), "foreign-key.pem", &foreign.key_pem),
    );
    let (ok, said) = put(
        &https,
        &[("cacert", &app("ca.pem")), ("cert", &f_cert), ("key", &f_key)],
    );
    assert!(!ok, "a client with another CA's certificate was served: {said}");
    // An expired one, from the right CA (valid for a day, three days ago).
    let expired = cert::issue(
        &state.signing,
        "billing",
        &Sans {
            dns: vec![],
            ips: vec![IpAddr::V4(IP)],
        },
        Usage::Client,
        now() - 3 * DAY_SECS,
        DAY_SECS,
    )
    .unwrap();
    let (e_cert, e_key) = (
        write(dir.path(), "expired.pem", &expired.cert_pem),
        write(dir.path(), "expired-key.pem", &expired.key_pem),
    );
    let (ok, said) = put(
        &https,
        &[("cacert", &app("ca.pem")), ("cert", &e_cert), ("key", &e_key)],
    );
    assert!(!ok, "a client with an expired certificate was served: {said}");
    // Plain http, to the same port.
    let (ok, said) = put(&format!("http://{IP}:2379"), &[]);
    assert!(!ok, "a plain-http client was served: {said}");
    // And the good one still writes: the refusals above were about the client, not the member.
    let (ok, said) = put(&https, &good);
    assert!(ok, "{said}");
    // Through the load balancer: HAProxy in TCP mode in front of the member, checking it the way
    // the module's target group does. A client dials the balancer and checks the documented
    // client endpoint's name, etcd.<cluster>.<domain>: every member's certificate carries it
    // (review H2). A name no certificate carries is refused, so the name really is checked.
    let lb_rt = rt();
    let _in_rt = lb_rt.enter();
    let mut lb = ClientLb::start(LB_IP, dir.path()).expect("haproxy (make deps installs it)");
    lb.set_targets(vec![("solo".into(), IP)]).unwrap();
    let via_lb = format!("https://{LB_IP}:2379");
    let read = |f: &str| std::fs::read(app(f)).unwrap();
    let app_access = steadfast_core::etcd::Access::tls(&read("ca.pem"), &read("billing.pem"), &read("billing-key.pem"));
    let through_lb = |name: &str| {
        let access = app_access.clone().with_server_name(name);
        lb_rt.block_on(async {
            let mut c = access
                .connect(std::slice::from_ref(&via_lb), Duration::from_secs(3))
                .await?;
            c.put("steadfast/tls-test", "through the balancer", None)
                .await
                .map_err(steadfast_core::etcd::EtcdError::call("put"))
        })
    };
    assert_eq!(c.client_endpoint(), "etcd.tls.steadfast.internal");
    let t0 = Instant::now();
    while let Err(e) = through_lb(&c.client_endpoint()) {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "a client checking {} through the balancer: {e}\n{}",
            c.client_endpoint(),
            std::fs::read_to_string(dir.path().join("haproxy.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    assert!(
        through_lb("etcd.other.steadfast.internal").is_err(),
        "a name no certificate carries must be refused"
    );
    // The balancer passes TLS through: the member still asks for the client's certificate.
    // (etcdctl cannot name the server it expects, so these two skip the name check; the client
    // above checks it.)
    let (ok, said) = put(
        &via_lb,
        &[("cacert", &app("ca.pem")), ("insecure-skip-tls-verify", "true")],
    );
    assert!(
        !ok,
        "a client with no certificate was served through the balancer: {said}"
    );
    let (ok, said) = put(&format!("http://{LB_IP}:2379"), &[]);
    assert!(!ok, "a plain-http client was served through the balancer: {said}");
    let (ok, said) = put(
        &via_lb,
        &[
            ("cacert", &app("ca.pem")),
            ("cert", &app("billing.pem")),
            ("key", &app("billing-key.pem")),
            ("insecure-skip-tls-verify", "true"),
        ],
    );
    assert!(
        ok,
        "the same client with its certificate is served through the balancer: {said}"
    );
    lb.stop();

    // `ca show` names the secret and its phase.
    let out = Command::new(&steadfast)
        .args(["ca", "show"])
        .envs(moto.env())
        .env("STEADFAST_CLUSTER", "tls")
        .env("STEADFAST_DOMAIN", "steadfast.internal")
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && shown.contains("steadfast/tls/ca") && shown.contains("phase   Stable"),
        "{shown}"
    );
    // Bad input is named: an unknown cluster has no CA.
    let out = Command::new(&steadfast)
        .args(["cert", "issue", "--name", "x", "--out"])
        .arg(dir.path().join("none"))
        .envs(moto.env())
        .env("STEADFAST_CLUSTER", "nosuch")
        .env("STEADFAST_DOMAIN", "steadfast.internal")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("steadfast/nosuch/ca"), "{err}");
    assert!(!dir.path().join("none").exists(), "nothing written on failure");
}
