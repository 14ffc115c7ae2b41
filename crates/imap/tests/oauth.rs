//! OAuth 2.0 login against Dovecot's oauth2 passdb, validating HS256 JWTs
//! locally (no token server needed).

mod common;

use std::time::{SystemTime, UNIX_EPOCH};

use common::Dovecot;
use passeur_imap::{Client, Error, Security};
use sha2::{Digest, Sha256};

const KEY: &[u8] = b"passeur-test-hmac-key-0123456789";

fn b64(data: &[u8], url: bool) -> String {
    let a: &[u8] = if url {
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    } else {
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    };
    let mut out = String::new();
    for c in data.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(a[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else if !url {
                out.push('=');
            }
        }
    }
    out
}

fn hmac_sha256(key: &[u8], msg: &[u8]) -> Vec<u8> {
    let mut k = [0u8; 64];
    k[..key.len()].copy_from_slice(key);
    let inner: Vec<u8> = k
        .iter()
        .map(|b| b ^ 0x36)
        .chain(msg.iter().copied())
        .collect();
    let ih = Sha256::digest(&inner);
    let outer: Vec<u8> = k
        .iter()
        .map(|b| b ^ 0x5c)
        .chain(ih.iter().copied())
        .collect();
    Sha256::digest(&outer).to_vec()
}

fn jwt(sub: &str, key: &[u8]) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let head = b64(br#"{"alg":"HS256","typ":"JWT"}"#, true);
    let body = b64(
        format!(
            r#"{{"sub":"{sub}","iat":{now},"nbf":{now},"exp":{}}}"#,
            now + 600
        )
        .as_bytes(),
        true,
    );
    let signing = format!("{head}.{body}");
    let sig = b64(&hmac_sha256(key, signing.as_bytes()), true);
    format!("{signing}.{sig}")
}

fn start(mechs: &str) -> (Dovecot, std::path::PathBuf) {
    let tmp = std::env::temp_dir().join(format!(
        "passeur-imap-oauth-{}-{}",
        std::process::id(),
        mechs.len()
    ));
    let keys = tmp.join("keys/default/HS256");
    std::fs::create_dir_all(&keys).unwrap();
    std::fs::write(keys.join("default"), b64(KEY, false)).unwrap();
    let conf = tmp.join("oauth2.conf");
    std::fs::write(
        &conf,
        format!(
            "introspection_mode = local\nlocal_validation_key_dict = fs:posix:prefix={}/keys/\nusername_attribute = sub\n",
            tmp.display()
        ),
    )
    .unwrap();
    std::process::Command::new("chmod")
        .args(["-R", "a+rX"])
        .arg(&tmp)
        .status()
        .unwrap();
    let mut opts = common::options(1, None);
    opts.extra_config = vec![
        format!("auth_mechanisms = plain login {mechs}"),
        format!(
            "passdb {{\n  driver = oauth2\n  mechanisms = {mechs}\n  args = {}\n}}",
            conf.display()
        ),
    ];
    (Dovecot::with(opts), tmp)
}

#[tokio::test]
async fn oauthbearer_login() {
    login_with("oauthbearer xoauth2", "AUTH=OAUTHBEARER").await;
}

#[tokio::test]
async fn xoauth2_login() {
    login_with("xoauth2", "AUTH=XOAUTH2").await;
}

async fn login_with(mechs: &str, cap: &str) {
    let (dc, tmp) = start(mechs);
    let cfg = dc.config(Security::Plain, false);
    let mut c = Client::connect(&cfg).await.unwrap();
    assert!(c.capabilities().has(cap), "{:?}", c.capabilities());
    if cap == "AUTH=XOAUTH2" {
        assert!(!c.capabilities().has("AUTH=OAUTHBEARER"));
    }
    c.authenticate_oauth("user1", &jwt("user1", KEY))
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", dc.log()));
    assert!(c.capabilities().uidplus());
    c.logout().await.unwrap();

    let mut c = Client::connect(&cfg).await.unwrap();
    let err = c
        .authenticate_oauth("user1", &jwt("user1", b"some-other-key-some-other-key-00"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Auth { .. }), "{err:?}");
    drop(dc);
    let _ = std::fs::remove_dir_all(tmp);
}
