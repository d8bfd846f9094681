//! Every client over TLS, against servers whose certificates the test makes
//! (rcgen): the crate's own server behind `server::serve(..).tls(..)` for
//! the HTTP, SSE and WebSocket clients, Node's `socket.io` served over HTTPS
//! for the Socket.IO client. Each follows a topic, resumes after its server
//! restarts on the same port, and refuses a server whose certificate is not
//! trusted or not valid for its name: the resource ends at once with an
//! error that says which server and why, and does not retry.

use std::net::SocketAddr;
use std::sync::Arc;

use live_resource::client::http::{HttpError, HttpSnapshot};
use live_resource::client::sse::SseSource;
use live_resource::client::ws::WsClient;
use live_resource::client::{CertificateError, Tls};
use live_resource::rustls::ServerConfig;
use live_resource::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use live_resource::source::{Permanent, SnapshotSource, Source};
use live_resource::{Hub, LiveResource, Status, server};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::support::follower::Follower;
use crate::support::{chain, fast_backoff, within};

/// How many items a resource may yield (errors while a server restarts
/// among them) before it must reach the state a test waits for.
const MAX_ITEMS: usize = 50;

/// A test CA, and two server certificates it signed: one for the name the
/// clients ask for (`127.0.0.1`), one for another name.
struct Certificates {
    ca_pem: String,
    ca_der: Vec<u8>,
    right: Identity,
    wrong_name: Identity,
}

/// A server certificate and its key.
struct Identity {
    certificate_pem: String,
    certificate_der: Vec<u8>,
    key_der: Vec<u8>,
    key_pem: String,
}

impl Certificates {
    fn make() -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        let identity = |names: &[&str]| {
            let names: Vec<String> = names.iter().map(|name| (*name).to_owned()).collect();
            let key = KeyPair::generate().unwrap();
            let certificate = CertificateParams::new(names)
                .unwrap()
                .signed_by(&key, &ca)
                .unwrap();
            Identity {
                certificate_pem: certificate.pem(),
                certificate_der: certificate.der().to_vec(),
                key_der: key.serialize_der(),
                key_pem: key.serialize_pem(),
            }
        };
        Self {
            right: identity(&["127.0.0.1", "localhost"]),
            wrong_name: identity(&["other.example"]),
            ca_pem: ca.pem(),
            ca_der: ca.der().to_vec(),
        }
    }

    /// Settings that trust the test CA.
    fn trusting(&self) -> Tls {
        Tls::new()
            .add_root_certificate(&self.ca_pem)
            .expect("the CA is a certificate")
    }
}

impl Identity {
    fn server_config(&self) -> Arc<ServerConfig> {
        let chain = vec![self.certificate_der.clone().into()];
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone()));
        let config = ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap();
        Arc::new(config)
    }
}

/// The crate's own server for a hub, over TLS, on a port it keeps across
/// restarts.
struct TlsServer {
    hub: Hub,
    config: Arc<ServerConfig>,
    addr: SocketAddr,
    running: Option<(oneshot::Sender<()>, JoinHandle<()>)>,
}

impl TlsServer {
    async fn start(identity: &Identity) -> Self {
        let hub = Hub::new();
        hub.set("quotes", json!({"n": 0})).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut server = Self {
            hub,
            config: identity.server_config(),
            addr: listener.local_addr().unwrap(),
            running: None,
        };
        server.serve(listener);
        server
    }

    fn serve(&mut self, listener: TcpListener) {
        let (stop, stopped) = oneshot::channel::<()>();
        let serving = server::serve(listener, server::router(self.hub.clone()))
            .tls(Arc::clone(&self.config))
            .shutdown_timeout(std::time::Duration::from_millis(100))
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            });
        let task = tokio::spawn(async move {
            serving.await.unwrap();
        });
        self.running = Some((stop, task));
    }

    /// Stops the server, which drops every connection, and serves again on
    /// the same port, with the same hub.
    async fn restart(&mut self) {
        let (stop, task) = self.running.take().expect("running");
        let _ = stop.send(());
        within(task).await.unwrap();
        let listener = TcpListener::bind(self.addr).await.unwrap();
        self.serve(listener);
    }

    fn base(&self) -> String {
        format!("https://{}", self.addr)
    }

    fn publish(&self, n: u64) {
        self.hub.merge("quotes", json!({"n": n})).unwrap();
    }
}

