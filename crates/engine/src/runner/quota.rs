//! Providers' documented daily transfer limits (the presets' `daily_download_mb` for a source,
//! `daily_upload_mb` for a destination): a pass stops at the first safe point once the account
//! has moved that much in the last 24 hours, and says when it may go on. What was copied stays
//! recorded, as after any stop; the next pass after the reset continues.
//!
//! The window holds the passes of every migration of this store that read from the account (a
//! download limit) or wrote to it (an upload limit): two migrations out of one Gmail account
//! share its day. The provider also counts what the account did elsewhere, which passeur cannot
//! see. A stop comes after the batch that reaches the limit, so a pass may go over by what was
//! in flight (the bytes-in-flight budget at most).

use passeur_store::PassRow;
use passeur_types::Endpoint;

/// A day, the providers' window.
pub const WINDOW_SECS: i64 = 86_400;

/// The limit a pass runs under, and how much of it is left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DailyQuota {
    /// The provider, as users know it.
    pub provider: String,
    /// `download` (source) or `upload` (destination).
    pub direction: &'static str,
    /// The documented limit, in MB per day.
    pub limit_mb: u64,
    /// Bytes this pass may still move.
    pub left: u64,
    /// Unix time (seconds) when the oldest pass of the window leaves it.
    pub reset_at: i64,
}

impl DailyQuota {
    /// The sentence a stopped pass gives.
    pub fn stop_summary(&self) -> String {
        let reset = chrono::DateTime::from_timestamp(self.reset_at, 0)
            .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
            .unwrap_or_else(|| self.reset_at.to_string());
        format!(
            "stopped at {}'s documented daily {} limit ({} MB a day); what was copied stays, and a sync continues after {reset}",
            self.provider, self.direction, self.limit_mb
        )
    }
}

/// A provider's documented daily limit, before the pass history is looked at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DailyLimit {
    /// The provider, as users know it.
    pub provider: String,
    /// `download` (source) or `upload` (destination).
    pub direction: &'static str,
    /// The documented limit, in MB per day.
    pub limit_mb: u64,
    /// The account it counts: its server's host and its login, lower-cased.
    pub account: (String, String),
}

/// The tightest daily limit of the two sides' providers; `None` when neither side is at a
/// provider with such a limit.
pub fn daily_limit(
    presets: &passeur_net::discover::Presets,
    source: Option<&Endpoint>,
    destination: Option<&Endpoint>,
) -> Option<DailyLimit> {
    let side = |e: Option<&Endpoint>, key: &str, direction: &'static str| {
        let e = e?;
        let p = presets.for_host(&e.host)?;
        Some(DailyLimit {
            provider: p.name.clone(),
            direction,
            limit_mb: *p.limits.get(key)?,
            account: account_of(e),
        })
    };
    [
        side(source, "daily_download_mb", "download"),
        side(destination, "daily_upload_mb", "upload"),
    ]
    .into_iter()
    .flatten()
    .min_by_key(|l| l.limit_mb)
}

/// An account as a limit counts it: host and login, lower-cased (a host's trailing dot off).
fn account_of(e: &Endpoint) -> (String, String) {
    (
        e.host.trim_end_matches('.').to_ascii_lowercase(),
        e.login.to_ascii_lowercase(),
    )
}

impl DailyLimit {
    /// Whether a migration with these recorded sides moves data of this limit's account in
    /// its direction (reads from it for a download limit, writes to it for an upload one).
    pub fn counts(&self, source: &str, destination: &str) -> bool {
        let side = if self.direction == "download" {
            source
        } else {
            destination
        };
        Endpoint::of_recorded(side).is_some_and(|e| account_of(&e) == self.account)
    }

    /// What is left of the limit given the passes of the last day (`now` in Unix seconds)
    /// with their migrations' recorded sides, as [`passeur_store::Store::passes_since`] gives
    /// them: only those of this limit's account count.
    pub fn left_after(self, passes: &[(String, String, PassRow)], now: i64) -> DailyQuota {
        let recent: Vec<&PassRow> = passes
            .iter()
            .filter(|(s, d, p)| p.started_at > now - WINDOW_SECS && self.counts(s, d))
            .map(|(_, _, p)| p)
            .collect();
        let used: u64 = recent.iter().map(|p| p.counters.bytes).sum();
        let reset_at = recent.iter().map(|p| p.started_at).min().unwrap_or(now) + WINDOW_SECS;
        DailyQuota {
            left: (self.limit_mb * 1_000_000).saturating_sub(used),
            provider: self.provider,
            direction: self.direction,
            limit_mb: self.limit_mb,
            reset_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use passeur_store::{PassCounters, PassStatus};

    fn pass(started_at: i64, bytes: u64) -> PassRow {
        PassRow {
            number: 1,
            started_at,
            finished_at: Some(started_at + 60),
            status: PassStatus::Stopped,
            counters: PassCounters {
                bytes,
                ..Default::default()
            },
            error: None,
        }
    }

    #[test]
    fn the_days_passes_of_the_account_count_and_the_oldest_sets_the_reset() {
        let gmail = Endpoint::parse("imaps://a@imap.gmail.com").unwrap();
        let other = Endpoint::parse("imaps://a@mail.example.org").unwrap();
        let now = 1_000_000;
        let (o, g) = (
            "imaps://a@mail.example.org:993",
            "imaps://A@imap.gmail.com:993",
        );
        let row = |s: &str, d: &str, p| (s.to_string(), d.to_string(), p);
        // Gmail documents 2,500 MB down and 500 MB up a day: as a destination, 500 counts.
        let passes = [
            row(o, g, pass(now - WINDOW_SECS - 10, 400_000_000)), // out of the window
            row(o, g, pass(now - 3_600, 120_000_000)),
            // Another migration into the same account (its login in another case) counts.
            row(
                "imaps://b@elsewhere.example:993",
                g,
                pass(now - 60, 30_000_000),
            ),
            // Another Gmail account does not, nor a migration out of this one.
            row(
                o,
                "imaps://b@imap.gmail.com:993",
                pass(now - 30, 99_000_000),
            ),
            row(g, o, pass(now - 20, 77_000_000)),
        ];
        let presets = passeur_net::discover::Presets::built_in();
        let quota = |s, d, passes: &[(String, String, PassRow)]| {
            daily_limit(&presets, s, d).map(|l| l.left_after(passes, now))
        };
        let q = quota(Some(&other), Some(&gmail), &passes).unwrap();
        assert_eq!((q.direction, q.limit_mb), ("upload", 500));
        assert_eq!(q.left, 350_000_000);
        assert_eq!(q.reset_at, now - 3_600 + WINDOW_SECS);
        assert!(
            q.stop_summary().starts_with(
                "stopped at Gmail / Google Workspace's documented daily upload limit (500 MB a day); what was copied stays, and a sync continues after "
            ),
            "{}",
            q.stop_summary()
        );
        // Out of the account, only the migration that reads it counts.
        let q = quota(Some(&gmail), Some(&other), &passes).unwrap();
        assert_eq!((q.direction, q.limit_mb), ("download", 2500));
        assert_eq!(q.left, 2_500_000_000 - 77_000_000);
        assert_eq!(daily_limit(&presets, Some(&other), Some(&other)), None);
        // Used up: nothing left, never below zero.
        let q = quota(None, Some(&gmail), &[row(o, g, pass(now - 5, 600_000_000))]).unwrap();
        assert_eq!(q.left, 0);
    }
}
