//! The autoconfig reader on arbitrary files: never panics, and whatever it returns names no
//! plain-text server as the one to use.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(d) = passeur_net::discover::parse_autoconfig(text, "a@example.test")
        && let Ok((_, s)) = d.choose()
    {
        assert_ne!(s.security, passeur_net::discover::Security::Plain);
    }
});
