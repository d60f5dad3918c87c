//! Blocks of loopback ports, one per local cluster, reserved with a lock file so that two
//! clusters (in this process or another) never share a port.

use std::fs::File;
use std::net::{Ipv4Addr, TcpListener};
use std::path::PathBuf;

use crate::DeployError;

/// Ports in one block.
pub const BLOCK_SIZE: u16 = 512;
const LOW: u16 = 10_000;
/// Below Linux's default ephemeral range (32768-60999), so that ports the kernel hands out
/// for outgoing connections and `bind(0)` never land in a block.
const HIGH: u16 = 32_768;

/// Where each port of a block is (offsets from the block's base).
pub mod slot {
    pub const GCS: u16 = 0;
    pub const DASHBOARD: u16 = 1;
    pub const DASHBOARD_AGENT_LISTEN: u16 = 2;
    pub const DASHBOARD_AGENT_GRPC: u16 = 3;
    pub const RUNTIME_ENV_AGENT: u16 = 4;
    pub const METRICS_EXPORT: u16 = 5;
    pub const RAY_CLIENT_SERVER: u16 = 6;
    pub const NODE_MANAGER: u16 = 7;
    pub const OBJECT_MANAGER: u16 = 8;
    pub const SERVE_HTTP: u16 = 9;
    pub const SERVE_GRPC: u16 = 10;
    pub const FALLBACK_HTTP: u16 = 11;
    pub const FALLBACK_GRPC: u16 = 12;
    pub const HAPROXY_STATS: u16 = 13;
    pub const HAPROXY_METRICS: u16 = 14;
    /// Ray worker ports: `WORKERS .. WORKERS + WORKERS_LEN`.
    pub const WORKERS: u16 = 32;
    pub const WORKERS_LEN: u16 = 256;
    /// Serve direct-ingress HTTP ports (HAProxy / throughput-optimized mode).
    pub const DIRECT_HTTP: u16 = 288;
    pub const DIRECT_HTTP_LEN: u16 = 112;
    /// Serve direct-ingress gRPC ports.
    pub const DIRECT_GRPC: u16 = 400;
    pub const DIRECT_GRPC_LEN: u16 = 112;
}

/// A reserved block of `BLOCK_SIZE` loopback ports; released on drop.
#[derive(Debug)]
pub struct PortBlock {
    base: u16,
    _lock: File,
}

impl PortBlock {
    /// Finds a block whose every port is free on 127.0.0.1 and that no other servebench
    /// process holds, and reserves it.
    pub fn reserve() -> Result<Self, DeployError> {
        let dir = lock_dir();
        std::fs::create_dir_all(&dir)
            .map_err(|e| DeployError::io(format!("creating {}", dir.display()), e))?;
        let blocks = (HIGH - LOW) / BLOCK_SIZE;
        let seed = std::process::id() as u64
            ^ u64::from(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.subsec_nanos()),
            );
        let start = (seed % u64::from(blocks)) as u16;
        for i in 0..blocks {
            let base = LOW + ((start + i) % blocks) * BLOCK_SIZE;
            let path = dir.join(format!("{base}.lock"));
            let Ok(file) = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&path)
            else {
                continue;
            };
            if file.try_lock().is_err() {
                continue;
            }
            if (base..base + BLOCK_SIZE).all(port_is_free) {
                return Ok(Self { base, _lock: file });
            }
        }
        Err(DeployError::NoFreePorts { size: BLOCK_SIZE, low: LOW, high: HIGH })
    }

    /// The port at `offset` (see [`slot`]).
    pub fn port(&self, offset: u16) -> u16 {
        self.base + offset
    }
}

fn lock_dir() -> PathBuf {
    std::env::temp_dir().join("servebench-ports")
}

fn port_is_free(port: u16) -> bool {
    TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok()
}
