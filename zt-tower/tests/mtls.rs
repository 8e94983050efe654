#![cfg(test)]
//! Certificate-bound tokens (RFC 8705) through zt-tower behind a real rustls server on
//! 127.0.0.1 that asks for client certificates: the TLS acceptor leaves the verified client
//! certificate as a `PeerCertificate` extension, and a token bound to it (`cnf["x5t#S256"]`) is
//! accepted only over a connection that presented it. Certificates are made with the `openssl`
//! command for each run.

mod support;

use axum::extract::ConnectInfo;
use axum::serve::{IncomingStream, Listener};
use base64::Engine as _;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;
use support::*;
use zt_tower::{PeerCertificate, ZtLayer};

/// A CA, a server certificate for 127.0.0.1 and two client certificates, in a fresh directory.
fn make_certs() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("zt-mtls-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(&dir)
            .output()
            .expect("the openssl command");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let key = |name: &str| {
        run(&[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            name,
        ])
    };
    key("ca.key");
    run(&[
        "req",
        "-x509",
        "-new",
        "-key",
        "ca.key",
        "-subj",
        "/CN=zt test CA",
        "-days",
        "1",
        "-addext",
        "basicConstraints=critical,CA:true",
        "-addext",
        "keyUsage=critical,keyCertSign",
        "-out",
        "ca.pem",
    ]);
    for (name, subject, ext) in [
        (
            "server",
            "/CN=127.0.0.1",
            "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
        ),
        ("alice", "/CN=alice", "extendedKeyUsage=clientAuth\n"),
        ("mallory", "/CN=mallory", "extendedKeyUsage=clientAuth\n"),
    ] {
        key(&format!("{name}.key"));
        std::fs::write(dir.join(format!("{name}.ext")), ext).unwrap();
        run(&[
            "req",
            "-new",
            "-key",
            &format!("{name}.key"),
            "-subj",
            subject,
            "-out",
            &format!("{name}.csr"),
        ]);
        run(&[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "1",
            "-extfile",
            &format!("{name}.ext"),
            "-out",
            &format!("{name}.pem"),
        ]);
    }
    dir
}

fn cert(dir: &Path, name: &str) -> CertificateDer<'static> {
    CertificateDer::from_pem_file(dir.join(format!("{name}.pem"))).unwrap()
}

fn x5t(der: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, der).as_ref())
}

/// TLS over TCP: each accepted connection finishes its handshake before it is served.
struct TlsListener {
    tcp: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
}

impl Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((tcp, addr)) = self.tcp.accept().await else {
                continue;
            };
            if let Ok(tls) = self.acceptor.accept(tcp).await {
                return (tls, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

/// The client certificate the handshake verified, as axum connection info.
#[derive(Clone)]
struct ClientCert(Option<Vec<u8>>);

impl axum::extract::connect_info::Connected<IncomingStream<'_, TlsListener>> for ClientCert {
    fn connect_info(stream: IncomingStream<'_, TlsListener>) -> Self {
        let (_, conn) = stream.io().get_ref();
        ClientCert(
            conn.peer_certificates()
                .and_then(|c| c.first())
                .map(|c| c.to_vec()),
        )
    }
}

/// What the TLS layer hands to zt-tower: the verified certificate as `PeerCertificate`.
async fn with_peer_certificate(
    ConnectInfo(cert): ConnectInfo<ClientCert>,
    mut req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    if let Some(der) = cert.0 {
        req.extensions_mut().insert(PeerCertificate(der));
    }
    next.run(req).await
}

fn client(dir: &Path, identity: Option<&str>) -> reqwest::Client {
    let ca = reqwest::Certificate::from_pem(&std::fs::read(dir.join("ca.pem")).unwrap()).unwrap();
    let mut b = reqwest::Client::builder()
        .no_proxy()
        .tls_certs_only([ca])
        .timeout(Duration::from_secs(10));
    if let Some(name) = identity {
        let mut pem = std::fs::read(dir.join(format!("{name}.pem"))).unwrap();
        pem.extend(std::fs::read(dir.join(format!("{name}.key"))).unwrap());
        b = b.identity(reqwest::Identity::from_pem(&pem).unwrap());
    }
    b.build().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_bound_tokens_over_mutual_tls() {
    let dir = make_certs();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert(&dir, "ca")).unwrap();
    // Client certificates are verified when presented; a client without one still connects,
    // so that zt is the one refusing its bound token.
    let verifier = rustls::server::WebPkiClientVerifier::builder(Arc::new(roots))
        .allow_unauthenticated()
        .build()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(dir.join("server.key")).unwrap();
    let tls = rustls::ServerConfig::builder()
        .with_client_cert_verifier(verifier)
        .with_single_cert(vec![cert(&dir, "server")], key)
        .unwrap();
    let listener = TlsListener {
        tcp: tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
        acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(tls)),
    };
    let port = listener.local_addr().unwrap().port();

    let jwks = jwks_server().await;
    let authz = authorizer(&jwks.issuer(), &jwks.jwks_uri(), "enforce");
    let router = app(ZtLayer::new(authz).realm("orders"))
        .layer(axum::middleware::from_fn(with_peer_certificate));
    let server = tokio::spawn(async move {
        let _ = tokio::time::timeout(
            Duration::from_secs(60),
            axum::serve(
                listener,
                router.into_make_service_with_connect_info::<ClientCert>(),
            ),
        )
        .await;
    });

    let url = format!("https://127.0.0.1:{port}/orders/1");
    let alice = x5t(cert(&dir, "alice").as_ref());
    let bound = mint(
        &jwks.issuer(),
        serde_json::json!({"cnf": {"x5t#S256": alice}}),
    );
    let get = |client: reqwest::Client, token: String| {
        let url = url.clone();
        async move {
            let r = client.get(url).bearer_auth(token).send().await.unwrap();
            let challenge = r
                .headers()
                .get("www-authenticate")
                .map(|v| v.to_str().unwrap().to_owned());
            (r.status().as_u16(), challenge)
        }
    };
    // Alice's connection, Alice's token.
    assert_eq!(get(client(&dir, Some("alice")), bound.clone()).await.0, 200);
    // Mallory replays Alice's token over her own certificate; or over no certificate.
    for who in [Some("mallory"), None] {
        let (status, challenge) = get(client(&dir, who), bound.clone()).await;
        assert_eq!(status, 401, "{who:?}");
        assert!(
            challenge
                .unwrap()
                .contains("error_description=\"certificate_binding_mismatch\""),
            "{who:?}"
        );
    }
    // An unbound token works over any connection.
    let plain = mint(&jwks.issuer(), serde_json::json!({}));
    assert_eq!(get(client(&dir, Some("mallory")), plain).await.0, 200);
    server.abort();
    std::fs::remove_dir_all(&dir).ok();
}
