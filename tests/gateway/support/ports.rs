//! Loopback ports for backends: [`bind_loopback`] for a listener on a fresh ephemeral port
//! (every in-process backend starts with one), and [`HeldPort`] for a port that refuses
//! connections until a backend comes up on it (dead endpoints, backends that restart).

use std::net::SocketAddr;

use tokio::net::TcpListener;

/// A listener on an ephemeral port of 127.0.0.1.
pub async fn bind_loopback() -> TcpListener {
    TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a loopback port")
}

///
/// The port stays bound (not listening: the kernel answers a SYN with a reset), so nothing else
/// can take it meanwhile: not a parallel test's listener, and not an outgoing connection picking
/// it as its source port (which would connect to itself). A port that was bound and released
/// instead could be either by the time the test uses it. Bound with `SO_REUSEPORT`, so that
/// [`HeldPort::listen`] can open a listener on it while the hold stays: once that listener
/// closes the port refuses connections again, still held.
pub struct HeldPort {
    pub addr: SocketAddr,
    _hold: tokio::net::TcpSocket,
}

impl HeldPort {
    pub fn bind() -> Self {
        let hold = tokio::net::TcpSocket::new_v4().expect("socket");
        hold.set_reuseport(true).expect("SO_REUSEPORT");
        hold.bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .expect("bind a loopback port");
        let addr = hold.local_addr().expect("held address");
        Self { addr, _hold: hold }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// A listener on the held port (a backend coming up there).
    pub fn listen(&self) -> TcpListener {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket.set_reuseport(true).expect("SO_REUSEPORT");
        socket.bind(self.addr).expect("bind the held port");
        socket.listen(1024).expect("listen on the held port")
    }
}
