//! `passeur serve` and `passeur worker`: the service, built from the command line.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use passeur_engine::Runner;

use crate::{ServeArgs, WorkArgs, WorkerArgs, allow_plaintext, oauth};

/// The service of `serve` and `worker`.
fn service(
    runner: Runner,
    dir: &Path,
    w: &WorkArgs,
    public_url: String,
    max_upload_gib: u64,
) -> Result<std::sync::Arc<passeur_server::Service>> {
    let key = w
        .secret_key_file
        .clone()
        .unwrap_or_else(|| dir.join("secret.key"));
    let vault = passeur_server::vault::Vault::open_or_create(&key)?;
    let notifier = match &w.smtp_url {
        Some(url) => {
            let mut c = passeur_notify::SmtpConfig::from_url(url, &w.smtp_from)?;
            if let Ok(pw) = std::env::var("PASSEUR_SMTP_PASSWORD") {
                c.set_password(pw);
            }
            let n = passeur_notify::Notifier::new(c)?;
            Some(match &w.smtp_token_file {
                Some(f) => n.with_oauth(oauth::token_source(f)?)?,
                None => n,
            })
        }
        None => None,
    };
    let mut limits = passeur_store::ClaimLimits {
        node: Some(passeur_jobs::this_node()),
        ..Default::default()
    };
    for l in &w.host_limits {
        match l.split_once('=') {
            Some((h, n)) => {
                let n = n
                    .trim()
                    .parse()
                    .with_context(|| format!("--host-limit {l}: not a number"))?;
                limits.per_host.insert(h.trim().to_ascii_lowercase(), n);
            }
            None => {
                limits.per_host_default = l
                    .trim()
                    .parse()
                    .with_context(|| format!("--host-limit {l}: not a number"))?;
            }
        }
    }
    let host = passeur_jobs::this_node();
    let settings = passeur_server::Settings {
        workers: w.workers,
        insecure_tls: w.insecure_tls,
        allow_private_addresses: w.allow_private_addresses,
        allow_plaintext: allow_plaintext(),
        presets: crate::presets(),
        ispdb: match w.ispdb.as_deref().map(str::trim) {
            None | Some("") => Some(passeur_net::discover::ISPDB.to_owned()),
            Some("off") => None,
            Some(u) if u.ends_with('/') => Some(u.to_owned()),
            Some(u) => Some(format!("{u}/")),
        },
        public_url,
        expire_after: std::time::Duration::from_secs(w.expire_days.max(1) * 86_400),
        data_dir: dir.to_path_buf(),
        max_upload: max_upload_gib.saturating_mul(1 << 30),
        queue: passeur_jobs::QueueConfig {
            holder: format!("{host}:{}", std::process::id()),
            limits,
            retry_base: std::time::Duration::from_secs(w.retry_seconds.max(1)),
            ttl: std::time::Duration::from_secs(w.job_ttl_seconds.max(2)),
            ..Default::default()
        },
        oauth_providers: oauth::service_providers()?,
        ..Default::default()
    };
    Ok(passeur_server::Service::new(
        runner, vault, settings, notifier,
    ))
}

/// Completes at SIGTERM or Ctrl-C.
async fn terminated() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async {
            match term.as_mut() {
                Some(t) => { t.recv().await; }
                None => std::future::pending::<()>().await,
            }
        } => {}
    }
}

pub(crate) async fn serve(runner: Runner, dir: &Path, a: ServeArgs) -> Result<ExitCode> {
    let listener = tokio::net::TcpListener::bind(&a.listen)
        .await
        .with_context(|| format!("cannot listen on {}", a.listen))?;
    let addr = listener.local_addr()?;
    let public = a
        .work
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{addr}"));
    let svc = service(runner, dir, &a.work, public, a.max_upload_gib)?;
    println!("passeur is serving on http://{addr}/");
    passeur_server::serve(
        listener,
        svc,
        terminated(),
        std::time::Duration::from_secs(30),
    )
    .await?;
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn worker(runner: Runner, dir: &Path, a: WorkerArgs) -> Result<ExitCode> {
    if a.work.workers == 0 {
        bail!("--workers 0 leaves nothing to do");
    }
    let public = a
        .work
        .public_url
        .clone()
        .unwrap_or_else(|| "http://127.0.0.1:8080".into());
    let svc = service(runner, dir, &a.work, public, 50)?;
    eprintln!(
        "passeur worker: {} worker(s) on the {} store",
        a.work.workers,
        svc.store().backend_name()
    );
    let run = {
        let svc = std::sync::Arc::clone(&svc);
        tokio::spawn(async move { svc.run_workers().await })
    };
    terminated().await;
    svc.shut_down();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(30), run).await;
    Ok(ExitCode::SUCCESS)
}
