//! The DNS mirror: keeps dnsmasq's A records in step with Route 53 (atomic rename into its
//! hostsdir), as late as the timing profile's propagation delay says, logs each change and when
//! dnsmasq answers it, and restarts dnsmasq if it exits.

use std::collections::{BTreeMap, VecDeque};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use steadfast_core::poll::{self, Backoff, Poll};
use tokio::process::Child;

use super::event_log::{Event, EventLog};
use crate::config::DNS_ADDR;
use crate::dnsq::query_a;
use crate::error::{Result, SandboxError};
use crate::standins::dnsmasq;

type Records = BTreeMap<String, Vec<String>>;

#[derive(Debug)]
pub struct DnsMirror {
    cluster_domain: String,
    srv: Vec<(String, String)>,
    hostsdir: PathBuf,
    staging: PathBuf,
    log: PathBuf,
    /// What dnsmasq answers now.
    records: Records,
    dnsmasq: Child,
    events: EventLog,
    /// A Route 53 change reaches the resolver this late.
    delay: Duration,
    /// Route 53's records as seen, waiting out the delay: (when due, records).
    pending: VecDeque<(Instant, Records)>,
    /// Names whose changes never reach the resolver: it keeps answering what it answered when
    /// the hold began (a change that never propagates; `STEADFAST_SANDBOX_HOLD_DNS`).
    held: BTreeMap<String, Option<Vec<String>>>,
    /// Alias records (no values of their own in Route 53) and the addresses they resolve to
    /// while the zone holds them: the client endpoint's alias of the load balancer.
    aliases: BTreeMap<String, Vec<String>>,
}

fn server() -> SocketAddr {
    (DNS_ADDR.parse::<Ipv4Addr>().unwrap_or(Ipv4Addr::LOCALHOST), 53).into()
}

impl DnsMirror {
    /// Writes `records` and starts dnsmasq with the static `srv` records.
    pub fn start(
        cluster_domain: &str,
        srv: Vec<(String, String)>,
        records: Records,
        dir: &Path,
        events: EventLog,
        delay: Duration,
    ) -> Result<Self> {
        let staging = dir.join("dns");
        let hostsdir = staging.join("hosts.d");
        std::fs::create_dir_all(&hostsdir).map_err(SandboxError::io("mkdir dns"))?;
        dnsmasq::write_hosts(&hostsdir, &staging, &records)?;
        let log = dir.join("dnsmasq.log");
        let child = dnsmasq::start(cluster_domain, &srv, &hostsdir, &log)?;
        events.emit(Event::DnsStarted {
            server: format!("{DNS_ADDR}:53"),
            records: records.len(),
        });
        Ok(Self {
            cluster_domain: cluster_domain.to_string(),
            srv,
            hostsdir,
            staging,
            log,
            records,
            dnsmasq: child,
            events,
            delay,
            pending: VecDeque::new(),
            held: BTreeMap::new(),
            aliases: BTreeMap::new(),
        })
    }

    /// From now on, changes to `name` never reach the resolver.
    pub fn hold(&mut self, name: &str) {
        let now = self.records.get(name).cloned();
        self.events.emit(Event::DnsHeld {
            name: name.to_string(),
            values: now.clone().unwrap_or_default(),
        });
        self.held.insert(name.to_string(), now);
    }

    /// While the zone holds the alias record `name` (with its trailing dot), it resolves to
    /// `values` (a Route 53 alias answers with its target's addresses).
    pub fn alias(&mut self, name: &str, values: Vec<String>) {
        self.aliases.insert(name.to_string(), values);
    }

    /// `route53` as the resolver may see it: aliases answer their target's addresses, held
    /// names keep their held answer.
    fn unheld(&self, route53: &Records) -> Records {
        let mut out = route53.clone();
        for (name, values) in &self.aliases {
            if let Some(v) = out.get_mut(name) {
                *v = values.clone();
            }
        }
        for (name, held) in &self.held {
            match held {
                Some(v) => out.insert(name.clone(), v.clone()),
                None => out.remove(name),
            };
        }
        out
    }

    /// Makes dnsmasq answer what Route 53 held `delay` ago.
    pub fn sync(&mut self, route53: &Records) {
        let route53 = &self.unheld(route53);
        let newest = self.pending.back().map(|(_, r)| r).unwrap_or(&self.records);
        if route53 != newest {
            self.pending.push_back((Instant::now() + self.delay, route53.clone()));
        }
        let mut due = None;
        while self.pending.front().is_some_and(|(t, _)| *t <= Instant::now()) {
            due = self.pending.pop_front().map(|(_, r)| r);
        }
        if let Some(now) = due {
            self.apply(&now);
        }
        self.keep_dnsmasq_running();
    }

    fn apply(&mut self, now: &Records) {
        if *now == self.records {
            return;
        }
        for (name, ips) in now.iter().filter(|(n, ips)| self.records.get(*n) != Some(*ips)) {
            self.events.emit(Event::RecordChanged {
                name: name.clone(),
                values: ips.clone(),
                previous: self.records.get(name).cloned(),
            });
            let (events, name, want) = (self.events.clone(), name.clone(), ips.clone());
            tokio::spawn(async move { watch_visible(events, name, want).await });
        }
        match dnsmasq::write_hosts(&self.hostsdir, &self.staging, now) {
            Ok(()) => self.records = now.clone(),
            Err(e) => self.events.emit(Event::DnsSyncError { error: e.to_string() }),
        }
    }

    fn keep_dnsmasq_running(&mut self) {
        if let Ok(Some(st)) = self.dnsmasq.try_wait() {
            self.events.emit(Event::DnsmasqExited { status: st.code() });
            match dnsmasq::start(&self.cluster_domain, &self.srv, &self.hostsdir, &self.log) {
                Ok(c) => self.dnsmasq = c,
                Err(e) => self.events.emit(Event::DnsSyncError { error: e.to_string() }),
            }
        }
    }

    pub async fn stop(mut self) {
        let _ = self.dnsmasq.kill().await;
    }
}

/// Logs when dnsmasq first answers `name` with `want` (or that it did not within 10 s).
async fn watch_visible(events: EventLog, name: String, want: Vec<String>) {
    let t0 = Instant::now();
    let seen = poll::until(
        Duration::from_secs(10),
        Backoff::every(Duration::from_millis(20)),
        || async {
            Ok::<_, std::convert::Infallible>(match query_a(server(), &name, Duration::from_millis(300)).await {
                Ok(got) if got.iter().map(|i| i.to_string()).collect::<Vec<_>>() == want => Poll::Ready(()),
                Ok(got) => Poll::Pending(format!("{name} answers {got:?}")),
                Err(e) => Poll::Pending(e.to_string()),
            })
        },
    )
    .await;
    match seen {
        Ok(Ok(())) => events.emit(Event::DnsVisible {
            name,
            values: want,
            ms: t0.elapsed().as_millis() as u64,
        }),
        _ => events.emit(Event::DnsNotVisible { name, values: want }),
    }
}
