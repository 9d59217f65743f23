//! The client load every scenario runs under: unique-key writes and linearizable reads through
//! the peers' stable names, as real clients do (each attempt resolves `peer-N` through the
//! region's DNS), with a 0.5 s client timeout that fails over to the next peer. Several writers
//! run at once, as a cluster's clients do: the longest write gap is then the time no client
//! could write, not one client's retry schedule (a single sequential client that has just sent
//! a write into a dead leader sees nothing for a whole client timeout, whenever the new leader
//! was elected). Every
//! acknowledged write is recorded with its timestamps; a few single-key registers are written
//! with increasing values, and a read must never return a version older than one acknowledged
//! before the read began.
//!
//! One more writer goes only through the client endpoint (`etcd.C.D`, the client load balancer
//! in front of every member), with TLS verifying that name, as most applications connect: it
//! fails over by connecting again through the same name, never to a peer by name. Its writes
//! are checked like every other (none may be lost) and its gaps are reported apart.
//!
//! "Older" is judged by the store revision the read's value was written at (its
//! `mod_revision`), not by the number: etcd gives a write that timed out at the client no
//! outcome, and it may still be applied later, at a newer revision. A put sent to a follower
//! whose leader was frozen is forwarded to that leader; when it resumes (as a follower of the
//! new leader) it forwards the proposal on, and the old value lands after newer ones. That is
//! etcd's contract for a timed-out request, not a stale read; the load counts it as a late write.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use etcd_client::{Client, ConnectOptions, GetOptions};
use steadfast_core::backup::RestoreOrder;
use steadfast_core::Cluster;

use crate::config::DNS_ADDR;
use crate::dnsq::query_a;

/// The client timeout: a request that takes longer fails over to another peer.
pub const CLIENT_TIMEOUT: Duration = Duration::from_millis(500);
/// How many single-key registers the stale-read check uses.
const REGISTERS: u64 = 3;
/// Concurrent writers, each starting at another peer (and one more through the client endpoint).
pub const WRITERS: u32 = 4;
/// Pause between one writer's attempts (a steady ~100 writes/s in all when the cluster answers
/// at once).
const WRITE_EVERY: Duration = Duration::from_millis(40);
/// Pause before a failed write is tried at the next peer.
const RETRY_EVERY: Duration = Duration::from_millis(10);
const READ_EVERY: Duration = Duration::from_millis(20);

/// One acknowledged write: its key's sequence number and when the successful attempt began and
/// ended (since the load started).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ack {
    pub seq: u64,
    pub start_ms: f64,
    pub end_ms: f64,
    /// The store revision etcd acknowledged it at (what a snapshot's revision is compared with).
    pub revision: i64,
}

/// What the load saw.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    pub attempts: u64,
    pub failed: u64,
    pub acks: Vec<Ack>,
    pub reads: u64,
    pub stale_reads: u64,
    /// The first few stale reads, explained.
    pub stale_examples: Vec<String>,
    /// Reads that returned a register's older value written again at a newer revision: a write
    /// that timed out at the client and was applied later (see the module's doc). Not stale.
    pub late_writes: u64,
    /// The first few late writes, explained.
    pub late_examples: Vec<String>,
    /// The first few failures, explained (the error kinds clients saw).
    pub failure_examples: Vec<String>,
    /// Every stale read seen, and every acknowledged register write (at the end): what
    /// [`Tally::stale_after_restore`] judges again.
    pub stale: Vec<StaleRead>,
    pub register_acks: Vec<RegisterAck>,
    /// The writer through the client endpoint (its writes are not in `acks`).
    pub lb: ViaEndpoint,
}

/// What the writer through the client endpoint saw.
#[derive(Debug, Clone, Default)]
pub struct ViaEndpoint {
    pub attempts: u64,
    pub failed: u64,
    pub acks: Vec<Ack>,
    /// The first few failures, explained.
    pub failure_examples: Vec<String>,
}

/// A register write that was acknowledged: register, value, when, at which revision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegisterAck {
    register: u64,
    value: u64,
    end: Instant,
    revision: i64,
}

