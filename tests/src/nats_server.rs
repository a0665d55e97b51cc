//! A nats-server of the test's own, on a free port with its own JetStream store: configured with
//! the shipped `deploy/nats.conf` (its users and permissions, random passwords) or without
//! authentication, and killed and restarted at will without touching the shared server.
//! Stopped (and its store removed) on drop.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use uuid::Uuid;

/// The users of `deploy/nats.conf`.
pub const USERS: [&str; 4] = ["admin", "command-api", "projector", "query-api"];

pub struct NatsServer {
    pub port: u16,
    /// The users' passwords; empty without authentication.
    passwords: Vec<(&'static str, String)>,
    /// A configuration of the test's own (TLS), instead of `deploy/nats.conf`.
    config: Option<PathBuf>,
    child: Option<Child>,
    store: PathBuf,
}

fn binary() -> PathBuf {
    [
        "/usr/sbin/nats-server",
        "/usr/bin/nats-server",
        "/usr/local/bin/nats-server",
    ]
    .into_iter()
    .map(PathBuf::from)
    .find(|path| path.is_file())
    .expect("nats-server is installed (apt-get install nats-server)")
}

impl NatsServer {
    /// A server with the shipped configuration's users and permissions.
    pub async fn start() -> NatsServer {
        let passwords = USERS
            .iter()
            .map(|user| (*user, Uuid::new_v4().simple().to_string()))
            .collect();
        Self::launch(passwords, None).await
    }

    /// A server without authentication (as the one a developer machine runs).
    pub async fn start_without_auth() -> NatsServer {
        Self::launch(Vec::new(), None).await
    }

    /// A server without authentication that requires TLS of every client, with this
    /// certificate and key (PEM).
    pub async fn start_with_tls(certificate: &Path, key: &Path) -> NatsServer {
        let config = format!(
            "tls {{\n  cert_file: {:?}\n  key_file: {:?}\n}}\n",
            certificate.display().to_string(),
            key.display().to_string()
        );
        Self::launch(Vec::new(), Some(config)).await
    }

    async fn launch(passwords: Vec<(&'static str, String)>, config: Option<String>) -> NatsServer {
        let port = crate::tls::free_port();
        let store = crate::tls::scratch_dir("nats");
        let config = config.map(|text| {
            let path = store.join("server.conf");
            std::fs::write(&path, text).expect("a configuration file");
            path
        });
        let mut server = NatsServer {
            port,
            passwords,
            config,
            child: None,
            store,
        };
        server.restart().await;
        server
    }

    /// Kills the server the hard way (`kill -9`); its JetStream store stays on disk.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it (again) on the same port and store, and waits until it listens.
    pub async fn restart(&mut self) {
        self.kill();
        let mut command = Command::new(binary());
        if let Some(config) = &self.config {
            command.arg("-c").arg(config);
        } else if !self.passwords.is_empty() {
            let config = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy/nats.conf");
            command.arg("-c").arg(config);
        }
        command
            .args([
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-js",
                "-sd",
            ])
            .arg(&self.store)
            .arg("-l")
            .arg(self.store.join("server.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(self.store.join("stderr.log")).expect("a log file"));
        for (user, password) in &self.passwords {
            let variable = format!("NATS_{}_PASSWORD", user.to_uppercase().replace('-', "_"));
            // nats-server reads the value as a config value: quoted, it is always a string.
            command.env(variable, format!("\"{password}\""));
        }
        self.child = Some(command.spawn().expect("nats-server starts"));
        for _ in 0..400 {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let read = |name: &str| std::fs::read_to_string(self.store.join(name)).unwrap_or_default();
        panic!(
            "nats-server did not listen on {}:\n{}\n{}",
            self.port,
            read("server.log"),
            read("stderr.log")
        );
    }

    pub fn password(&self, user: &str) -> &str {
        self.passwords
            .iter()
            .find(|(name, _)| *name == user)
            .map(|(_, password)| password.as_str())
            .expect("a user of deploy/nats.conf")
    }

    /// `nats://user:password@127.0.0.1:port`.
    pub fn url(&self, user: &str) -> String {
        format!(
            "nats://{user}:{}@127.0.0.1:{}",
            self.password(user),
            self.port
        )
    }

    /// `nats://127.0.0.1:port`, for a server without authentication.
    pub fn plain_url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// `tls://localhost:port`, for a server started with TLS.
    pub fn tls_url(&self) -> String {
        format!("tls://localhost:{}", self.port)
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.store);
    }
}
