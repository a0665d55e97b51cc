//! TLS-only servers of a test's own: a CA and a server certificate made in the test (`rcgen`),
//! a PostgreSQL cluster (`initdb` into a temporary directory, `ssl = on`, `hostssl` lines only
//! in `pg_hba.conf`) and a Redis with a TLS port only. (NATS with TLS: `NatsServer::start_with_tls`.)
//! Each is stopped and its directory removed on drop.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use uuid::Uuid;

/// A CA, a server certificate it signed for `localhost` and 127.0.0.1, and another CA that
/// signed nothing here (the wrong one), as PEM files in a directory of their own.
pub struct Certificates {
    pub dir: PathBuf,
    pub ca: PathBuf,
    pub wrong_ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
}

fn ca(name: &str) -> (CertificateParams, KeyPair) {
    let key = KeyPair::generate().expect("a key");
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    (params, key)
}

impl Certificates {
    pub fn generate() -> Certificates {
        let dir = scratch_dir("tls");
        let (ca_params, ca_key) = ca("bookings test CA");
        let ca_cert = ca_params.self_signed(&ca_key).expect("the CA certificate");
        let (wrong_params, wrong_key) = ca("some other CA");
        let wrong_cert = wrong_params
            .self_signed(&wrong_key)
            .expect("the other CA certificate");

        let server_key = KeyPair::generate().expect("a key");
        let mut params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
                .expect("server parameters");
        params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        let issuer = Issuer::new(ca_params, ca_key);
        let server_cert = params
            .signed_by(&server_key, &issuer)
            .expect("the server certificate");

        let write = |name: &str, pem: String| {
            let path = dir.join(name);
            std::fs::write(&path, pem).expect("a certificate file");
            path
        };
        Certificates {
            ca: write("ca.pem", ca_cert.pem()),
            wrong_ca: write("wrong-ca.pem", wrong_cert.pem()),
            server_cert: write("server.pem", server_cert.pem()),
            server_key: write("server.key", server_key.serialize_pem()),
            dir,
        }
    }
}

impl Drop for Certificates {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A fresh directory of its own under the system's temporary directory.
pub(crate) fn scratch_dir(kind: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("bk-{kind}-{}", Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    dir
}

/// A TCP port nothing listens on (just now).
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

async fn wait_for_port(port: u16, what: &str, log: &Path) {
    for _ in 0..600 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "{what} did not listen on {port}:\n{}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

/// The directory of the newest installed PostgreSQL's programs.
fn postgres_bin() -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL is installed (/usr/lib/postgresql)")
        .filter_map(|entry| entry.ok().map(|entry| entry.path().join("bin")))
        .filter(|bin| bin.join("initdb").is_file())
        .collect();
    versions.sort();
    versions
        .pop()
        .expect("an initdb in /usr/lib/postgresql/*/bin")
}

/// A PostgreSQL cluster that accepts TCP connections over TLS only.
pub struct PostgresServer {
    pub port: u16,
    dir: PathBuf,
    as_postgres: bool,
}

impl PostgresServer {
    /// As root, hands the cluster's files to the `postgres` user (who runs the cluster).
    fn give_to_postgres(&self) {
        if self.as_postgres {
            self.run(
                Command::new("chown")
                    .args(["-R", "postgres:postgres"])
                    .arg(&self.dir),
            );
        }
    }

    /// `initdb`, TLS with `certificates`' server certificate, `hostssl` (trust) for loopback
    /// only, then `pg_ctl start`. As root, the cluster belongs to the `postgres` user (Postgres
    /// refuses to run as root).
    pub async fn start_tls(certificates: &Certificates) -> PostgresServer {
        let server = PostgresServer {
            port: free_port(),
            dir: scratch_dir("pg"),
            as_postgres: is_root(),
        };
        let bin = postgres_bin();
        server.give_to_postgres();
        server.run(
            server
                .program(&bin, "initdb")
                .arg("-D")
                .arg(&server.dir)
                .args([
                    "-U",
                    "postgres",
                    "-A",
                    "trust",
                    "-E",
                    "UTF8",
                    "--locale=C",
                    "--no-sync",
                ]),
        );
        for (from, to) in [
            (&certificates.server_cert, "server.pem"),
            (&certificates.server_key, "server.key"),
        ] {
            std::fs::copy(from, server.dir.join(to)).expect("the certificate copied");
        }
        server.run(
            Command::new("chmod")
                .arg("600")
                .arg(server.dir.join("server.key")),
        );
        std::fs::write(
            server.dir.join("pg_hba.conf"),
            "hostssl all all 127.0.0.1/32 trust\nhostssl all all ::1/128 trust\n",
        )
        .expect("pg_hba.conf");
        let settings = format!(
            "\nlisten_addresses = '127.0.0.1'\nport = {}\nunix_socket_directories = '{}'\n\
             ssl = on\nssl_cert_file = 'server.pem'\nssl_key_file = 'server.key'\n\
             fsync = off\nmax_connections = 50\n",
            server.port,
            server.dir.display()
        );
        let conf = server.dir.join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf).expect("postgresql.conf");
        text.push_str(&settings);
        std::fs::write(&conf, text).expect("postgresql.conf");
        server.give_to_postgres();
        server.run(
            server
                .program(&bin, "pg_ctl")
                .arg("-D")
                .arg(&server.dir)
                .arg("-l")
                .arg(server.dir.join("server.log"))
                .args(["-w", "-t", "60", "start"]),
        );
        wait_for_port(server.port, "postgres", &server.dir.join("server.log")).await;
        server
    }

    /// `name` run as the cluster's owner.
    fn program(&self, bin: &Path, name: &str) -> Command {
        if self.as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(bin.join(name));
            command
        } else {
            Command::new(bin.join(name))
        }
    }

    fn run(&self, command: &mut Command) {
        let output = command
            .stdin(Stdio::null())
            .output()
            .expect("the command runs");
        assert!(
            output.status.success(),
            "{command:?} failed:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// `postgres://postgres@localhost:PORT/{database}?sslmode={mode}`.
    pub fn url(&self, database: &str, mode: &str) -> String {
        format!(
            "postgres://postgres@localhost:{}/{database}?sslmode={mode}",
            self.port
        )
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        let bin = postgres_bin();
        let _ = self
            .program(&bin, "pg_ctl")
            .arg("-D")
            .arg(&self.dir)
            .args(["-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A redis-server with a TLS port and no plain one.
pub struct RedisServer {
    pub port: u16,
    child: Child,
    dir: PathBuf,
}

impl RedisServer {
    pub async fn start_tls(certificates: &Certificates) -> RedisServer {
        let port = free_port();
        let dir = scratch_dir("redis");
        let log = dir.join("redis.log");
        let child = Command::new("redis-server")
            .args(["--port", "0", "--bind", "127.0.0.1", "--tls-port"])
            .arg(port.to_string())
            .arg("--tls-cert-file")
            .arg(&certificates.server_cert)
            .arg("--tls-key-file")
            .arg(&certificates.server_key)
            .arg("--tls-ca-cert-file")
            .arg(&certificates.ca)
            .args([
                "--tls-auth-clients",
                "no",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .arg("--dir")
            .arg(&dir)
            .arg("--logfile")
            .arg(&log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts (apt-get install redis-server)");
        wait_for_port(port, "redis-server", &log).await;
        RedisServer { port, child, dir }
    }

    /// `rediss://localhost:PORT`.
    pub fn url(&self) -> String {
        format!("rediss://localhost:{}", self.port)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
