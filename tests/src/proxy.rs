//! A TCP proxy of the test's own in front of Postgres, so a test can take "the database" away
//! from the services it starts without touching the Postgres everyone shares: [`Proxy::cut`]
//! kills every live connection and refuses new ones (the port is closed, as while Postgres
//! restarts), [`Proxy::restore`] opens it again on the same port.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// A proxy to one upstream address, open or cut.
pub struct Proxy {
    addr: SocketAddr,
    upstream: SocketAddr,
    /// While open: cancels the listener and every connection it accepted.
    open: Mutex<Option<CancellationToken>>,
}

impl Proxy {
    /// A proxy to the host and port of `database_url`, open.
    pub async fn start(database_url: &str) -> Arc<Proxy> {
        let proxy = Self::start_cut(database_url).await;
        proxy.restore().await;
        proxy
    }

    /// A proxy that refuses connections until [`Proxy::restore`].
    pub async fn start_cut(database_url: &str) -> Arc<Proxy> {
        let upstream = upstream(database_url);
        // Take a free port, then close it again: connections are refused until `restore`.
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the proxy");
        let addr = listener.local_addr().expect("proxy address");
        drop(listener);
        Arc::new(Proxy {
            addr,
            upstream,
            open: Mutex::new(None),
        })
    }

    /// `database_url` with its host and port replaced by the proxy's.
    pub fn url(&self, database_url: &str) -> String {
        let (scheme, rest) = database_url.split_once("://").expect("a URL with a scheme");
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let credentials = authority
            .rsplit_once('@')
            .map(|(credentials, _)| format!("{credentials}@"))
            .unwrap_or_default();
        format!("{scheme}://{credentials}{}{path}", self.addr)
    }

    /// Kills every live connection and refuses new ones.
    pub fn cut(&self) {
        if let Some(open) = self.open.lock().expect("proxy state").take() {
            open.cancel();
        }
    }

    /// Accepts connections again, on the same port.
    pub async fn restore(&self) {
        let listener = TcpListener::bind(self.addr)
            .await
            .expect("bind the proxy's port again");
        let open = CancellationToken::new();
        if let Some(previous) = self.open.lock().expect("proxy state").replace(open.clone()) {
            previous.cancel();
        }
        tokio::spawn(accept(listener, self.upstream, open));
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
    }
}

async fn accept(listener: TcpListener, upstream: SocketAddr, open: CancellationToken) {
    loop {
        let client = tokio::select! {
            () = open.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok((client, _)) => client,
                Err(_) => continue,
            },
        };
        let open = open.clone();
        tokio::spawn(async move {
            let Ok(mut server) = TcpStream::connect(upstream).await else {
                return;
            };
            let mut client = client;
            tokio::select! {
                () = open.cancelled() => {}
                _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
            }
        });
    }
}

/// The socket address of `database_url`'s host and port.
fn upstream(database_url: &str) -> SocketAddr {
    let rest = database_url
        .split_once("://")
        .map_or(database_url, |(_, rest)| rest);
    let authority = rest.split('/').next().unwrap_or(rest);
    let host_port = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    let host_port = if host_port.contains(':') {
        host_port.to_owned()
    } else {
        format!("{host_port}:5432")
    };
    let host_port = host_port.replace("localhost", "127.0.0.1");
    host_port
        .parse()
        .expect("DATABASE_URL names an IP address and port")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_url_keeps_credentials_database_and_options_and_points_at_the_proxy() {
        let proxy = Proxy::start_cut("postgres://u:p@127.0.0.1:5432/db?sslmode=disable").await;
        assert_eq!(
            proxy.url("postgres://u:p@127.0.0.1:5432/db?sslmode=disable"),
            format!("postgres://u:p@{}/db?sslmode=disable", proxy.addr)
        );
        assert_eq!(proxy.upstream, "127.0.0.1:5432".parse().unwrap());
    }
}
