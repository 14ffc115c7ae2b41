//! `passeur detect` and the `auto://ADDRESS` accounts of `migrate`: the servers of an e-mail
//! address, found by `passeur_net::discover`.

use anyhow::{Result, bail};
use clap::Args;
use passeur_net::discover::{self, Detected, Discoverer, MailProtocol};

#[derive(Args)]
pub struct DetectArgs {
    /// The e-mail address (alice@example.org).
    pub address: String,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub source: DiscoverArgs,
}

/// Where detection may look, shared by `detect` and `migrate`.
#[derive(Args, Clone, Default)]
pub struct DiscoverArgs {
    /// The ISPDB to ask after the domain's own autoconfig files (default: Thunderbird's).
    #[arg(long, value_name = "URL")]
    pub ispdb: Option<String>,
    /// Do not ask the ISPDB (the address's domain is not sent to a third party).
    #[arg(long)]
    pub no_ispdb: bool,
}

fn discoverer(a: &DiscoverArgs) -> Result<Discoverer> {
    let mut d = Discoverer::new(crate::dav_args::dns_server()?, crate::presets())?;
    if a.no_ispdb {
        d.ispdb = None;
    } else if let Some(u) = &a.ispdb {
        let base = if u.ends_with('/') {
            u.clone()
        } else {
            format!("{u}/")
        };
        d.ispdb = Some(base);
    }
    Ok(d)
}

pub async fn detect(a: DetectArgs) -> Result<std::process::ExitCode> {
    let d = discoverer(&a.source)?.detect(&a.address).await?;
    if a.json {
        let chosen = d.url().ok();
        let mut v = serde_json::to_value(&d)?;
        v["chosen"] = serde_json::json!(chosen);
        v["order"] = serde_json::json!(discover::ORDER);
        v["step"] = serde_json::json!(d.found.step());
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(std::process::ExitCode::SUCCESS);
    }
    println!("address     {}", d.address);
    if let Some(p) = &d.provider {
        println!("provider    {p}");
    }
    println!(
        "found in    {}{}",
        d.found,
        if d.trusted {
            ""
        } else {
            " (a hint: unauthenticated source)"
        }
    );
    // Which steps were tried, in which order, and where it stopped.
    for (i, step) in discover::ORDER.iter().enumerate() {
        let mark = match (i + 1).cmp(&d.found.step()) {
            std::cmp::Ordering::Less => "nothing",
            std::cmp::Ordering::Equal => "found",
            std::cmp::Ordering::Greater => "not tried",
        };
        println!("step {}      {step}: {mark}", i + 1);
    }
    for (p, s) in &d.incoming {
        println!(
            "incoming    {}",
            s.url(*p, d.login_for(s)).unwrap_or_default()
        );
    }
    for s in &d.smtp {
        println!("smtp        {}:{} ({:?})", s.host, s.port, s.security);
    }
    if let Some(u) = &d.caldav {
        println!("caldav      {u}");
    }
    if let Some(u) = &d.carddav {
        println!("carddav     {u}");
    }
    for (role, name) in &d.folders {
        println!("folder      {role}: {name}");
    }
    for (k, v) in &d.limits {
        println!("limit       {k}: {v}");
    }
    for n in &d.notes {
        println!("note        {n}");
    }
    match d.url() {
        Ok(u) => println!("use         {u}"),
        Err(e) => println!("use         nothing chosen: {e}"),
    }
    Ok(std::process::ExitCode::SUCCESS)
}

/// The account URL for `auto://ADDRESS` (or `auto:ADDRESS`), else `url` itself. A destination
/// must be IMAP. Says on stderr what was found and where.
pub async fn resolve(url: &str, destination: bool, a: &DiscoverArgs) -> Result<String> {
    let Some(address) = url
        .strip_prefix("auto://")
        .or_else(|| url.strip_prefix("auto:"))
    else {
        return Ok(url.to_owned());
    };
    let d: Detected = discoverer(a)?.detect(address).await?;
    let chosen = if destination {
        match d.incoming.iter().find(|(p, s)| {
            *p == MailProtocol::Imap && s.security != passeur_net::discover::Security::Plain
        }) {
            Some((p, s)) => s.url(*p, d.login_for(s)).unwrap_or_default(),
            None => bail!(
                "auto: no encrypted IMAP server found for {address} (a destination must be IMAP); give its URL"
            ),
        }
    } else {
        d.url()?
    };
    eprintln!(
        "auto: {address} -> {chosen} (from {}{})",
        d.found,
        if d.trusted {
            ""
        } else {
            "; an unauthenticated hint: check the host"
        }
    );
    Ok(chosen)
}