/// The clients of the crate's server that make a whole source.
#[derive(Clone, Copy, Debug)]
enum Client {
    Sse,
    Ws,
}

fn source(client: Client, server: &TlsServer, tls: Tls) -> Arc<dyn Source> {
    match client {
        Client::Sse => Arc::new(SseSource::new(&server.base(), "quotes").tls(tls)),
        Client::Ws => {
            let url = format!("wss://{}/live/ws", server.addr);
            Arc::new(WsClient::new(url).tls(tls).source("quotes"))
        }
    }
}

fn follow(source: impl Source + 'static) -> Follower {
    Follower::spawn(LiveResource::<Value>::connect(source).backoff(fast_backoff()))
}

/// Follows the resource's items, errors included (a restart), until its
/// state is `expected`; how many errors came before.
async fn until(follower: &mut Follower, expected: &Value) -> usize {
    let mut errors = 0;
    for _ in 0..MAX_ITEMS {
        match follower.seen().await.item {
            Ok(state) if state == *expected => return errors,
            Ok(_) => {}
            Err(error) => {
                assert!(!error.is_final(), "{error}");
                errors += 1;
            }
        }
    }
    panic!("the resource did not reach {expected} within {MAX_ITEMS} items");
}

/// The resource's one item: a final error, whose whole story is returned;
/// then it ends, failed.
async fn refused(mut follower: Follower) -> String {
    let (error, _, _) = follower.next_error().await;
    assert!(
        error.is_final(),
        "a refused certificate is final: {error:?}"
    );
    let story = chain(&error);
    assert!(
        certificate_error(&error).is_some(),
        "no CertificateError in {story}"
    );
    assert!(
        follower.next().await.is_none(),
        "the resource ends after a refused certificate: it does not retry"
    );
    assert_eq!(*follower.status.borrow(), Status::Failed);
    story
}

fn certificate_error<'a>(
    error: &'a (dyn std::error::Error + 'static),
) -> Option<&'a CertificateError> {
    let mut cause = Some(error);
    while let Some(error) = cause {
        if let Some(refused) = error.downcast_ref::<CertificateError>() {
            return Some(refused);
        }
        cause = match error.downcast_ref::<Permanent>() {
            Some(permanent) => Some(permanent.get_ref()),
            None => error.source(),
        };
    }
    None
}

async fn follows_and_resumes(client: Client) {
    let certificates = Certificates::make();
    let mut server = TlsServer::start(&certificates.right).await;
    let mut quotes = follow(source(client, &server, certificates.trusting()));
    until(&mut quotes, &json!({"n": 0})).await;
    server.publish(1);
    until(&mut quotes, &json!({"n": 1})).await;

    server.restart().await;
    // Published while the client reconnects: replayed after its version.
    server.publish(2);
    let errors = until(&mut quotes, &json!({"n": 2})).await;
    assert!(errors > 0, "the restart cut the connection");
    server.publish(3);
    until(&mut quotes, &json!({"n": 3})).await;
}

async fn refuses_an_untrusted_server(client: Client) {
    let certificates = Certificates::make();
    let server = TlsServer::start(&certificates.right).await;
    // The usual roots only: nothing vouches for the test CA.
    let story = within(refused(follow(source(client, &server, Tls::new())))).await;
    let expected = format!(
        "TLS: certificate of {} is not trusted (unknown issuer)",
        server.addr
    );
    assert!(story.contains(&expected), "{story}");
}

async fn refuses_a_server_of_another_name(client: Client) {
    let certificates = Certificates::make();
    let server = TlsServer::start(&certificates.wrong_name).await;
    let tls = certificates.trusting();
    let story = within(refused(follow(source(client, &server, tls)))).await;
    let expected = format!(
        "TLS: certificate of {} is not valid for name \"127.0.0.1\" (it is for \"other.example\")",
        server.addr
    );
    assert!(story.contains(&expected), "{story}");
}