/// A read that returned an older version than one acknowledged before it began.
#[derive(Debug, Clone, Copy)]
pub struct StaleRead {
    peer: u32,
    register: u64,
    got: Version,
    began: Instant,
}

/// A register's value as a read returned it, with the revision it was written at (0 and 0 when
/// the key does not exist).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Version {
    pub value: u64,
    pub mod_revision: i64,
}

/// What one register read says about the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// At least as new as every write acknowledged before the read began.
    Fresh,
    /// Written at a revision older than `floor`, a write acknowledged before the read began:
    /// the read missed an acknowledged write.
    Stale { floor: RegisterAck },
    /// A smaller value than `floor`'s, but written after it: a timed-out write applied late.
    LateWrite { floor: RegisterAck },
}

/// Judges a read of `register` that began at `began` against the acknowledged register writes
/// `acks` (those that count: all of them, or after a restore those it kept).
pub fn judge<'a>(
    got: Version,
    register: u64,
    began: Instant,
    acks: impl IntoIterator<Item = &'a RegisterAck>,
) -> Verdict {
    let floor = acks
        .into_iter()
        .filter(|a| a.register == register && a.end < began)
        .max_by_key(|a| a.revision);
    match floor {
        Some(f) if got.mod_revision < f.revision => Verdict::Stale { floor: *f },
        Some(f) if got.value < f.value => Verdict::LateWrite { floor: *f },
        _ => Verdict::Fresh,
    }
}

impl Tally {
    /// After a whole-cluster restore by the plan `o`, the registers went back to their values
    /// at the snapshot's revision: a read is stale only when it returns a version older than one
    /// acknowledged before the read began that the restore kept ([`RestoreOrder::keeps`]: in the
    /// snapshot, or acknowledged by the restored cluster). Recounts `stale_reads` and its
    /// examples.
    pub fn stale_after_restore(&mut self, o: &RestoreOrder) {
        let kept: Vec<RegisterAck> = self
            .register_acks
            .iter()
            .filter(|a| o.keeps(a.revision))
            .copied()
            .collect();
        let stale: Vec<(StaleRead, RegisterAck)> = self
            .stale
            .iter()
            .filter_map(|r| match judge(r.got, r.register, r.began, &kept) {
                Verdict::Stale { floor } => Some((*r, floor)),
                Verdict::Fresh | Verdict::LateWrite { .. } => None,
            })
            .collect();
        self.stale_reads = stale.len() as u64;
        self.stale_examples = stale
            .iter()
            .take(5)
            .map(|(r, f)| format!("{}, in the snapshot or after the restore", stale_text(r, f)))
            .collect();
    }
}

fn stale_text(r: &StaleRead, floor: &RegisterAck) -> String {
    format!(
        "peer-{} returned {} (written at revision {}) for register {} after {} (revision {}) was acknowledged",
        r.peer, r.got.value, r.got.mod_revision, r.register, floor.value, floor.revision
    )
}

/// A client per resolved address, made on first use: of the member there, or (`endpoint`) of
/// the client load balancer there, verifying the client endpoint's name.
#[derive(Default)]
struct Clients {
    by_ip: BTreeMap<Ipv4Addr, Client>,
    endpoint: bool,
}

impl std::fmt::Debug for Clients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.by_ip.keys()).finish()
    }
}

impl Clients {
    async fn get(&mut self, ip: Ipv4Addr) -> Result<Client, String> {
        if let Some(c) = self.by_ip.get(&ip) {
            return Ok(c.clone());
        }
        let opts = ConnectOptions::new()
            .with_timeout(CLIENT_TIMEOUT)
            .with_connect_timeout(CLIENT_TIMEOUT);
        // As the region's operator: with TLS, a client certificate from the cluster's CA.
        let connect = async {
            if self.endpoint {
                crate::operator::connect_client_endpoint(ip, opts).await
            } else {
                crate::operator::connect_ip(ip, opts).await
            }
        };
        let c = tokio::time::timeout(CLIENT_TIMEOUT, connect)
            .await
            .map_err(|_| format!("{ip}: no connection within {CLIENT_TIMEOUT:?}"))?
            .map_err(|e| format!("{ip}: {e}"))?;
        self.by_ip.insert(ip, c.clone());
        Ok(c)
    }

