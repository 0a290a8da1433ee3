//! The demo backend as a real child process (`h2gate demo-backend`), so a test can kill it the
//! way a crashing backend dies: SIGKILL, the kernel closing its sockets mid-call.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_h2gate");

pub struct BackendProcess {
    pub addr: SocketAddr,
    child: Child,
}

impl BackendProcess {
    /// Starts `h2gate demo-backend` on an ephemeral loopback port; returns once it listens.
    pub fn start() -> Self {
        let mut child = Command::new(BIN)
            .args(["demo-backend", "--listen", "127.0.0.1:0"])
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn h2gate demo-backend");
        let stderr = child.stderr.take().expect("demo-backend stderr");
        let (found, address) = mpsc::channel();
        // Reads the log for the bound address, then keeps draining it so the child never
        // blocks on a full pipe.
        std::thread::spawn(move || {
            let mut found = Some(found);
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let Some(sender) = found.take_if(|_| line.contains("listen=")) else {
                    continue;
                };
                let addr = line
                    .split("listen=")
                    .nth(1)
                    .and_then(|rest| rest.split_whitespace().next())
                    .and_then(|text| text.parse::<SocketAddr>().ok());
                let _ = sender.send(addr);
            }
        });
        let addr = address
            .recv_timeout(Duration::from_secs(30))
            .ok()
            .flatten()
            .expect("demo-backend logs the address it listens on");
        Self { addr, child }
    }

    /// SIGKILL: no GOAWAY, no graceful end, just closed sockets.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for BackendProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
