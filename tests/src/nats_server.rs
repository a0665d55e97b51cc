//! A nats-server of the test's own, on a free port, configured with the shipped
//! `deploy/nats.conf` (its users and permissions) and random passwords. Stopped on drop.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use uuid::Uuid;

/// The users of `deploy/nats.conf`.
pub const USERS: [&str; 4] = ["admin", "command-api", "projector", "query-api"];

pub struct NatsServer {
    pub port: u16,
    passwords: Vec<(&'static str, String)>,
    child: Child,
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
    pub async fn start() -> NatsServer {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let store = std::env::temp_dir().join(format!("bk-nats-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&store).expect("a store directory");
        let passwords: Vec<(&'static str, String)> = USERS
            .iter()
            .map(|user| (*user, Uuid::new_v4().simple().to_string()))
            .collect();
        let config = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy/nats.conf");
        let mut command = Command::new(binary());
        command
            .arg("-c")
            .arg(&config)
            .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
            .arg(&store)
            .stdin(Stdio::null())
            .arg("-l")
            .arg(store.join("server.log"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(store.join("stderr.log")).expect("a log file"));
        for (user, password) in &passwords {
            let variable = format!("NATS_{}_PASSWORD", user.to_uppercase().replace('-', "_"));
            // nats-server reads the value as a config value: quoted, it is always a string.
            command.env(variable, format!("\"{password}\""));
        }
        let child = command.spawn().expect("nats-server starts");
        let server = NatsServer {
            port,
            passwords,
            child,
            store,
        };
        for _ in 0..400 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return server;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let read =
            |name: &str| std::fs::read_to_string(server.store.join(name)).unwrap_or_default();
        panic!(
            "nats-server did not listen on {port}:\n{}\n{}",
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
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.store);
    }
}