    fn forget(&mut self, ip: Ipv4Addr) {
        self.by_ip.remove(&ip);
    }
}

fn dns() -> SocketAddr {
    (DNS_ADDR.parse::<Ipv4Addr>().unwrap_or(Ipv4Addr::LOCALHOST), 53).into()
}

/// The address peer `n`'s stable name resolves to now.
async fn resolve(cluster: &Cluster, n: u32) -> Result<Ipv4Addr, String> {
    let p = cluster.peer(n).map_err(|e| e.to_string())?;
    let ips = query_a(dns(), &cluster.peer_host(p), Duration::from_millis(200)).await?;
    ips.first().copied().ok_or_else(|| "no address".into())
}

/// The address the client endpoint resolves to now (the client load balancer's).
async fn resolve_endpoint(cluster: &Cluster) -> Result<Ipv4Addr, String> {
    let name = cluster.client_endpoint();
    let ips = query_a(dns(), &name, Duration::from_millis(200)).await?;
    ips.first().copied().ok_or_else(|| format!("{name}: no address"))
}

/// The running load; [`Load::stop`] ends it and returns what it saw.
#[derive(Debug)]
pub struct Load {
    stop: Arc<AtomicBool>,
    tally: Arc<Mutex<Tally>>,
    registers: Arc<Mutex<Vec<RegisterAck>>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    pub started: Instant,
    pub prefix: String,
}

impl Load {
    /// Starts writers and a reader on keys under `prefix`.
    pub fn start(cluster: &Cluster, prefix: &str) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let tally = Arc::new(Mutex::new(Tally::default()));
        let registers: Arc<Mutex<Vec<RegisterAck>>> = Arc::default();
        let started = Instant::now();
        let next_seq = Arc::new(AtomicU64::new(0));
        let mut tasks: Vec<_> = (0..WRITERS)
            .map(|w| {
                tokio::spawn(write_loop(
                    Writer {
                        cluster: cluster.clone(),
                        index: w,
                        prefix: prefix.to_string(),
                        next_seq: next_seq.clone(),
                        started,
                    },
                    stop.clone(),
                    tally.clone(),
                    registers.clone(),
                ))
            })
            .collect();
        let reader = tokio::spawn(read_loop(
            cluster.clone(),
            prefix.to_string(),
            stop.clone(),
            tally.clone(),
            registers.clone(),
        ));
        tasks.push(reader);
        tasks.push(tokio::spawn(endpoint_write_loop(
            Writer {
                cluster: cluster.clone(),
                index: WRITERS,
                prefix: prefix.to_string(),
                next_seq: next_seq.clone(),
                started,
            },
            stop.clone(),
            tally.clone(),
        )));
        Self {
            stop,
            tally,
            registers,
            tasks,
            started,
            prefix: prefix.to_string(),
        }
    }

    /// Milliseconds since the load started.
    pub fn now_ms(&self) -> f64 {
        self.started.elapsed().as_secs_f64() * 1000.0
    }

    /// A snapshot of what was seen so far.
    pub fn tally(&self) -> Tally {
        self.tally.lock().map(|t| t.clone()).unwrap_or_default()
    }

    pub async fn stop(self) -> Tally {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.tasks {
            let _ = t.await;
        }
        let mut t = self.tally.lock().map(|t| t.clone()).unwrap_or_default();
        t.register_acks = self.registers.lock().map(|r| r.clone()).unwrap_or_default();
        t
    }
}

fn ms(since: Instant, t: Instant) -> f64 {
    t.saturating_duration_since(since).as_secs_f64() * 1000.0
}

/// One writer: which, and what it shares with the others.
#[derive(Debug)]
struct Writer {
    cluster: Cluster,
    index: u32,
    prefix: String,
    /// The next unique key's sequence number, shared by all writers.
    next_seq: Arc<AtomicU64>,
    started: Instant,
}

