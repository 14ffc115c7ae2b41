//! Glue between passeur-testkit's private Dovecot and this crate's client.

#![allow(dead_code)]

use std::time::Duration;

use passeur_imap::{Client, ConnectConfig, Security};
use passeur_testkit::DovecotOptions;

pub struct Dovecot {
    pub server: passeur_testkit::Dovecot,
}

/// COMPRESS and implicit TLS on, fsync off (speed), plus `quota_bytes` if given.
pub fn options(users: u32, quota_bytes: Option<u64>) -> DovecotOptions {
    DovecotOptions {
        users,
        tls: true,
        compress: true,
        fsync_never: true,
        quota_bytes,
        ..DovecotOptions::default()
    }
}

impl Dovecot {
    pub fn start(users: u32) -> Dovecot {
        Self::with(options(users, None))
    }

    pub fn with(opts: DovecotOptions) -> Dovecot {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        if let Err(e) = passeur_testkit::ensure_dovecot() {
            panic!("{e}");
        }
        let server = passeur_testkit::Dovecot::start(opts).expect("start a private Dovecot");
        Dovecot { server }
    }

    pub fn config(&self, security: Security, insecure_tls: bool) -> ConnectConfig {
        let port = match security {
            Security::Tls => self.server.imaps_port.expect("IMAPS listener"),
            _ => self.server.imap_port,
        };
        let mut c = ConnectConfig::new(self.server.host.clone(), port, security);
        c.insecure_tls = insecure_tls;
        c.connect_timeout = Duration::from_secs(10);
        c.io_timeout = Duration::from_secs(60);
        c
    }

    pub async fn login(&self, user: u32) -> Client {
        let mut c = Client::connect(&self.config(Security::Plain, false))
            .await
            .expect("connect");
        let (u, p) = self.server.user(user);
        c.authenticate(None, &u, &p).await.expect("log in");
        c
    }

    pub fn log(&self) -> String {
        self.server.log()
    }
}
