//! A private OAuth 2.0 authorization server over real HTTP on loopback: RFC 8414 metadata,
//! the device authorization grant (RFC 8628), the refresh token grant, token introspection
//! (RFC 7662, what Dovecot's `oauth2` passdb asks) and revocation (RFC 7009).
//!
//! The authorization endpoint (authorization code with PKCE, RFC 7636) signs in the user set
//! by [`TokenServer::set_signing_in`] at once and redirects back with a code.
//!
//! The test plays the user: [`TokenServer::approve`] approves a device code as a user. It can
//! also make every access token expire at once ([`TokenServer::expire_access_tokens`]) or
//! revoke everything of a user ([`TokenServer::revoke_user`]), and count the grants it served.

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The client ID the server accepts.
pub const CLIENT_ID: &str = "passeur-test";

#[derive(Default)]
struct State {
    /// access token -> (user, active)
    access: HashMap<String, (String, bool)>,
    /// refresh token -> (user, active)
    refresh: HashMap<String, (String, bool)>,
    /// user code -> device code
    user_codes: HashMap<String, String>,
    /// device code -> approval (None: pending; Some(Ok(user)); Some(Err(())): denied)
    devices: HashMap<String, Option<Result<String, ()>>>,
    next: u64,
    refresh_grants: u32,
    device_grants: u32,
    introspections: u32,
    /// `expires_in` of the access tokens issued.
    lifetime: u64,
    /// Polls answered `authorization_pending`.
    pending_polls: u32,
    /// Who "signs in" at the authorization endpoint (`None`: the user declines).
    signing_in: Option<String>,
    /// code -> (user, redirect_uri, code_challenge)
    codes: HashMap<String, (String, String, String)>,
    code_grants: u32,
}

impl State {
    fn token(&mut self, kind: &str) -> String {
        self.next += 1;
        let mut r = [0u8; 12];
        let _ = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut r));
        let hex: String = r.iter().map(|b| format!("{b:02x}")).collect();
        format!("{kind}-{}-{hex}", self.next)
    }

    fn issue(&mut self, user: &str) -> serde_json::Value {
        let access = self.token("at");
        let refresh = self.token("rt");
        self.access.insert(access.clone(), (user.to_owned(), true));
        self.refresh
            .insert(refresh.clone(), (user.to_owned(), true));
        serde_json::json!({
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": self.lifetime,
            "refresh_token": refresh,
            "scope": "mail",
        })
    }
}

/// A running token server; stopped on drop.
pub struct TokenServer {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
}