#[tokio::test]
async fn sse_follows_over_tls_and_resumes_after_a_restart() {
    follows_and_resumes(Client::Sse).await;
}

#[tokio::test]
async fn ws_follows_over_tls_and_resumes_after_a_restart() {
    follows_and_resumes(Client::Ws).await;
}

#[tokio::test]
async fn sse_refuses_an_untrusted_server() {
    refuses_an_untrusted_server(Client::Sse).await;
}

#[tokio::test]
async fn ws_refuses_an_untrusted_server() {
    refuses_an_untrusted_server(Client::Ws).await;
}

#[tokio::test]
async fn sse_refuses_a_server_of_another_name() {
    refuses_a_server_of_another_name(Client::Sse).await;
}

#[tokio::test]
async fn ws_refuses_a_server_of_another_name() {
    refuses_a_server_of_another_name(Client::Ws).await;
}

/// The snapshot, asked for until the server answers: a request just after
/// a restart may meet a pooled connection the old server closed.
async fn snapshot_soon(source: &HttpSnapshot) -> Value {
    for _ in 0..MAX_ITEMS {
        match source.snapshot().await {
            Ok(snapshot) => return snapshot.data,
            Err(error) => {
                assert!(!Permanent::is_permanent(&*error), "{error}");
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        }
    }
    panic!("no snapshot within {MAX_ITEMS} requests");
}

#[tokio::test]
async fn http_snapshots_over_tls_before_and_after_a_restart() {
    let certificates = Certificates::make();
    let mut server = TlsServer::start(&certificates.right).await;
    let quotes = HttpSnapshot::live(&server.base(), "quotes").tls(certificates.trusting());
    assert_eq!(within(snapshot_soon(&quotes)).await, json!({"n": 0}));
    server.publish(1);
    assert_eq!(within(snapshot_soon(&quotes)).await, json!({"n": 1}));
    server.restart().await;
    server.publish(2);
    assert_eq!(within(snapshot_soon(&quotes)).await, json!({"n": 2}));
}

#[tokio::test]
async fn http_refuses_untrusted_servers_and_servers_of_another_name() {
    let certificates = Certificates::make();
    let right = TlsServer::start(&certificates.right).await;
    let wrong_name = TlsServer::start(&certificates.wrong_name).await;
    let cases = [
        (&right, Tls::new(), "is not trusted (unknown issuer)"),
        (
            &wrong_name,
            certificates.trusting(),
            "is not valid for name \"127.0.0.1\"",
        ),
    ];
    for (server, tls, why) in cases {
        let source = HttpSnapshot::live(&server.base(), "quotes").tls(tls);
        let error = within(source.snapshot()).await.unwrap_err();
        assert!(Permanent::is_permanent(&*error), "{error}");
        let http = error.downcast_ref::<Permanent>().unwrap().get_ref();
        let http = http.downcast_ref::<HttpError>().expect("an HttpError");
        assert!(http.is_certificate(), "{http:?}");
        let refused = certificate_error(http).expect("a CertificateError");
        assert_eq!(refused.server(), server.addr.to_string());
        let story = chain(&*error);
        let expected = format!("TLS: certificate of {} {why}", server.addr);
        assert!(story.contains(&expected), "{story}");
    }
}

#[tokio::test]
async fn a_root_certificate_is_read_from_pem_or_der() {
    let certificates = Certificates::make();
    let server = TlsServer::start(&certificates.right).await;
    // The CA in DER this time.
    let tls = Tls::new()
        .add_root_certificate(&certificates.ca_der)
        .unwrap();
    let quotes = HttpSnapshot::live(&server.base(), "quotes").tls(tls);
    assert_eq!(within(snapshot_soon(&quotes)).await, json!({"n": 0}));
    let error = Tls::new()
        .add_root_certificate(b"-----BEGIN NOTHING-----\n-----END NOTHING-----\n")
        .unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::InvalidData);
}

