//! The stand-ins for AWS, one module each. Every one of them listens on loopback only.

pub mod dnsmasq;
pub mod haproxy;
pub mod http;
pub mod hypervisor;
pub mod imds;
pub mod lambda;
pub mod moto;
