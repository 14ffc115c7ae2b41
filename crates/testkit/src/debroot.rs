//! Debian packages unpacked into a private root, for servers that cannot be installed beside
//! Dovecot (cyrus-imapd and courier-imap declare `Conflicts: imap-server`: installing them
//! removes dovecot-imapd). The `.deb` files are fetched with `apt-get download` and unpacked
//! with `dpkg-deb -x`, once, into a cache directory shared by every test run:
//! `$PASSEUR_TEST_CACHE`, else `/var/cache/passeur-test` when root, else
//! `$TMPDIR/passeur-test-cache`.

use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Written last into a finished root; its content is the package list.
const MARKER: &str = ".passeur-unpacked";

/// The cache directory (created if missing).
pub fn cache_dir() -> io::Result<PathBuf> {
    let dir = match std::env::var_os("PASSEUR_TEST_CACHE") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => {
            let root = Command::new("id")
                .arg("-u")
                .output()
                .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
            if root {
                PathBuf::from("/var/cache/passeur-test")
            } else {
                std::env::temp_dir().join("passeur-test-cache")
            }
        }
    };
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// The root `CACHE/<name>` holding `packages` unpacked, fetching and unpacking them the first
/// time. Safe to call from several test processes at once: each unpacks into its own
/// directory and the first to finish renames it into place.
pub fn unpacked(name: &str, packages: &[&str]) -> io::Result<PathBuf> {
    let cache = cache_dir()?;
    let root = cache.join(name);
    let want = packages.join("\n");
    if std::fs::read_to_string(root.join(MARKER)).is_ok_and(|m| m == want) {
        return Ok(root);
    }
    let work = tempfile::Builder::new()
        .prefix(&format!(".{name}-"))
        .tempdir_in(&cache)?;
    let debs = work.path().join("debs");
    let tree = work.path().join("root");
    std::fs::create_dir_all(&debs)?;
    std::fs::create_dir_all(&tree)?;
    if let Err(first) = apt_download(&debs, packages) {
        // Stale or absent package lists: refresh once (root only) and try again.
        let updated = Command::new("apt-get")
            .args(["update", "-q", "-o", "DPkg::Lock::Timeout=600"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !updated {
            return Err(first);
        }
        apt_download(&debs, packages)?;
    }
    for entry in std::fs::read_dir(&debs)? {
        let deb = entry?.path();
        if deb.extension().is_some_and(|e| e == "deb") {
            run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&tree))?;
        }
    }
    std::fs::write(tree.join(MARKER), &want)?;
    if root.exists() {
        // Another process finished first, or an older package set: replace only the latter.
        if std::fs::read_to_string(root.join(MARKER)).is_ok_and(|m| m == want) {
            return Ok(root);
        }
        let old = work.path().join("old");
        let _ = std::fs::rename(&root, &old);
    }
    match std::fs::rename(&tree, &root) {
        Ok(()) => Ok(root),
        Err(e) => {
            if std::fs::read_to_string(root.join(MARKER)).is_ok_and(|m| m == want) {
                Ok(root)
            } else {
                Err(io::Error::other(format!(
                    "cannot move the unpacked packages into {}: {e}",
                    root.display()
                )))
            }
        }
    }
}

fn apt_download(dir: &Path, packages: &[&str]) -> io::Result<()> {
    let out = Command::new("apt-get")
        .arg("download")
        .args(packages)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| io::Error::other(format!("cannot run apt-get download: {e}")))?;
    if out.status.success() {
        return Ok(());
    }
    Err(io::Error::other(format!(
        "cannot fetch the packages {} with `apt-get download` (a Debian 12 machine with \
         network access is needed; try `apt-get update`): {}",
        packages.join(" "),
        String::from_utf8_lossy(&out.stderr).trim()
    )))
}

fn run(cmd: &mut Command) -> io::Result<()> {
    let out = cmd.stdin(Stdio::null()).output()?;
    if out.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "cannot run {cmd:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}
