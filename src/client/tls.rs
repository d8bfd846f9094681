//! [`Tls`]: which servers every client trusts, and [`CertificateError`]: a
//! server's certificate that a client refused.

use std::error::Error as StdError;
use std::fmt;
use std::io;
use std::sync::{Arc, OnceLock};

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use rustls::{ClientConfig, RootCertStore};

/// The TLS settings of the clients: which servers they trust, for
/// `https://`, `wss://` and Socket.IO over TLS alike. Made once and given to
/// any of them, each through its method `tls`:
/// [`HttpSnapshot::tls`](crate::client::http::HttpSnapshot::tls),
/// [`SseSource::tls`](crate::client::sse::SseSource::tls),
/// [`WsClient::tls`](crate::client::ws::WsClient::tls) and
/// [`SocketIoClient::tls`](crate::client::socketio::SocketIoClient::tls).
///
/// [`Tls::new`], what every client uses when given nothing, trusts the
/// Mozilla roots of the `webpki-roots` crate, as reqwest's `rustls-tls`
/// does. [`add_root_certificate`](Tls::add_root_certificate) trusts one more
/// (a company's CA, a test server's own certificate);
/// [`from_rustls`](Tls::from_rustls) takes a rustls configuration made
/// elsewhere, whole. The cryptography is rustls's `ring` provider, or the
/// process's default provider when one was installed: nothing needs
/// installing.
///
/// A server whose certificate is refused (not trusted, not valid for the
/// server's name, expired) is a [`CertificateError`], which every client
/// reports as [`Permanent`](crate::source::Permanent): retrying cannot help,
/// and a [`LiveResource`](crate::LiveResource) ends with it.
///
/// Cloning is cheap, and clones share one HTTP client and its connections.
///
/// # Examples
///
/// ```no_run
/// use live_resource::client::Tls;
/// use live_resource::client::sse::SseSource;
/// use live_resource::client::ws::WsClient;
///
/// # fn main() -> std::io::Result<()> {
/// // The company's CA, beside the usual roots.
/// let tls = Tls::new().add_root_certificate(std::fs::read("/etc/company/ca.pem")?)?;
///
/// let client = WsClient::new("wss://live.example.com/live/ws").tls(tls.clone());
/// let quotes = SseSource::new("https://live.example.com", "quotes").tls(tls);
/// # let _ = (client, quotes);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Tls {
    inner: Arc<Inner>,
}

struct Inner {
    config: Arc<ClientConfig>,
    /// The roots `config` was made with, to add to; `None` for a
    /// configuration given whole.
    roots: Option<RootCertStore>,
    /// The HTTP client of the clients given this `Tls`, made on first use.
    #[cfg(feature = "http")]
    http: OnceLock<Result<reqwest::Client, String>>,
}

impl Tls {
    /// The Mozilla roots of `webpki-roots`, the ones reqwest's `rustls-tls`
    /// trusts; what every client uses when given no `Tls`.
    ///
    /// # Examples
    ///
    /// ```
    /// use live_resource::client::Tls;
    ///
    /// let tls = Tls::new();
    /// assert_eq!(tls.rustls_config().alpn_protocols, [b"http/1.1".to_vec()]);
    /// ```
    pub fn new() -> Self {
        static WEBPKI: OnceLock<Tls> = OnceLock::new();
        WEBPKI
            .get_or_init(|| {
                let mut roots = RootCertStore::empty();
                roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
                Self::with_roots(roots)
            })
            .clone()
    }

