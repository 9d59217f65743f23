//! A minimal DNS client: one A query over UDP to a given server, for the sandbox's "visible in
//! DNS" events and status view (the nodes themselves use the system resolver).

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use tokio::net::UdpSocket;

/// Builds a standard query for `name` type A (1), class IN, recursion desired.
pub fn build_query(id: u16, name: &str) -> Vec<u8> {
    let mut q = Vec::with_capacity(64);
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00]);
    for label in name.trim_end_matches('.').split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0x00, 0x00, 0x01, 0x00, 0x01]);
    q
}

/// Parses the A records of a response to [`build_query`]. `Err` names the rcode or the defect.
pub fn parse_answer(id: u16, resp: &[u8]) -> Result<Vec<Ipv4Addr>, String> {
    if resp.len() < 12 {
        return Err("short response".into());
    }
    if u16::from_be_bytes([resp[0], resp[1]]) != id {
        return Err("response id mismatch".into());
    }
    let rcode = resp[3] & 0x0f;
    if rcode == 3 {
        return Err("NXDOMAIN".into());
    }
    if rcode != 0 {
        return Err(format!("rcode {rcode}"));
    }
    let qd = u16::from_be_bytes([resp[4], resp[5]]) as usize;
    let an = u16::from_be_bytes([resp[6], resp[7]]) as usize;
    let mut i = 12;
    let skip_name = |mut i: usize| -> Option<usize> {
        loop {
            let len = *resp.get(i)? as usize;
            if len == 0 {
                return Some(i + 1);
            }
            if len & 0xc0 == 0xc0 {
                return Some(i + 2);
            }
            i += 1 + len;
        }
    };
    for _ in 0..qd {
        i = skip_name(i).ok_or("truncated question")? + 4;
    }
    let mut out = Vec::new();
    for _ in 0..an {
        i = skip_name(i).ok_or("truncated answer")?;
        let h = resp.get(i..i + 10).ok_or("truncated answer header")?;
        let (ty, rdlen) = (
            u16::from_be_bytes([h[0], h[1]]),
            u16::from_be_bytes([h[8], h[9]]) as usize,
        );
        i += 10;
        let rd = resp.get(i..i + rdlen).ok_or("truncated rdata")?;
        if ty == 1 && rdlen == 4 {
            out.push(Ipv4Addr::new(rd[0], rd[1], rd[2], rd[3]));
        }
        i += rdlen;
    }
    out.sort();
    Ok(out)
}

/// Asks `server` for the A records of `name`.
pub async fn query_a(server: SocketAddr, name: &str, timeout: Duration) -> Result<Vec<Ipv4Addr>, String> {
    let sock = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .map_err(|e| e.to_string())?;
    let id = (std::process::id() as u16) ^ (name.len() as u16).rotate_left(7);
    sock.send_to(&build_query(id, name), server)
        .await
        .map_err(|e| e.to_string())?;
    let mut buf = [0u8; 1500];
    let n = tokio::time::timeout(timeout, sock.recv(&mut buf))
        .await
        .map_err(|_| format!("no answer from {server} within {timeout:?}"))?
        .map_err(|e| e.to_string())?;
    parse_answer(id, &buf[..n])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_of_a_handmade_answer() {
        let q = build_query(0x1234, "peer-0.local.steadfast.internal");
        let mut r = q.clone();
        r[2] = 0x85; // response, authoritative
        r[3] = 0x80;
        r[7] = 1; // one answer
        r.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 0, 0, 4, 127, 0, 1, 4]);
        assert_eq!(parse_answer(0x1234, &r).unwrap(), vec![Ipv4Addr::new(127, 0, 1, 4)]);
        let mut nx = q.clone();
        nx[3] = 0x83;
        assert_eq!(parse_answer(0x1234, &nx).unwrap_err(), "NXDOMAIN");
        assert!(parse_answer(0x9999, &r).is_err());
    }
}