impl TokenServer {
    /// Starts on a random loopback port.
    pub fn start() -> io::Result<TokenServer> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        listener.set_nonblocking(true)?;
        let state = Arc::new(Mutex::new(State {
            lifetime: 3600,
            ..State::default()
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let (st, sp) = (state.clone(), stop.clone());
        std::thread::spawn(move || {
            while !sp.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((s, _)) => {
                        let st = st.clone();
                        std::thread::spawn(move || {
                            let _ = serve(s, addr, &st);
                        });
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        Ok(TokenServer { addr, state, stop })
    }

    /// `http://127.0.0.1:PORT` (the issuer).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The introspection endpoint, for Dovecot's `oauth2` passdb.
    pub fn introspection_url(&self) -> String {
        format!("{}/introspect", self.url())
    }

    /// The token endpoint's URL.
    pub fn token_url(&self) -> String {
        format!("{}/token", self.url())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The `expires_in` of the access tokens issued from now on.
    pub fn set_lifetime(&self, secs: u64) {
        self.lock().lifetime = secs;
    }

    /// Issues tokens for `user` straight away (as if it had logged in): the token answer's JSON.
    pub fn issue(&self, user: &str) -> serde_json::Value {
        self.lock().issue(user)
    }

    /// The user approves the device login shown with `user_code`. False for an unknown code.
    pub fn approve(&self, user_code: &str, user: &str) -> bool {
        let mut s = self.lock();
        let Some(dc) = s.user_codes.get(user_code).cloned() else {
            return false;
        };
        s.devices.insert(dc, Some(Ok(user.to_owned())));
        true
    }

    /// The user declines the device login shown with `user_code`.
    pub fn deny(&self, user_code: &str) -> bool {
        let mut s = self.lock();
        let Some(dc) = s.user_codes.get(user_code).cloned() else {
            return false;
        };
        s.devices.insert(dc, Some(Err(())));
        true
    }

    /// The user codes handed out so far, oldest first.
    pub fn user_codes(&self) -> Vec<String> {
        let s = self.lock();
        let mut v: Vec<(String, String)> = s
            .user_codes
            .iter()
            .map(|(u, d)| (d.clone(), u.clone()))
            .collect();
        v.sort_by_key(|(d, _)| {
            d.rsplit('-')
                .nth(1)
                .and_then(|n| n.parse::<u64>().ok())
                .unwrap_or(0)
        });
        v.into_iter().map(|(_, u)| u).collect()
    }

    /// Every access token issued so far stops being accepted (as if it had expired); refresh
    /// tokens stay good.
    pub fn expire_access_tokens(&self) {
        for v in self.lock().access.values_mut() {
            v.1 = false;
        }
    }

    /// Revokes every access and refresh token of `user` (a user who withdrew the grant).
    pub fn revoke_user(&self, user: &str) {
        let mut guard = self.lock();
        let s = &mut *guard;
        for v in s.access.values_mut().chain(s.refresh.values_mut()) {
            if v.0 == user {
                v.1 = false;
            }
        }
    }

    /// The user who signs in at the authorization endpoint from now on (`None`: declines).
    pub fn set_signing_in(&self, user: Option<&str>) {
        self.lock().signing_in = user.map(str::to_owned);
    }

    /// Authorization code grants that returned tokens.
    pub fn code_grants(&self) -> u32 {
        self.lock().code_grants
    }

    /// Refresh token grants served (successful or not).
    pub fn refresh_grants(&self) -> u32 {
        self.lock().refresh_grants
    }

    /// Device code grants that returned tokens.
    pub fn device_grants(&self) -> u32 {
        self.lock().device_grants
    }

    /// Introspection requests served (one per OAuth login at Dovecot).
    pub fn introspections(&self) -> u32 {
        self.lock().introspections
    }

    /// Polls answered `authorization_pending`.
    pub fn pending_polls(&self) -> u32 {
        self.lock().pending_polls
    }

    /// Whether `token` (access or refresh) is currently accepted.
    pub fn is_active(&self, token: &str) -> bool {
        let s = self.lock();
        s.access
            .get(token)
            .or_else(|| s.refresh.get(token))
            .is_some_and(|v| v.1)
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn form(body: &str) -> HashMap<String, String> {
    body.split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect()
}

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = b
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (b[i], hex) {
            (b'+', _) => out.push(b' '),
            (b'%', Some(v)) => {
                out.push(v);
                i += 2;
            }
            (c, _) => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn oauth_error(error: &str, description: &str) -> (u16, serde_json::Value) {
    (
        400,
        serde_json::json!({"error": error, "error_description": description}),
    )
}

/// A redirect (302 to the location), or a JSON answer.
enum Answer {
    Json(u16, serde_json::Value),
    Redirect(String),
}

fn s256(verifier: &str) -> String {
    use sha2::Digest as _;
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let d = sha2::Sha256::digest(verifier.as_bytes());
    let mut out = String::new();
    for c in d.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..=c.len() {
            out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

fn authorize(query: &str, state: &Mutex<State>) -> Answer {
    let q = form(query);
    let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
    let get = |k: &str| q.get(k).cloned().unwrap_or_default();
    let redirect = get("redirect_uri");
    if get("client_id") != CLIENT_ID || !redirect.starts_with("http") {
        return Answer::Json(400, serde_json::json!({"error": "invalid_request"}));
    }
    let sep = if redirect.contains('?') { '&' } else { '?' };
    let st = get("state");
    if get("code_challenge_method") != "S256" || get("code_challenge").is_empty() {
        return Answer::Redirect(format!("{redirect}{sep}error=invalid_request&state={st}"));
    }
    match s.signing_in.clone() {
        None => Answer::Redirect(format!("{redirect}{sep}error=access_denied&state={st}")),
        Some(user) => {
            let code = s.token("code");
            s.codes.insert(
                code.clone(),
                (user, redirect.clone(), get("code_challenge")),
            );
            Answer::Redirect(format!("{redirect}{sep}code={code}&state={st}"))
        }
    }
}

fn route(
    method: &str,
    path: &str,
    body: &str,
    issuer: SocketAddr,
    state: &Mutex<State>,
) -> (u16, serde_json::Value) {
    let f = form(body);
    let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
    let client_ok = f.get("client_id").map(String::as_str) == Some(CLIENT_ID);
    match (method, path) {
        ("GET", "/.well-known/oauth-authorization-server") => {
            let base = format!("http://{issuer}");
            (
                200,
                serde_json::json!({
                    "issuer": base,
                    "token_endpoint": format!("{base}/token"),
                    "device_authorization_endpoint": format!("{base}/device_authorization"),
                    "authorization_endpoint": format!("{base}/authorize"),
                    "introspection_endpoint": format!("{base}/introspect"),
                    "revocation_endpoint": format!("{base}/revoke"),
                    "grant_types_supported": ["refresh_token", "urn:ietf:params:oauth:grant-type:device_code"],
                }),
            )
        }
        ("POST", "/device_authorization") => {
            if !client_ok {
                return oauth_error("invalid_client", "unknown client");
            }
            let device_code = s.token("dc");
            s.next += 1;
            let n = s.next;
            let user_code = format!("WDJB-{n:04}");
            s.user_codes.insert(user_code.clone(), device_code.clone());
            s.devices.insert(device_code.clone(), None);
            (
                200,
                serde_json::json!({
                    "device_code": device_code,
                    "user_code": user_code,
                    "verification_uri": format!("http://{issuer}/device"),
                    "verification_uri_complete": format!("http://{issuer}/device?user_code={user_code}"),
                    "expires_in": 600,
                    "interval": 1,
                }),
            )
        }
        ("POST", "/token") => {
            if !client_ok {
                return oauth_error("invalid_client", "unknown client");
            }
            match f.get("grant_type").map(String::as_str) {
                Some("urn:ietf:params:oauth:grant-type:device_code") => {
                    let dc = f.get("device_code").cloned().unwrap_or_default();
                    match s.devices.get(&dc).cloned() {
                        None => oauth_error("invalid_grant", "unknown device code"),
                        Some(None) => {
                            s.pending_polls += 1;
                            oauth_error("authorization_pending", "waiting for the user")
                        }
                        Some(Some(Err(()))) => {
                            s.devices.remove(&dc);
                            oauth_error("access_denied", "the user declined")
                        }
                        Some(Some(Ok(user))) => {
                            s.devices.remove(&dc);
                            s.device_grants += 1;
                            (200, s.issue(&user))
                        }
                    }
                }
                Some("authorization_code") => {
                    let code = f.get("code").cloned().unwrap_or_default();
                    // A code is good once.
                    match s.codes.remove(&code) {
                        Some((user, redirect, challenge))
                            if f.get("redirect_uri") == Some(&redirect)
                                && f.get("code_verifier").is_some_and(|v| s256(v) == challenge) =>
                        {
                            s.code_grants += 1;
                            (200, s.issue(&user))
                        }
                        Some(_) => oauth_error("invalid_grant", "PKCE or redirect_uri mismatch"),
                        None => oauth_error("invalid_grant", "unknown or used code"),
                    }
                }
                Some("refresh_token") => {
                    s.refresh_grants += 1;
                    let rt = f.get("refresh_token").cloned().unwrap_or_default();
                    match s.refresh.get(&rt).cloned() {
                        Some((user, true)) => {
                            // Rotation: the old refresh token is spent.
                            s.refresh.insert(rt, (user.clone(), false));
                            (200, s.issue(&user))
                        }
                        Some((_, false)) => oauth_error("invalid_grant", "Token has been revoked"),
                        None => oauth_error("invalid_grant", "unknown refresh token"),
                    }
                }
                _ => oauth_error("unsupported_grant_type", "no such grant"),
            }
        }
        ("POST", "/introspect") => {
            s.introspections += 1;
            let t = f.get("token").cloned().unwrap_or_default();
            match s.access.get(&t) {
                Some((user, true)) => (
                    200,
                    serde_json::json!({"active": "true", "username": user, "scope": "mail"}),
                ),
                _ => (200, serde_json::json!({"active": "false"})),
            }
        }
        ("POST", "/revoke") => {
            let t = f.get("token").cloned().unwrap_or_default();
            if let Some(v) = s.access.get_mut(&t) {
                v.1 = false;
            }
            if let Some(v) = s.refresh.get_mut(&t) {
                v.1 = false;
            }
            (200, serde_json::json!({}))
        }
        _ => (404, serde_json::json!({"error": "not_found"})),
    }
}

fn serve(stream: TcpStream, issuer: SocketAddr, state: &Mutex<State>) -> io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(120)))?;
    let mut r = BufReader::new(stream.try_clone()?);
    let mut w = stream;
    loop {
        let mut line = String::new();
        if r.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let mut parts = line.split_whitespace();
        let (method, target) = match (parts.next(), parts.next()) {
            (Some(m), Some(t)) => (m.to_owned(), t.to_owned()),
            _ => return Ok(()),
        };
        let mut len = 0usize;
        let mut close = false;
        loop {
            let mut h = String::new();
            if r.read_line(&mut h)? == 0 {
                return Ok(());
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                let k = k.trim().to_ascii_lowercase();
                if k == "content-length" {
                    len = v.trim().parse().unwrap_or(0);
                } else if k == "connection" && v.trim().eq_ignore_ascii_case("close") {
                    close = true;
                }
            }
        }
        let mut body = vec![0u8; len.min(1 << 20)];
        r.read_exact(&mut body)?;
        let body = String::from_utf8_lossy(&body).into_owned();
        let (path, query) = target.split_once('?').unwrap_or((target.as_str(), ""));
        if method == "GET" && path == "/authorize" {
            let answer = authorize(query, state);
            if let Answer::Redirect(loc) = answer {
                write!(
                    w,
                    "HTTP/1.1 302 Found\r\nLocation: {loc}\r\nContent-Length: 0\r\n\r\n"
                )?;
                w.flush()?;
                if close {
                    return Ok(());
                }
                continue;
            }
            if let Answer::Json(status, json) = answer {
                let text = json.to_string();
                write!(
                    w,
                    "HTTP/1.1 {status} Bad Request\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{text}",
                    text.len()
                )?;
                w.flush()?;
                if close {
                    return Ok(());
                }
                continue;
            }
        }
        let (status, json) = route(&method, path, &body, issuer, state);
        let text = json.to_string();
        let reason = match status {
            200 => "OK",
            400 => "Bad Request",
            _ => "Not Found",
        };
        write!(
            w,
            "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nCache-Control: no-store\r\n{}\r\n{text}",
            text.len(),
            if close { "Connection: close\r\n" } else { "" }
        )?;
        w.flush()?;
        if close {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn form_decoding() {
        let f = super::form("a=b%20c&token=x%2By+z&bad=%zz");
        assert_eq!(f["a"], "b c");
        assert_eq!(f["token"], "x+y z");
        assert_eq!(f["bad"], "%zz");
    }
}