#[cfg(feature = "socketio-client")]
mod socketio {
    //! The Socket.IO client against Node's `socket.io` 4.8 over HTTPS
    //! (`tests/node/gateway.mjs` with `TLS_CERT` and `TLS_KEY`). Skipped
    //! with a reason without Node and `npm ci --prefix tests/node`, unless
    //! `LIVE_RESOURCE_REQUIRE_PEERS=1`.

    use std::path::PathBuf;
    use std::sync::atomic::{AtomicU64, Ordering};

    use live_resource::client::socketio::SocketIoClient;

    use super::*;
    use crate::peer::{Node, Peers, peers};

    /// A directory of this test's own for the PEM files Node reads.
    fn scratch() -> PathBuf {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let name = format!(
            "tls-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// Node's gateway in envelope mode over HTTPS with `identity`, on `port`
    /// (0 for any); its port.
    async fn gateway(peers: &Peers, identity: &Identity, port: u16) -> (Node, u16) {
        let dir = scratch();
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        std::fs::write(&cert, &identity.certificate_pem).unwrap();
        std::fs::write(&key, &identity.key_pem).unwrap();
        let port = port.to_string();
        let env = [
            ("TLS_CERT", cert.to_str().unwrap()),
            ("TLS_KEY", key.to_str().unwrap()),
            ("PORT", port.as_str()),
        ];
        let mut node = peers.spawn_with_env("gateway.mjs", &["envelope"], &env);
        let port = node.port().await;
        (node, port)
    }

    async fn merge(gateway: &mut Node, patch: Value) -> Value {
        let answer = gateway
            .command(json!({"op": "merge", "patch": patch}))
            .await;
        answer["state"].clone()
    }

    fn client(port: u16, tls: Tls) -> SocketIoClient {
        SocketIoClient::new(format!("https://127.0.0.1:{port}")).tls(tls)
    }

    #[tokio::test]
    async fn socketio_follows_over_tls_and_resumes_after_a_restart() {
        let Some(peers) = peers() else { return };
        let certificates = Certificates::make();
        let (mut node, port) = gateway(&peers, &certificates.right, 0).await;
        let mut stats = follow(client(port, certificates.trusting()).topic("stats"));
        until(&mut stats, &json!({"online": 0, "rooms": {"lobby": 0}})).await;
        let state = merge(&mut node, json!({"online": 1})).await;
        until(&mut stats, &state).await;

        // A new gateway on the same port, with a history of its own: the
        // client resumes after version 1, is told to resync (the gateway is
        // at 0), and takes its snapshot. Only then does the gateway change,
        // since its versions start again from 0.
        node.stop().await;
        let (mut node, again) = gateway(&peers, &certificates.right, port).await;
        assert_eq!(again, port);
        node.wait_for("the resumed subscription", |line| {
            line["event"] == "subscribe" && line["since"] == 1
        })
        .await;
        let state = merge(&mut node, json!({"online": 7, "rooms": {"hall": 2}})).await;
        let errors = until(&mut stats, &state).await;
        assert!(errors > 0, "the restart cut the connection");
    }

    #[tokio::test]
    async fn socketio_refuses_untrusted_servers_and_servers_of_another_name() {
        let Some(peers) = peers() else { return };
        let certificates = Certificates::make();
        let (_right, right) = gateway(&peers, &certificates.right, 0).await;
        let (_wrong, wrong) = gateway(&peers, &certificates.wrong_name, 0).await;
        let cases = [
            (right, Tls::new(), "is not trusted (unknown issuer)"),
            (
                wrong,
                certificates.trusting(),
                "is not valid for name \"127.0.0.1\" (it is for \"other.example\")",
            ),
        ];
        for (port, tls, why) in cases {
            let story = within(refused(follow(client(port, tls).topic("stats")))).await;
            let expected = format!("TLS: certificate of 127.0.0.1:{port} {why}");
            assert!(story.contains(&expected), "{story}");
        }
    }
}