    /// Trusts `certificate` too: a CA or a server's own certificate, in PEM
    /// (every certificate of it: a bundle is read whole) or in DER.
    ///
    /// # Errors
    ///
    /// An error of kind [`InvalidData`](io::ErrorKind::InvalidData) when
    /// `certificate` holds no certificate that can be a root, and of kind
    /// [`InvalidInput`](io::ErrorKind::InvalidInput) for a `Tls` made by
    /// [`from_rustls`](Tls::from_rustls), whose roots are its
    /// configuration's: add the certificate there.
    ///
    /// # Examples
    ///
    /// ```
    /// use live_resource::client::Tls;
    ///
    /// let error = Tls::new().add_root_certificate(b"not a certificate").unwrap_err();
    /// assert_eq!(error.kind(), std::io::ErrorKind::InvalidData);
    /// ```
    pub fn add_root_certificate(self, certificate: impl AsRef<[u8]>) -> io::Result<Self> {
        let Some(mut roots) = self.inner.roots.clone() else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a `Tls` made from a rustls configuration trusts that configuration's roots: add the certificate there",
            ));
        };
        let bytes = certificate.as_ref();
        let invalid = |why: String| io::Error::new(io::ErrorKind::InvalidData, why);
        if bytes.windows(11).any(|window| window == b"-----BEGIN ") {
            let mut added = 0;
            for certificate in CertificateDer::pem_slice_iter(bytes) {
                let certificate = certificate
                    .map_err(|error| invalid(format!("a PEM certificate is invalid: {error}")))?;
                roots.add(certificate).map_err(|error| {
                    invalid(format!("a PEM certificate cannot be a root: {error}"))
                })?;
                added += 1;
            }
            if added == 0 {
                return Err(invalid("the PEM holds no certificate".to_owned()));
            }
        } else {
            roots
                .add(CertificateDer::from(bytes.to_vec()))
                .map_err(|error| invalid(format!("not a certificate in PEM or DER: {error}")))?;
        }
        Ok(Self::with_roots(roots))
    }

    /// Uses `config`, made elsewhere, whole: its roots, verifier, client
    /// certificate and provider. Its ALPN protocols are set to `http/1.1`,
    /// the one protocol every client here speaks (a WebSocket upgrade needs
    /// it).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use live_resource::client::Tls;
    /// use live_resource::rustls::{ClientConfig, RootCertStore};
    ///
    /// let config = ClientConfig::builder()
    ///     .with_root_certificates(RootCertStore::empty())
    ///     .with_no_client_auth();
    /// let tls = Tls::from_rustls(Arc::new(config));
    /// assert!(tls.add_root_certificate(b"...").is_err(), "its roots are the config's");
    /// ```
    pub fn from_rustls(config: Arc<ClientConfig>) -> Self {
        Self::with(config, None)
    }

    /// The rustls configuration the clients use.
    pub fn rustls_config(&self) -> &Arc<ClientConfig> {
        &self.inner.config
    }

    fn with_roots(roots: RootCertStore) -> Self {
        // The process's default provider when the application installed one
        // (aws-lc-rs, say, for post-quantum key exchange); else ring, which
        // this crate builds with. rustls 0.23.48 deprecates ring's provider
        // for lacking post-quantum key exchange; it still does TLS 1.2 and
        // 1.3, which is what the clients ask of it.
        #[allow(deprecated)]
        let ring = rustls::crypto::ring::default_provider;
        let provider = rustls::crypto::CryptoProvider::get_default()
            .cloned()
            .unwrap_or_else(|| Arc::new(ring()));
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("the ring provider supports TLS 1.2 and 1.3")
            .with_root_certificates(roots.clone())
            .with_no_client_auth();
        Self::with(Arc::new(config), Some(roots))
    }

    fn with(mut config: Arc<ClientConfig>, roots: Option<RootCertStore>) -> Self {
        let alpn = vec![b"http/1.1".to_vec()];
        if config.alpn_protocols != alpn {
            Arc::make_mut(&mut config).alpn_protocols = alpn;
        }
        Self {
            inner: Arc::new(Inner {
                config,
                roots,
                #[cfg(feature = "http")]
                http: OnceLock::new(),
            }),
        }
    }

    /// The HTTP client of every source given this `Tls`, or why it could
    /// not be made.
    #[cfg(feature = "http")]
    pub(crate) fn http_client(&self) -> Result<reqwest::Client, String> {
        self.inner
            .http
            .get_or_init(|| {
                reqwest::Client::builder()
                    .use_preconfigured_tls(ClientConfig::clone(&self.inner.config))
                    .build()
                    .map_err(|error| format!("the HTTP client cannot be made: {error}"))
            })
            .clone()
    }
}

impl Default for Tls {
    /// [`Tls::new`].
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Tls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("Tls");
        match &self.inner.roots {
            Some(roots) => debug.field("roots", &roots.len()),
            None => debug.field("roots", &"from the rustls configuration"),
        };
        debug.finish_non_exhaustive()
    }
}

/// A server's certificate that a client refused: the server is not who the
/// client asked for, or nothing the client trusts vouches for it. It names
/// the server (`host:port`), the name asked for, and why; its
/// [`source`](StdError::source) is rustls's own error.
///
/// Every client reports it inside its own error (such as
/// [`WsError`](crate::client::ws::WsError)), as
/// [`Permanent`](crate::source::Permanent): a [`LiveResource`](crate::LiveResource)
/// ends with it rather than retry for ever. Find it in an error's chain:
///
/// ```
/// use live_resource::client::CertificateError;
///
/// /// The refused certificate behind `error`, if that is what it is.
/// fn certificate(error: &live_resource::Error) -> Option<&CertificateError> {
///     let mut cause = std::error::Error::source(error);
///     while let Some(error) = cause {
///         if let Some(refused) = error.downcast_ref::<CertificateError>() {
///             return Some(refused);
///         }
///         cause = error.source();
///     }
///     None
/// }
/// # let _ = certificate;
/// ```
#[derive(Clone, Debug)]
pub struct CertificateError {
    server: String,
    error: rustls::Error,
}

