//! TCP ports in the three states a port scanner reports: open, closed and filtered.
//!
//! All three are real kernel behaviour on `127.0.0.1`, not simulations: an accepting listener,
//! a port with no listener (the kernel answers RST), and a listener whose accept queue is
//! full (the kernel silently drops further SYNs, so the client's connect hangs until its own
//! timeout, as behind a dropping firewall).

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpSocket, TcpStream};

use super::{AbortOnDrop, IDLE, spawn_accept_loop};

/// How long a probe connect may take before we call the queue full. Loopback handshakes
/// complete in microseconds, so this is generous.
const PROBE: Duration = Duration::from_millis(200);

/// A loopback port whose connects hang: nmap's "filtered". Stays so while the handle lives.
#[derive(Debug)]
pub struct FilteredPort {
    addr: SocketAddr,
    /// Kept only so the port stays bound; never accepted from.
    _listener: TcpListener,
    /// The connections that fill the accept queue.
    _fillers: Vec<TcpStream>,
}

impl FilteredPort {
    /// Listens on `127.0.0.1:0` with backlog 0, never accepts, and connects filler sockets
    /// until a probe connect times out (one filler suffices on Linux). Takes about 200 ms.
    ///
    /// Errors: the bind failed, a filler could not connect, or after 8 fillers the queue still
    /// accepted (`Unsupported`: this kernel does not drop SYNs on a full queue).
    pub async fn start() -> io::Result<FilteredPort> {
        let socket = TcpSocket::new_v4()?;
        socket.bind(SocketAddr::from(([127, 0, 0, 1], 0)))?;
        let listener = socket.listen(0)?;
        let addr = listener.local_addr()?;
        let mut fillers = Vec::new();
        for _ in 0..8 {
            match tokio::time::timeout(PROBE, TcpStream::connect(addr)).await {
                Ok(Ok(stream)) => fillers.push(stream),
                Ok(Err(e)) => return Err(e),
                // The probe's SYN was dropped: the queue is full. Dropping the pending
                // connect closes that socket.
                Err(_) if !fillers.is_empty() => {
                    return Ok(FilteredPort { addr, _listener: listener, _fillers: fillers });
                }
                Err(_) => break,
            }
        }
        Err(io::Error::new(io::ErrorKind::Unsupported, "could not fill a loopback accept queue"))
    }

    /// The port's address (`127.0.0.1:PORT`).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

/// A loopback address where nothing listens, so a connect is refused (RST): "closed".
///
/// Binds `127.0.0.1:0`, notes the port and releases it. Race: another process may bind the
/// same ephemeral port afterwards, turning it open; on a lab machine this is rare, and the
/// kernel hands out ephemeral ports round-robin, so it is not reused soon.
pub fn closed_port() -> io::Result<SocketAddr> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    listener.local_addr()
}

/// A loopback port that accepts connections and then just waits for the client to close
/// (at most 30 s idle): "open", for services whose protocol netspec does not speak.
#[derive(Debug)]
pub struct OpenPort {
    addr: SocketAddr,
    _task: AbortOnDrop,
}

impl OpenPort {
    /// Binds `127.0.0.1:0` and starts accepting. Errors: the bind failed.
    pub async fn start() -> io::Result<OpenPort> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let task = spawn_accept_loop(listener, |mut stream| async move {
            // Discard input until EOF or idle; bounded reads, bounded time.
            let mut buf = [0u8; 1024];
            while let Ok(Ok(n)) = tokio::time::timeout(IDLE, stream.read(&mut buf)).await {
                if n == 0 {
                    break;
                }
            }
        });
        Ok(OpenPort { addr, _task: task })
    }

    /// The port's address (`127.0.0.1:PORT`).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn filtered_port_connect_hangs() {
        let port = FilteredPort::start().await.unwrap();
        let attempt = tokio::time::timeout(Duration::from_millis(300), TcpStream::connect(port.addr())).await;
        assert!(attempt.is_err(), "connect completed: {attempt:?}");
    }

    #[tokio::test]
    async fn closed_port_refuses_and_open_port_accepts() {
        let addr = closed_port().unwrap();
        let err = TcpStream::connect(addr).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);

        let open = OpenPort::start().await.unwrap();
        for _ in 0..3 {
            TcpStream::connect(open.addr()).await.unwrap();
        }
        let addr = open.addr();
        drop(open);
        // The listener is gone with its handle.
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(TcpStream::connect(addr).await.is_err());
    }
}
