//! `TCP_NODELAY` on the connections to PostgreSQL.
//!
//! sqlx 0.9.0 leaves Nagle's algorithm on for its sockets
//! (transact-rs/sqlx#4335; the fix, #4336, is merged but not released).
//! A statement that leaves in more than one write, as a ledger batch's
//! writes do once they are more than TLS buffers at once, then waits for
//! the server's delayed ACK: 40 ms on Linux, for a batch that takes 5.
//! Until a release sets the option itself, each new connection gets it
//! here, on the process's TCP sockets whose peer is the database. The test
//! `database::sqlx_by_itself_still_delays_small_writes` fails once sqlx
//! sets it: this module and its call in `db::connect` go then.

use std::{net::SocketAddr, str::FromStr};

use sea_orm::sqlx::postgres::PgConnectOptions;

/// The addresses the database's host resolves to, for a TCP URL.
pub async fn database_peers(url: &str) -> Vec<SocketAddr> {
    let Ok(options) = PgConnectOptions::from_str(url) else {
        return vec![];
    };
    let host = options.get_host();
    if host.starts_with('/') {
        return vec![]; // a Unix socket: no Nagle there
    }
    tokio::net::lookup_host((host, options.get_port()))
        .await
        .map(Iterator::collect)
        .unwrap_or_default()
}

/// Sets `TCP_NODELAY` on every socket of this process connected to one of
/// `peers`; setting it again on an older connection does nothing.
pub fn set_on_sockets_to(peers: &[SocketAddr]) {
    for_each_socket_to(peers, |socket| {
        if let Err(e) = socket.set_tcp_nodelay(true) {
            tracing::warn!(error = %e, "could not set TCP_NODELAY on a database connection");
        }
    });
}

/// The process's sockets connected to one of `peers`: each one's local
/// address and whether it sends without delay.
pub fn sockets_to(peers: &[SocketAddr]) -> Vec<(SocketAddr, bool)> {
    let mut found = Vec::new();
    for_each_socket_to(peers, |socket| {
        if let Some(local) = socket.local_addr().ok().and_then(|a| a.as_socket()) {
            found.push((local, socket.tcp_nodelay().unwrap_or(false)));
        }
    });
    found
}

#[cfg(target_os = "linux")]
fn for_each_socket_to(peers: &[SocketAddr], mut f: impl FnMut(socket2::SockRef<'_>)) {
    use std::os::fd::{BorrowedFd, RawFd};
    if peers.is_empty() {
        return;
    }
    let Ok(fds) = std::fs::read_dir("/proc/self/fd") else {
        return;
    };
    for entry in fds.flatten() {
        let Some(fd) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<RawFd>().ok())
        else {
            continue;
        };
        let is_socket = std::fs::read_link(entry.path())
            .is_ok_and(|target| target.to_string_lossy().starts_with("socket:"));
        if !is_socket {
            continue;
        }
        // SAFETY: the descriptor is only borrowed for a few system calls.
        // If another thread closes it meanwhile they fail with EBADF; if
        // its number is reused, the peer check applies to the new socket.
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
        let socket = socket2::SockRef::from(&fd);
        let to_database = socket
            .peer_addr()
            .ok()
            .and_then(|a| a.as_socket())
            .is_some_and(|a| peers.contains(&a));
        if to_database {
            f(socket);
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn for_each_socket_to(_peers: &[SocketAddr], _f: impl FnMut(socket2::SockRef<'_>)) {}
