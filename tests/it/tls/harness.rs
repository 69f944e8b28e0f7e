//! What the TLS tests share: certificates made with the openssl CLI (once per
//! test process), redis-server with a TLS port, hotcache with one, and a
//! blocking TLS client that returns replies as raw bytes (`RawClient` over TLS).

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

use crate::common::{ClientStream, Hotcache, OutputInTime, RawClient, RedisServer, free_port};

/// The passphrase of `server-enc.key`.
pub const KEY_PASS: &str = "s3cret pass";

/// Test certificates, in a directory of their own:
/// * `ca.crt`: the CA; `other-ca.crt`: a CA nobody trusts;
/// * `server.crt`, `server2.crt`: for `localhost` and `127.0.0.1` (two, to
///   tell which one a server showed), keys `server.key`, `server2.key`, and
///   `server-enc.key` (`server.key` encrypted with [`KEY_PASS`]);
/// * `client.crt`/`client.key` signed by the CA, `rogue.crt`/`rogue.key`
///   signed by the other CA.
pub struct Certs {
    dir: PathBuf,
}

fn openssl(dir: &PathBuf, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output_in_time()
        .expect("the openssl CLI must be installed (see README)");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A key pair and a certificate signed by `ca`, with `ext` (openssl x509 -extfile).
fn leaf(dir: &PathBuf, name: &str, cn: &str, ca: &str, ext: &str) {
    let (key, csr, crt, extfile) = (
        format!("{name}.key"),
        format!("{name}.csr"),
        format!("{name}.crt"),
        format!("{name}.ext"),
    );
    std::fs::write(dir.join(&extfile), ext).expect("write ext");
    openssl(
        dir,
        &["req", "-new", "-nodes", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
            .iter()
            .copied()
            .chain(["-keyout", &key, "-out", &csr, "-subj", &format!("/CN={cn}")])
            .collect::<Vec<_>>(),
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &format!("{ca}.crt"),
            "-CAkey",
            &format!("{ca}.key"),
            "-CAcreateserial",
            "-out",
            &crt,
            "-days",
            "2",
            "-extfile",
            &extfile,
        ],
    );
}

impl Certs {
    /// The certificates, made on first use.
    pub fn get() -> &'static Certs {
        static CERTS: OnceLock<Certs> = OnceLock::new();
        CERTS.get_or_init(|| {
            let dir =
                std::env::temp_dir().join(format!("hotcache-tls-certs-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("certs dir");
            for (ca, cn) in [("ca", "hotcache test CA"), ("other-ca", "untrusted CA")] {
                openssl(
                    &dir,
                    &[
                        "req",
                        "-x509",
                        "-new",
                        "-nodes",
                        "-newkey",
                        "ec",
                        "-pkeyopt",
                        "ec_paramgen_curve:P-256",
                        "-keyout",
                        &format!("{ca}.key"),
                        "-out",
                        &format!("{ca}.crt"),
                        "-days",
                        "2",
                        "-subj",
                        &format!("/CN={cn}"),
                    ],
                );
            }
            let server = "subjectAltName=DNS:localhost,IP:127.0.0.1\n\
                          basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth,clientAuth\n";
            let client = "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n";
            leaf(&dir, "server", "localhost", "ca", server);
            leaf(&dir, "server2", "hotcache reloaded", "ca", server);
            leaf(&dir, "client", "client", "ca", client);
            leaf(&dir, "rogue", "rogue", "other-ca", client);
            openssl(
                &dir,
                &[
                    "pkcs8",
                    "-topk8",
                    "-v2",
                    "aes-256-cbc",
                    "-in",
                    "server.key",
                    "-out",
                    "server-enc.key",
                    "-passout",
                    &format!("pass:{KEY_PASS}"),
                ],
            );
            Certs { dir }
        })
    }

    /// The path of one of the files, as a string for flags.
    pub fn path(&self, file: &str) -> String {
        self.dir.join(file).to_string_lossy().into_owned()
    }

    /// The certificate in `file`, as DER (to tell which one a server showed).
    pub fn der(&self, file: &str) -> Vec<u8> {
        CertificateDer::from_pem_file(self.dir.join(file)).expect("certificate").to_vec()
    }
}

/// A redis-server with a TLS port beside its plain one (the plain one is for
/// the tests' own checks).
pub struct TlsRedis {
    pub redis: RedisServer,
    pub tls_port: u16,
}

/// redis-server's flags for a TLS port with the test certificates;
/// `auth_clients`: its `tls-auth-clients`.
pub fn tls_args(tls_port: u16, auth_clients: &str) -> Vec<String> {
    let c = Certs::get();
    [
        "--tls-port".into(),
        tls_port.to_string(),
        "--tls-cert-file".into(),
        c.path("server.crt"),
        "--tls-key-file".into(),
        c.path("server.key"),
        "--tls-ca-cert-file".into(),
        c.path("ca.crt"),
        "--tls-auth-clients".into(),
        auth_clients.into(),
    ]
    .into()
}

impl TlsRedis {
    /// `auth_clients`: Redis's `tls-auth-clients` (`yes` needs hotcache's
    /// client certificate).
    pub fn start(auth_clients: &str) -> Self {
        let tls_port = free_port();
        let args = tls_args(tls_port, auth_clients);
        let redis = RedisServer::start_with(&args.iter().map(String::as_str).collect::<Vec<_>>());
        Self { redis, tls_port }
    }

    /// `rediss://` to its TLS port.
    pub fn url(&self) -> String {
        format!("rediss://127.0.0.1:{}", self.tls_port)
    }
}

/// The flags that give hotcache a TLS port with the test certificates; `auth`
/// is `tls-auth-clients`.
pub fn tls_flags(tls_port: u16, auth: &str) -> Vec<String> {
    let c = Certs::get();
    [
        "--tls-port",
        &tls_port.to_string(),
        "--tls-cert-file",
        &c.path("server.crt"),
        "--tls-key-file",
        &c.path("server.key"),
        "--tls-ca-cert-file",
        &c.path("ca.crt"),
        "--tls-auth-clients",
        auth,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// The flags for TLS to Redis: the CA, and hotcache's client certificate.
pub fn upstream_tls_flags() -> Vec<String> {
    let c = Certs::get();
    [
        "--upstream-tls-ca-cert-file",
        &c.path("ca.crt"),
        "--upstream-tls-cert-file",
        &c.path("client.crt"),
        "--upstream-tls-key-file",
        &c.path("client.key"),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// hotcache with a plain port (for readiness and checks) and a TLS port.
pub struct TlsHotcache {
    pub hc: Hotcache,
    pub tls_port: u16,
}

impl TlsHotcache {
    /// hotcache with `tls-auth-clients auth` and `extra` flags (`--upstream` ...).
    pub fn start(auth: &str, extra: &[String]) -> Self {
        let tls_port = free_port();
        let mut args = tls_flags(tls_port, auth);
        args.extend_from_slice(extra);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        Self { hc: Hotcache::start(&args), tls_port }
    }

    /// A client with the CA's client certificate.
    pub fn client(&self) -> TlsClient {
        TlsClient::tls(self.tls_port, &TlsOpts::with_cert("client"))
    }
}

/// How a test client connects.
#[derive(Clone)]
pub struct TlsOpts {
    /// The CA file it trusts.
    pub ca: String,
    /// `name` of `name.crt`/`name.key`, shown when the server asks.
    pub cert: Option<String>,
    /// The name it verifies in the server's certificate.
    pub server_name: String,
    /// Offer only these suites (empty: every suite).
    pub suites: Vec<rustls::SupportedCipherSuite>,
}

impl TlsOpts {
    pub fn anonymous() -> Self {
        TlsOpts {
            ca: Certs::get().path("ca.crt"),
            cert: None,
            server_name: "localhost".into(),
            suites: Vec::new(),
        }
    }

    pub fn with_cert(name: &str) -> Self {
        TlsOpts { cert: Some(name.into()), ..Self::anonymous() }
    }

    fn config(&self) -> Arc<rustls::ClientConfig> {
        let mut provider = rustls::crypto::ring::default_provider();
        if !self.suites.is_empty() {
            provider.cipher_suites = self.suites.clone();
        }
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_file_iter(&self.ca).expect("ca") {
            roots.add(c.expect("ca cert")).expect("add ca");
        }
        let b = rustls::ClientConfig::builder_with_provider(Arc::new(provider))
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots);
        let config = match &self.cert {
            None => b.with_no_client_auth(),
            Some(name) => {
                let c = Certs::get();
                let certs = CertificateDer::pem_file_iter(c.path(&format!("{name}.crt")))
                    .expect("cert")
                    .collect::<Result<Vec<_>, _>>()
                    .expect("certs");
                let key =
                    PrivateKeyDer::from_pem_file(c.path(&format!("{name}.key"))).expect("key");
                b.with_client_auth_cert(certs, key).expect("client cert")
            }
        };
        Arc::new(config)
    }
}

/// The stream of a [`TlsClient`].
pub type TlsStream = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

impl ClientStream for TlsStream {
    fn socket(&self) -> &TcpStream {
        &self.sock
    }
}

/// A blocking TLS RESP client that returns replies as raw bytes: the common
/// `RawClient` over a TLS session.
pub type TlsClient = RawClient<TlsStream>;

impl RawClient<TlsStream> {
    /// Connects and completes the handshake (from the client's side: with TLS
    /// 1.3 a server that refuses the client's certificate says so after).
    pub fn try_tls(port: u16, opts: &TlsOpts) -> std::io::Result<Self> {
        let mut tcp = TcpStream::connect(("127.0.0.1", port))?;
        tcp.set_read_timeout(Some(Duration::from_secs(10)))?;
        tcp.set_nodelay(true)?;
        let name = ServerName::try_from(opts.server_name.clone()).map_err(std::io::Error::other)?;
        let mut conn =
            rustls::ClientConnection::new(opts.config(), name).map_err(std::io::Error::other)?;
        while conn.is_handshaking() {
            conn.complete_io(&mut tcp)?;
        }
        Ok(Self::over(rustls::StreamOwned::new(conn, tcp)))
    }

    pub fn tls(port: u16, opts: &TlsOpts) -> Self {
        Self::try_tls(port, opts).unwrap_or_else(|e| panic!("TLS connect to {port}: {e}"))
    }

    /// The certificate the server showed, as DER.
    pub fn server_cert(&self) -> Vec<u8> {
        self.stream
            .conn
            .peer_certificates()
            .and_then(|c| c.first())
            .expect("a server certificate")
            .to_vec()
    }
}

/// A bulk string reply.
pub fn bulk(v: &str) -> Vec<u8> {
    format!("${}\r\n{v}\r\n", v.len()).into_bytes()
}
