//! The gateway's listening sockets, and which other processes may listen on its address.
//!
//! By default the address is this gateway's alone. One socket is bound without
//! `SO_REUSEPORT`, so the kernel refuses the address to the gateway while any other process
//! listens there, and to every process that tries to bind it later, `SO_REUSEPORT` or not
//! (Linux shares an address only among sockets that all set the option). Every worker
//! accepts from its own handle on that one socket, taking turns by open connections
//! (`listener::AcceptTurns`) so that a burst is spread over the workers.
//!
//! `[server] reuse_port = true` is the opt-in to share: each worker gets its own socket with
//! `SO_REUSEPORT`, the kernel spreads new connections over them by hash, and any process of
//! the same user that sets the option too (a new binary taking over without downtime) joins
//! the address.

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use tokio::net::TcpSocket;

use crate::listener::AcceptTurns;

/// Connections waiting to be accepted, per socket.
const BACKLOG: u32 = 1024;

/// One listening socket per worker.
pub struct Listeners {
    pub sockets: Vec<TcpListener>,
    /// `Some` when the workers share one accept queue and must take turns.
    pub turns: Option<Arc<AcceptTurns>>,
}

/// Binds `addr` for `workers` workers (at least one). Must run inside a tokio runtime.
pub fn bind(addr: SocketAddr, workers: usize, reuse_port: bool) -> io::Result<Listeners> {
    let workers = workers.max(1);
    if reuse_port {
        return bind_shared(addr, workers);
    }
    let first = listen(addr, false)?;
    let mut sockets = Vec::with_capacity(workers);
    for _ in 1..workers {
        // A handle on the same socket: same accept queue, same exclusive bind.
        sockets.push(first.try_clone()?);
    }
    sockets.push(first);
    Ok(Listeners {
        sockets,
        turns: Some(AcceptTurns::new(workers)),
    })
}

/// One `SO_REUSEPORT` socket per worker, all on the same port.
fn bind_shared(addr: SocketAddr, workers: usize) -> io::Result<Listeners> {
    let mut sockets = Vec::with_capacity(workers);
    let mut bound = addr;
    for _ in 0..workers {
        let socket = listen(bound, true)?;
        // With port 0 the first socket picks the port; the others join it.
        bound = socket.local_addr()?;
        sockets.push(socket);
    }
    Ok(Listeners {
        sockets,
        turns: None,
    })
}

fn listen(addr: SocketAddr, reuse_port: bool) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    // Not a way to share a listening address (Linux refuses that without SO_REUSEPORT): it
    // lets a restarted gateway bind while its predecessor's connections sit in TIME_WAIT.
    socket.set_reuseaddr(true)?;
    if reuse_port {
        socket.set_reuseport(true)?;
    }
    socket.bind(addr)?;
    socket.listen(BACKLOG)?.into_std()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loopback() -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 0))
    }

    #[tokio::test]
    async fn default_sockets_share_one_queue_and_keep_the_address() {
        let listeners = bind(loopback(), 3, false).unwrap();
        assert_eq!(listeners.sockets.len(), 3);
        assert!(listeners.turns.is_some());
        let addr = listeners.sockets[0].local_addr().unwrap();
        for socket in &listeners.sockets {
            assert_eq!(socket.local_addr().unwrap(), addr);
        }
        for reuse_port in [false, true] {
            let err = bind(addr, 1, reuse_port).err().expect("address taken");
            assert_eq!(
                err.kind(),
                io::ErrorKind::AddrInUse,
                "reuse_port {reuse_port}"
            );
        }
    }

    #[tokio::test]
    async fn reuse_port_sockets_admit_another_reuse_port_binder_only() {
        let first = bind(loopback(), 2, true).unwrap();
        assert!(first.turns.is_none());
        let addr = first.sockets[0].local_addr().unwrap();
        assert_eq!(first.sockets[1].local_addr().unwrap(), addr);
        let err = bind(addr, 1, false).err().expect("exclusive bind refused");
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
        let second = bind(addr, 1, true).expect("a reuse_port binder joins");
        assert_eq!(second.sockets[0].local_addr().unwrap(), addr);
    }
}