async fn write_loop(
    w: Writer,
    stop: Arc<AtomicBool>,
    tally: Arc<Mutex<Tally>>,
    registers: Arc<Mutex<Vec<RegisterAck>>>,
) {
    let Writer {
        cluster,
        index,
        prefix,
        next_seq,
        started,
    } = w;
    let mut clients = Clients::default();
    let mut peer = (index * 2) % cluster.peer_count();
    let mut own = 0u64;
    let mut reg_value = 0u64;
    while !stop.load(Ordering::SeqCst) {
        // Writer 0's every 10th write is a register write (increasing values; one writer, so a
        // later value is never overtaken by an earlier one); the rest are unique keys.
        let register = (index == 0 && own % 10 == 0).then_some((own / 10) % REGISTERS);
        own += 1;
        let seq = if register.is_some() {
            0
        } else {
            next_seq.fetch_add(1, Ordering::SeqCst)
        };
        let (key, value) = match register {
            Some(r) => {
                reg_value += 1;
                (format!("{prefix}/reg/{r}"), reg_value.to_string())
            }
            None => (write_key(&prefix, seq), seq.to_string()),
        };
        // The same key, failing over from peer to peer, until it is acknowledged.
        loop {
            if stop.load(Ordering::SeqCst) {
                return;
            }
            let t0 = Instant::now();
            let outcome = attempt_put(&cluster, &mut clients, peer, &key, &value).await;
            let t1 = Instant::now();
            let acked = record(
                &tally,
                &registers,
                outcome,
                register,
                reg_value,
                seq,
                peer,
                (ms(started, t0), ms(started, t1), t1),
            );
            if acked {
                break;
            }
            peer = (peer + 1) % cluster.peer_count();
            tokio::time::sleep(RETRY_EVERY).await;
        }
        tokio::time::sleep(WRITE_EVERY).await;
    }
}

/// The writer through the client endpoint: unique keys only; a failed write is tried again
/// through the same name (a new connection, wherever the load balancer sends it).
async fn endpoint_write_loop(w: Writer, stop: Arc<AtomicBool>, tally: Arc<Mutex<Tally>>) {
    let mut clients = Clients {
        endpoint: true,
        ..Clients::default()
    };
    while !stop.load(Ordering::SeqCst) {
        let seq = w.next_seq.fetch_add(1, Ordering::SeqCst);
        let key = write_key(&w.prefix, seq);
        loop {
            if stop.load(Ordering::SeqCst) {
                return;
            }
            let t0 = Instant::now();
            let outcome = match resolve_endpoint(&w.cluster).await {
                Ok(ip) => put(&mut clients, ip, &key, &seq.to_string()).await,
                Err(e) => Err(e),
            };
            let t1 = Instant::now();
            let span = (ms(w.started, t0), ms(w.started, t1));
            if record_endpoint(&tally, &w.cluster, outcome, seq, span) {
                break;
            }
            tokio::time::sleep(RETRY_EVERY).await;
        }
        tokio::time::sleep(WRITE_EVERY).await;
    }
}

/// Records one attempt through the client endpoint; whether it was acknowledged.
fn record_endpoint(
    tally: &Mutex<Tally>,
    cluster: &Cluster,
    outcome: Result<i64, String>,
    seq: u64,
    (start_ms, end_ms): (f64, f64),
) -> bool {
    let Ok(mut t) = tally.lock() else { return false };
    let lb = &mut t.lb;
    lb.attempts += 1;
    match outcome {
        Ok(revision) => {
            lb.acks.push(Ack {
                seq,
                start_ms,
                end_ms,
                revision,
            });
            true
        }
        Err(e) => {
            lb.failed += 1;
            if lb.failure_examples.len() < 5 {
                lb.failure_examples.push(format!("{}: {e}", cluster.client_endpoint()));
            }
            false
        }
    }
}

