//! Resolving and connecting under an [`AddressPolicy`].

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpStream;

use crate::{AddressPolicy, NetError};

/// The addresses of `host:port` that `policy` allows, in the resolver's order. An IP literal
/// is checked as is. When every address is refused, the error names the host and the first
/// refused address.
pub async fn resolve(
    host: &str,
    port: u16,
    policy: &AddressPolicy,
    timeout: Duration,
) -> Result<Vec<SocketAddr>, NetError> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let all: Vec<SocketAddr> = if let Ok(ip) = bare.parse() {
        vec![SocketAddr::new(ip, port)]
    } else {
        let look = tokio::net::lookup_host((bare, port));
        match tokio::time::timeout(timeout, look).await {
            Err(_) => {
                return Err(NetError::Timeout {
                    host: host.to_owned(),
                    port,
                    secs: timeout.as_secs(),
                });
            }
            Ok(Err(e)) if no_such_name(&e) => {
                return Err(NetError::UnknownHost {
                    host: host.to_owned(),
                });
            }
            Ok(Err(e)) => {
                return Err(NetError::Resolve {
                    host: host.to_owned(),
                    reason: e.to_string(),
                });
            }
            Ok(Ok(it)) => it.collect(),
        }
    };
    let mut first_refusal = None;
    let mut ok = Vec::with_capacity(all.len());
    for a in all {
        match policy.check(host, a.ip()) {
            Ok(()) => ok.push(a),
            Err(e) => {
                first_refusal.get_or_insert(e);
            }
        }
    }
    if ok.is_empty() {
        return Err(first_refusal.unwrap_or_else(|| NetError::UnknownHost {
            host: host.to_owned(),
        }));
    }
    Ok(ok)
}

/// True when the system resolver said the name does not exist or has no address (glibc's
/// EAI_NONAME / EAI_NODATA, musl's and macOS's wordings), as opposed to a resolver that could
/// not answer (EAI_AGAIN, "Temporary failure in name resolution"), which may answer later.
/// The standard library keeps only the resolver's text, so the text is what is read.
fn no_such_name(e: &std::io::Error) -> bool {
    let text = e.to_string().to_ascii_lowercase();
    [
        "name or service not known",
        "no address associated with hostname",
        "name does not resolve",
        "nodename nor servname provided",
        "no such host is known",
    ]
    .iter()
    .any(|w| text.contains(w))
}

/// Connects to `host:port`: resolves (within `timeout`), keeps the addresses `policy` allows,
/// tries each in turn with `timeout` per attempt, and sets `TCP_NODELAY` on the stream.
///
/// For IMAP, POP3 and SMTP clients: wrap the stream with `tokio_rustls::TlsConnector` built
/// from [`crate::tls_client_config`].
pub async fn connect(
    host: &str,
    port: u16,
    policy: &AddressPolicy,
    timeout: Duration,
) -> Result<TcpStream, NetError> {
    let addrs = resolve(host, port, policy, timeout).await?;
    let mut last = None;
    for a in addrs {
        match tokio::time::timeout(timeout, TcpStream::connect(a)).await {
            Ok(Ok(s)) => {
                s.set_nodelay(true).map_err(|source| NetError::Connect {
                    host: host.to_owned(),
                    port,
                    source,
                })?;
                return Ok(s);
            }
            Ok(Err(source)) => {
                last = Some(NetError::Connect {
                    host: host.to_owned(),
                    port,
                    source,
                })
            }
            Err(_) => {
                last = Some(NetError::Timeout {
                    host: host.to_owned(),
                    port,
                    secs: timeout.as_secs(),
                })
            }
        }
    }
    Err(last.unwrap_or_else(|| NetError::Resolve {
        host: host.to_owned(),
        reason: "no address".into(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn connect_sets_nodelay_and_obeys_the_policy() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let t = Duration::from_secs(5);
        let s = connect("127.0.0.1", port, &AddressPolicy::permissive(), t)
            .await
            .unwrap();
        assert!(s.nodelay().unwrap());
        let s = connect("localhost", port, &AddressPolicy::public_and_loopback(), t).await;
        // localhost may resolve to ::1 first, where nothing listens: one of its addresses works.
        assert!(s.is_ok(), "{s:?}");
        let e = connect("localhost", port, &AddressPolicy::public_only(), t)
            .await
            .unwrap_err();
        assert!(
            matches!(&e, NetError::AddressRefused { host, .. } if host == "localhost"),
            "{e}"
        );
        let e = connect("[::ffff:127.0.0.1]", port, &AddressPolicy::public_only(), t)
            .await
            .unwrap_err();
        assert!(matches!(e, NetError::AddressRefused { .. }), "{e}");
    }

    #[tokio::test]
    async fn a_name_that_does_not_exist_is_not_worth_retrying() {
        let t = Duration::from_secs(10);
        // RFC 6761: names under .invalid never resolve.
        let e = resolve(
            "no-such-server.invalid",
            143,
            &AddressPolicy::permissive(),
            t,
        )
        .await
        .unwrap_err();
        assert!(matches!(&e, NetError::UnknownHost { .. }), "{e:?}");
        assert!(!e.is_retryable());
        assert!(e.to_string().contains("no-such-server.invalid"), "{e}");
    }
}
