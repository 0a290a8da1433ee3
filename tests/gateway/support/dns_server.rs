//! A real DNS server on a loopback UDP port (the protocol as hickory-proto encodes it):
//! answers A queries for the names in its table, which a test changes while calls flow
//! (records with TTL 0, so nothing is cached), NOERROR with no answer for other record types
//! of a known name, NXDOMAIN for unknown names; [`DnsServer::stop`] makes it go silent.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use hickory_resolver::proto::op::{Message, MessageType, ResponseCode};
use hickory_resolver::proto::rr::rdata::A;
use hickory_resolver::proto::rr::{RData, Record, RecordType};
use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

type Table = Arc<Mutex<HashMap<String, Vec<Ipv4Addr>>>>;

pub struct DnsServer {
    pub addr: SocketAddr,
    table: Table,
    queries: Arc<std::sync::atomic::AtomicU64>,
    task: JoinHandle<()>,
}

impl DnsServer {
    pub async fn start() -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0")
            .await
            .expect("bind DNS server");
        let addr = socket.local_addr().expect("DNS server address");
        let table: Table = Arc::default();
        let queries = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let task = tokio::spawn(serve(socket, Arc::clone(&table), Arc::clone(&queries)));
        Self {
            addr,
            table,
            queries,
            task,
        }
    }

    /// `name` (without the trailing dot) resolves to `addresses` from now on.
    pub fn set(&self, name: &str, addresses: &[Ipv4Addr]) {
        self.table
            .lock()
            .unwrap()
            .insert(name.to_ascii_lowercase(), addresses.to_vec());
    }

    /// Queries answered so far.
    pub fn queries(&self) -> u64 {
        self.queries.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// No more answers: every later query times out.
    pub fn stop(&self) {
        self.task.abort();
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(socket: UdpSocket, table: Table, queries: Arc<std::sync::atomic::AtomicU64>) {
    let mut buffer = vec![0u8; 4096];
    loop {
        let Ok((len, peer)) = socket.recv_from(&mut buffer).await else {
            return;
        };
        let Ok(request) = Message::from_vec(&buffer[..len]) else {
            continue;
        };
        queries.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let mut response = Message::response(request.metadata.id, request.metadata.op_code);
        response.metadata.message_type = MessageType::Response;
        response.metadata.recursion_desired = request.metadata.recursion_desired;
        response.metadata.recursion_available = true;
        response.metadata.authoritative = true;
        for query in &request.queries {
            response.add_query(query.clone());
            let name = query.name().to_ascii();
            let key = name.trim_end_matches('.').to_ascii_lowercase();
            let known = table.lock().unwrap().get(&key).cloned();
            match known {
                None => response.metadata.response_code = ResponseCode::NXDomain,
                Some(addresses) if query.query_type() == RecordType::A => {
                    for address in addresses {
                        let record =
                            Record::from_rdata(query.name().clone(), 0, RData::A(A(address)));
                        response.add_answer(record);
                    }
                }
                Some(_) => {}
            }
        }
        if let Ok(bytes) = response.to_vec() {
            let _ = socket.send_to(&bytes, peer).await;
        }
    }
}