/// Records one attempt; whether it was acknowledged.
#[allow(clippy::too_many_arguments)]
fn record(
    tally: &Mutex<Tally>,
    registers: &Mutex<Vec<RegisterAck>>,
    outcome: Result<i64, String>,
    register: Option<u64>,
    reg_value: u64,
    seq: u64,
    peer: u32,
    (start_ms, end_ms, end): (f64, f64, Instant),
) -> bool {
    let Ok(mut t) = tally.lock() else { return false };
    t.attempts += 1;
    match outcome {
        Ok(revision) => {
            match register {
                Some(r) => {
                    if let Ok(mut regs) = registers.lock() {
                        regs.push(RegisterAck {
                            register: r,
                            value: reg_value,
                            end,
                            revision,
                        });
                    }
                }
                None => t.acks.push(Ack {
                    seq,
                    start_ms,
                    end_ms,
                    revision,
                }),
            }
            true
        }
        Err(e) => {
            t.failed += 1;
            if t.failure_examples.len() < 5 {
                t.failure_examples.push(format!("peer-{peer}: {e}"));
            }
            false
        }
    }
}

async fn attempt_put(
    cluster: &Cluster,
    clients: &mut Clients,
    peer: u32,
    key: &str,
    value: &str,
) -> Result<i64, String> {
    let ip = resolve(cluster, peer).await?;
    put(clients, ip, key, value).await
}

/// One put through the client for `ip`; the revision it was acknowledged at.
async fn put(clients: &mut Clients, ip: Ipv4Addr, key: &str, value: &str) -> Result<i64, String> {
    let mut c = clients.get(ip).await?;
    match tokio::time::timeout(CLIENT_TIMEOUT, c.put(key, value, None)).await {
        Ok(Ok(r)) => Ok(r.header().map(|h| h.revision()).unwrap_or_default()),
        Ok(Err(e)) => {
            clients.forget(ip);
            Err(e.to_string())
        }
        Err(_) => {
            clients.forget(ip);
            Err(format!("no answer within {CLIENT_TIMEOUT:?}"))
        }
    }
}

async fn read_loop(
    cluster: Cluster,
    prefix: String,
    stop: Arc<AtomicBool>,
    tally: Arc<Mutex<Tally>>,
    registers: Arc<Mutex<Vec<RegisterAck>>>,
) {
    let mut clients = Clients::default();
    let mut n = 0u64;
    while !stop.load(Ordering::SeqCst) {
        n += 1;
        let register = n % REGISTERS;
        // Reads go round the peers, so most are served by a member other than the writer's.
        let peer = ((n / REGISTERS) % u64::from(cluster.peer_count())) as u32;
        let began = Instant::now();
        let read = read_register(&cluster, &mut clients, peer, &format!("{prefix}/reg/{register}")).await;
        if let Ok(got) = read {
            let verdict = registers
                .lock()
                .map(|acks| judge(got, register, began, acks.iter()))
                .unwrap_or(Verdict::Fresh);
            if let Ok(mut t) = tally.lock() {
                t.reads += 1;
                let r = StaleRead {
                    peer,
                    register,
                    got,
                    began,
                };
                match verdict {
                    Verdict::Fresh => {}
                    Verdict::Stale { floor } => {
                        t.stale.push(r);
                        t.stale_reads += 1;
                        if t.stale_examples.len() < 5 {
                            t.stale_examples.push(stale_text(&r, &floor));
                        }
                    }
                    Verdict::LateWrite { floor } => {
                        t.late_writes += 1;
                        if t.late_examples.len() < 3 {
                            t.late_examples.push(format!(
                                "late write (not stale): peer-{peer} returned {} for register {register}, written at revision {} after {} was acknowledged at revision {}: a put that timed out at the client was applied later",
                                got.value, got.mod_revision, floor.value, floor.revision
                            ));
                        }
                    }
                }
            }
        }
        tokio::time::sleep(READ_EVERY).await;
    }
}

/// A linearizable read of a register (value and revision 0 when it does not exist yet).
async fn read_register(cluster: &Cluster, clients: &mut Clients, peer: u32, key: &str) -> Result<Version, String> {
    let ip = resolve(cluster, peer).await?;
    let mut c = clients.get(ip).await?;
    match tokio::time::timeout(CLIENT_TIMEOUT, c.get(key, None)).await {
        Ok(Ok(r)) => Ok(r.kvs().first().map_or(
            Version {
                value: 0,
                mod_revision: 0,
            },
            |kv| Version {
                value: kv.value_str().ok().and_then(|v| v.parse().ok()).unwrap_or(0),
                mod_revision: kv.mod_revision(),
            },
        )),
        Ok(Err(e)) => {
            clients.forget(ip);
            Err(e.to_string())
        }
        Err(_) => {
            clients.forget(ip);
            Err("timeout".into())
        }
    }
}

