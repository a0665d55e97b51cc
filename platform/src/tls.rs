//! Encrypted connections to Postgres, NATS and Redis: one crypto provider for the process
//! (rustls on ring, as the JWKS client and async-nats use), CA files read and checked at start,
//! and TLS failures told apart from outages, since waiting does not cure an untrusted
//! certificate: a service that meets one at start stops with a message naming the dependency
//! and the certificate problem.

use std::error::Error;
use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// Makes ring the process's rustls provider, for the clients that ask rustls for the process
/// default (Redis, NATS). Idempotent; the first provider installed stays.
pub fn install_crypto_provider() {
    // An error only says a provider is installed already.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Reads the PEM CA certificates in `path` for `setting` (`DATABASE_CA_FILE`, …): a file that
/// cannot be read or holds no certificate is an error naming the setting and the file.
pub fn read_ca_file(path: &Path, setting: &str) -> Result<Vec<u8>, String> {
    let pem = std::fs::read(path)
        .map_err(|err| format!("{setting}: cannot read {}: {err}", path.display()))?;
    let mut certificates = 0;
    for certificate in CertificateDer::pem_slice_iter(&pem) {
        certificate.map_err(|err| {
            format!(
                "{setting}: {} is not a PEM certificate file: {err}",
                path.display()
            )
        })?;
        certificates += 1;
    }
    if certificates == 0 {
        return Err(format!(
            "{setting}: {} holds no PEM certificate",
            path.display()
        ));
    }
    Ok(pem)
}

/// The TLS failure behind `err` that waiting will not cure, if it is one, said in words: a
/// certificate rustls refused, or a server that offers nothing this client accepts, anywhere in
/// its chain of causes (also inside an `io::Error`, where the TLS streams put it, and behind an
/// `Arc`, where the Redis client keeps its causes). A stream cut or garbled in transit is not
/// one of them: that is an outage like any other.
pub fn failure(err: &(dyn Error + 'static)) -> Option<String> {
    let mut next = Some(err);
    while let Some(err) = next {
        // A shared cause hides the error inside from `source()` (an `Arc<io::Error>` skips to
        // the io::Error's own source): look at what it holds.
        if let Some(shared) = err.downcast_ref::<Arc<dyn Error + Send + Sync>>() {
            next = Some(&**shared);
            continue;
        }
        let tls = err.downcast_ref::<rustls::Error>().or_else(|| {
            err.downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        });
        if let Some(tls) = tls {
            return describe(tls);
        }
        next = err.source();
    }
    None
}

fn describe(err: &rustls::Error) -> Option<String> {
    use rustls::CertificateError as Certificate;
    let why = match err {
        rustls::Error::InvalidCertificate(Certificate::UnknownIssuer) => {
            "the server's certificate is not signed by a trusted CA (check the CA file)"
        }
        rustls::Error::InvalidCertificate(
            Certificate::NotValidForName | Certificate::NotValidForNameContext { .. },
        ) => "the server's certificate is not valid for the host name in the URL",
        rustls::Error::InvalidCertificate(
            Certificate::Expired | Certificate::ExpiredContext { .. },
        ) => "the server's certificate has expired",
        rustls::Error::InvalidCertificate(_) | rustls::Error::UnsupportedNameType => {
            "the server's certificate is not acceptable"
        }
        rustls::Error::NoCertificatesPresented => "the server presented no certificate",
        rustls::Error::PeerIncompatible(_) | rustls::Error::AlertReceived(_) => {
            "the server and this client agree on no way to talk TLS"
        }
        _ => return None,
    };
    Some(format!("{why}: {err}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_certificate_error_is_found_inside_an_io_error_and_said_in_words() {
        let io = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        );
        let sqlx = sqlx::Error::Io(io);
        let said = failure(&sqlx).expect("a TLS failure");
        assert!(said.contains("not signed by a trusted CA"), "{said}");
        let refused = sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        assert_eq!(failure(&refused), None);
        // As the Redis client holds it.
        let io = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForName),
        );
        let redis = redis::RedisError::from(io);
        let said = failure(&redis).expect("a TLS failure");
        assert!(said.contains("not valid for the host name"), "{said}");
        // A record garbled in transit is an outage, not a configuration to fix.
        let garbled =
            std::io::Error::new(std::io::ErrorKind::InvalidData, rustls::Error::DecryptError);
        assert_eq!(failure(&sqlx::Error::Io(garbled)), None);
    }

    #[test]
    fn a_ca_file_that_is_missing_or_holds_no_certificate_is_refused_naming_the_setting() {
        let missing = read_ca_file(Path::new("/no/such/ca.pem"), "REDIS_CA_FILE").unwrap_err();
        assert!(
            missing.starts_with("REDIS_CA_FILE: cannot read /no/such/ca.pem"),
            "{missing}"
        );
        let dir = std::env::temp_dir().join(format!("bk-ca-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("a directory");
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").expect("written");
        let none = read_ca_file(&empty, "NATS_CA_FILE").unwrap_err();
        assert!(none.contains("holds no PEM certificate"), "{none}");
        let _ = std::fs::remove_dir_all(dir);
    }
}