impl CertificateError {
    /// The certificate error of rustls in `error`'s chain, if there is one,
    /// as refused by `server` (`host:port`).
    pub(crate) fn find(error: &(dyn StdError + 'static), server: &str) -> Option<Self> {
        let mut cause = Some(error);
        while let Some(error) = cause {
            if let Some(found @ rustls::Error::InvalidCertificate(_)) =
                error.downcast_ref::<rustls::Error>()
            {
                return Some(Self {
                    server: server.to_owned(),
                    error: found.clone(),
                });
            }
            // An `io::Error`'s own `source` skips the error it wraps.
            cause = match error
                .downcast_ref::<io::Error>()
                .and_then(io::Error::get_ref)
            {
                Some(inner) => Some(inner),
                None => error.source(),
            };
        }
        None
    }

    /// The server whose certificate was refused, as `host:port`.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// Whether the certificate is not valid for the name the client asked
    /// for: the server is someone else, or its certificate was made for
    /// another name.
    pub fn is_name_mismatch(&self) -> bool {
        matches!(
            self.reason(),
            Some(
                rustls::CertificateError::NotValidForName
                    | rustls::CertificateError::NotValidForNameContext { .. }
            )
        )
    }

    /// Whether no root the client trusts vouches for the certificate: a
    /// self-signed certificate, or one of a CA the client was not given
    /// (see [`Tls::add_root_certificate`]).
    pub fn is_untrusted(&self) -> bool {
        matches!(self.reason(), Some(rustls::CertificateError::UnknownIssuer))
    }

    /// Whether the certificate has expired.
    pub fn is_expired(&self) -> bool {
        matches!(
            self.reason(),
            Some(
                rustls::CertificateError::Expired | rustls::CertificateError::ExpiredContext { .. }
            )
        )
    }

    fn reason(&self) -> Option<&rustls::CertificateError> {
        match &self.error {
            rustls::Error::InvalidCertificate(reason) => Some(reason),
            _ => None,
        }
    }
}

impl fmt::Display for CertificateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use rustls::CertificateError as Reason;
        let server = &self.server;
        write!(f, "TLS: certificate of {server} ")?;
        match self.reason() {
            Some(Reason::NotValidForNameContext {
                expected,
                presented,
            }) => {
                write!(f, "is not valid for name \"{}\"", expected.to_str())?;
                if !presented.is_empty() {
                    let names: Vec<String> = presented
                        .iter()
                        .map(|name| format!("\"{}\"", plain_name(name)))
                        .collect();
                    write!(f, " (it is for {})", names.join(", "))?;
                }
                Ok(())
            }
            Some(Reason::NotValidForName) => f.write_str("is not valid for the name asked for"),
            Some(Reason::UnknownIssuer) => f.write_str("is not trusted (unknown issuer)"),
            Some(Reason::Expired | Reason::ExpiredContext { .. }) => f.write_str("has expired"),
            Some(Reason::NotValidYet | Reason::NotValidYetContext { .. }) => {
                f.write_str("is not valid yet")
            }
            Some(Reason::Revoked) => f.write_str("has been revoked"),
            _ => f.write_str("was refused"),
        }
    }
}

/// A name of a certificate as rustls shows it, `DnsName("example.com")` or
/// `IpAddress(127.0.0.1)`, without its kind: `example.com`, `127.0.0.1`.
fn plain_name(name: &str) -> &str {
    let inner = name
        .split_once('(')
        .and_then(|(_, rest)| rest.strip_suffix(')'))
        .unwrap_or(name);
    inner
        .strip_prefix('"')
        .and_then(|inner| inner.strip_suffix('"'))
        .unwrap_or(inner)
}

impl StdError for CertificateError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&self.error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_certificate_error_is_found_inside_io_errors() {
        let refused = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let io = io::Error::new(io::ErrorKind::InvalidData, refused);
        let outer: Box<dyn StdError + Send + Sync> = Box::new(io);
        let found = CertificateError::find(&*outer, "127.0.0.1:8443").expect("found");
        assert!(found.is_untrusted() && !found.is_name_mismatch() && !found.is_expired());
        assert_eq!(
            found.to_string(),
            "TLS: certificate of 127.0.0.1:8443 is not trusted (unknown issuer)"
        );
        let other = io::Error::new(io::ErrorKind::InvalidData, rustls::Error::DecryptError);
        assert!(CertificateError::find(&other, "h:1").is_none());
        assert!(CertificateError::find(&io::Error::other("no"), "h:1").is_none());
    }

    #[test]
    fn a_name_mismatch_says_which_names() {
        let reason = rustls::CertificateError::NotValidForNameContext {
            expected: rustls::pki_types::ServerName::try_from("localhost").unwrap(),
            presented: vec![
                "DnsName(\"other.example\")".to_owned(),
                "IpAddress(10.0.0.1)".to_owned(),
            ],
        };
        let found = CertificateError {
            server: "localhost:8443".to_owned(),
            error: rustls::Error::InvalidCertificate(reason),
        };
        assert!(found.is_name_mismatch());
        assert_eq!(
            found.to_string(),
            "TLS: certificate of localhost:8443 is not valid for name \"localhost\" (it is for \"other.example\", \"10.0.0.1\")"
        );
    }

    #[test]
    fn tls_is_send_sync_and_cheap_to_share() {
        fn assert_send_sync<T: Send + Sync + 'static>() {}
        assert_send_sync::<Tls>();
        assert_send_sync::<CertificateError>();
        assert!(Arc::ptr_eq(&Tls::new().inner, &Tls::default().inner));
    }
}