/// Every acknowledged write, read back (linearizable) through any member that answers: the
/// acknowledged sequence numbers whose key is missing or holds another value.
pub async fn lost_writes(cluster: &Cluster, prefix: &str, acks: &[Ack]) -> Result<Vec<u64>, String> {
    let mut clients = Clients::default();
    let mut last = String::new();
    for attempt in 0..(cluster.peer_count() * 3) {
        let peer = attempt % cluster.peer_count();
        let ip = match resolve(cluster, peer).await {
            Ok(ip) => ip,
            Err(e) => {
                last = e;
                continue;
            }
        };
        let mut c = match clients.get(ip).await {
            Ok(c) => c,
            Err(e) => {
                last = e;
                continue;
            }
        };
        let opts = GetOptions::new().with_prefix();
        match tokio::time::timeout(Duration::from_secs(10), c.get(format!("{prefix}/w/"), Some(opts))).await {
            Ok(Ok(r)) => {
                let have: BTreeMap<String, String> = r
                    .kvs()
                    .iter()
                    .filter_map(|kv| Some((kv.key_str().ok()?.to_string(), kv.value_str().ok()?.to_string())))
                    .collect();
                return Ok(acks
                    .iter()
                    .filter(|a| have.get(&write_key(prefix, a.seq)) != Some(&a.seq.to_string()))
                    .map(|a| a.seq)
                    .collect());
            }
            Ok(Err(e)) => last = e.to_string(),
            Err(_) => last = "timeout".into(),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Err(format!("no member could be read: {last}"))
}

/// Where a lost key still is: each peer's own copy (a serializable read, answered from that
/// member's state alone), as `peer-N: present|missing|<error>`. Tells a member that lost applied
/// writes from a write the cluster never had.
pub async fn whereabouts(cluster: &Cluster, key: &str) -> Vec<String> {
    let mut clients = Clients::default();
    let mut out = Vec::new();
    for peer in 0..cluster.peer_count() {
        let state = match resolve(cluster, peer).await {
            Err(e) => e,
            Ok(ip) => match clients.get(ip).await {
                Err(e) => e,
                Ok(mut c) => {
                    let opts = GetOptions::new().with_serializable();
                    match tokio::time::timeout(Duration::from_secs(2), c.get(key, Some(opts))).await {
                        Ok(Ok(r)) if r.kvs().is_empty() => "missing".into(),
                        Ok(Ok(_)) => "present".into(),
                        Ok(Err(e)) => e.to_string(),
                        Err(_) => "timeout".into(),
                    }
                }
            },
        };
        out.push(format!("peer-{peer}: {state}"));
    }
    out
}

/// The key an acknowledged unique write `seq` went to.
pub fn write_key(prefix: &str, seq: u64) -> String {
    format!("{prefix}/w/{seq:08}")
}

/// The longest interval without an acknowledged write, between `from_ms` and `to_ms`.
pub fn longest_gap(acks: &[Ack], from_ms: f64, to_ms: f64) -> f64 {
    let mut ends: Vec<f64> = acks
        .iter()
        .map(|a| a.end_ms)
        .filter(|t| *t >= from_ms && *t <= to_ms)
        .collect();
    ends.sort_by(f64::total_cmp);
    let mut prev = from_ms;
    let mut gap: f64 = 0.0;
    for e in ends {
        gap = gap.max(e - prev);
        prev = e;
    }
    gap.max(to_ms - prev)
}

/// The `p`th percentile (0..=100) of `v`.
pub fn percentile(v: &[f64], p: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * (s.len() as f64 - 1.0)).round() as usize;
    s[rank.min(s.len() - 1)]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ack(seq: u64, end: f64) -> Ack {
        Ack {
            seq,
            start_ms: end - 1.0,
            end_ms: end,
            revision: seq as i64 + 1,
        }
    }

    fn reg(register: u64, value: u64, revision: i64, end: Instant) -> RegisterAck {
        RegisterAck {
            register,
            value,
            end,
            revision,
        }
    }

    fn v(value: u64, mod_revision: i64) -> Version {
        Version { value, mod_revision }
    }

    #[test]
    fn reads_are_judged_by_revision_not_by_value() {
        let t0 = Instant::now();
        let later = t0 + Duration::from_secs(1);
        let began = t0 + Duration::from_secs(2);
        let acks = [reg(1, 8, 100, t0), reg(1, 71, 900, later), reg(2, 99, 950, later)];
        // The newest acknowledged write, or a newer one: fresh.
        assert_eq!(judge(v(71, 900), 1, began, &acks), Verdict::Fresh);
        assert_eq!(judge(v(74, 960), 1, began, &acks), Verdict::Fresh);
        // The value acknowledged before 71, at its own revision: the read missed 71.
        assert_eq!(judge(v(8, 100), 1, began, &acks), Verdict::Stale { floor: acks[1] });
        // No value at all, although 71 was acknowledged: stale.
        assert_eq!(judge(v(0, 0), 1, began, &acks), Verdict::Stale { floor: acks[1] });
        // 8 again, but written at revision 1000, after 71: the put of 8 that timed out at the
        // client and was applied late (what freeze-zone saw). Not stale.
        assert_eq!(
            judge(v(8, 1000), 1, began, &acks),
            Verdict::LateWrite { floor: acks[1] }
        );
        // Only writes acknowledged before the read began count, and only the register's own.
        assert_eq!(judge(v(8, 100), 1, later, &acks), Verdict::Fresh);
        assert_eq!(judge(v(0, 0), 3, began, &acks), Verdict::Fresh);
    }

    #[test]
    fn after_a_restore_the_snapshot_and_the_restored_cluster_count() {
        let t0 = Instant::now();
        let began = t0 + Duration::from_secs(5);
        let read = |got| StaleRead {
            peer: 4,
            register: 0,
            got,
            began,
        };
        let mut t = Tally {
            register_acks: vec![reg(0, 3, 40, t0), reg(0, 6, 70, t0 + Duration::from_secs(1))],
            // Both were judged stale live (6 at revision 70 had been acknowledged).
            stale: vec![read(v(3, 40)), read(v(1, 10))],
            stale_reads: 2,
            ..Tally::default()
        };
        let live = t.clone();
        let plan = |bump_revision| RestoreOrder {
            bump_revision,
            ..RestoreOrder::new("s", "ab", 50, "operator", 1)
        };
        // The snapshot at revision 50 holds 3, not 6: reading 3 is right, reading 1 is not.
        t.stale_after_restore(&plan(0));
        assert_eq!(t.stale_reads, 1);
        assert!(
            t.stale_examples[0].contains("returned 1 (written at revision 10)"),
            "{:?}",
            t.stale_examples
        );
        // The restored cluster (bumped past 1050) acknowledged 9 before the reads began: the
        // snapshot's 3 read after that is stale too.
        let mut t = live;
        t.register_acks.push(reg(0, 9, 1060, t0 + Duration::from_secs(2)));
        t.stale_after_restore(&plan(1000));
        assert_eq!(t.stale_reads, 2, "{:?}", t.stale_examples);
        // Without a bump the restored cluster's revisions are ambiguous: only the snapshot counts.
        t.stale_after_restore(&plan(0));
        assert_eq!(t.stale_reads, 1);
    }

    #[test]
    fn gaps_and_percentiles() {
        let acks = [ack(0, 10.0), ack(1, 20.0), ack(2, 1020.0), ack(3, 1030.0)];
        assert_eq!(longest_gap(&acks, 0.0, 1040.0), 1000.0);
        // The window's edges count: nothing acknowledged after 1030 until 3000.
        assert_eq!(longest_gap(&acks, 0.0, 3000.0), 1970.0);
        assert_eq!(longest_gap(&[], 5.0, 105.0), 100.0);
        assert_eq!(percentile(&[3.0, 1.0, 2.0], 50.0), 2.0);
        assert_eq!(percentile(&[], 99.0), 0.0);
    }
}
