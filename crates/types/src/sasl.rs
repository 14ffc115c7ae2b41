//! The SASL messages of OAuth 2.0 logins: OAUTHBEARER (RFC 7628) and XOAUTH2 (Google,
//! Microsoft), shared by the IMAP, POP3 and SMTP clients.

use zeroize::Zeroizing;

/// The OAUTHBEARER initial client response: `n,a=USER,^Aauth=Bearer TOKEN^A^A`.
pub fn oauthbearer(user: &str, token: &str) -> Zeroizing<Vec<u8>> {
    let user = user.replace('=', "=3D").replace(',', "=2C");
    Zeroizing::new(format!("n,a={user},\x01auth=Bearer {token}\x01\x01").into_bytes())
}

/// The XOAUTH2 initial client response: `user=USER^Aauth=Bearer TOKEN^A^A`.
pub fn xoauth2(user: &str, token: &str) -> Zeroizing<Vec<u8>> {
    Zeroizing::new(format!("user={user}\x01auth=Bearer {token}\x01\x01").into_bytes())
}

/// What an OAuth 2.0 error challenge (RFC 7628 section 3.2.2, a JSON object, already
/// base64-decoded) says, in words: `invalid_token (expired, revoked or not valid)`. `None`
/// when it has no `status`.
pub fn oauth_error(challenge: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(challenge);
    let status = json_string(&text, "status")?;
    let why = match status.as_str() {
        "invalid_token" | "401" => " (expired, revoked or not valid)",
        "insufficient_scope" | "403" => " (it was not granted the scope mail access needs)",
        "invalid_request" | "400" => " (the server did not understand the request)",
        _ => "",
    };
    let scope = json_string(&text, "scope")
        .filter(|s| !s.is_empty() && why.contains("scope"))
        .map(|s| format!("; scope wanted: {s}"))
        .unwrap_or_default();
    Some(format!("{status}{why}{scope}"))
}

/// The string value of `key` in a flat JSON object (no nesting, escapes of quotes only).
fn json_string(text: &str, key: &str) -> Option<String> {
    let pat = format!("\"{key}\"");
    let at = text.find(&pat)? + pat.len();
    let rest = text[at..].trim_start().strip_prefix(':')?.trim_start();
    let rest = rest.strip_prefix('"')?;
    let mut out = String::new();
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(out),
            '\\' => out.push(chars.next()?),
            c => out.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initial_responses() {
        assert_eq!(
            &*oauthbearer("a,b=c@x", "T"),
            b"n,a=a=2Cb=3Dc@x,\x01auth=Bearer T\x01\x01"
        );
        assert_eq!(&*xoauth2("u@x", "T"), b"user=u@x\x01auth=Bearer T\x01\x01");
    }

    #[test]
    fn error_challenges_in_words() {
        assert_eq!(
            oauth_error(br#"{"status":"invalid_token","schemes":"bearer","scope":"mail"}"#)
                .as_deref(),
            Some("invalid_token (expired, revoked or not valid)")
        );
        assert_eq!(
            oauth_error(
                br#"{ "status" : "insufficient_scope", "scope": "https://mail.google.com/" }"#
            )
            .as_deref(),
            Some(
                "insufficient_scope (it was not granted the scope mail access needs); scope wanted: https://mail.google.com/"
            )
        );
        assert_eq!(oauth_error(b"not json"), None);
    }
}
