//! Sign-in throttling, per account name and per client address, with back-off that
//! expires: after `free` failures within `window`, each further attempt must wait
//! `base · 2^(extra failures)`, capped at `max_wait`. Failures older than `window`
//! are forgotten, so an attacker can slow sign-ins for a name but never lock its
//! owner out for good; a success clears the name's record.
//!
//! Kept in memory: one node's view. Several nodes each throttle on their own.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Throttle settings.
#[derive(Debug, Clone, Copy)]
pub struct ThrottlePolicy {
    /// Failures allowed per name before back-off starts.
    pub free_per_name: u32,
    /// Failures allowed per address before back-off starts.
    pub free_per_ip: u32,
    /// First wait.
    pub base: Duration,
    /// Longest wait.
    pub max_wait: Duration,
    /// How long a failure is remembered.
    pub window: Duration,
}

impl Default for ThrottlePolicy {
    fn default() -> Self {
        Self {
            free_per_name: 5,
            free_per_ip: 20,
            base: Duration::from_secs(1),
            max_wait: Duration::from_secs(15 * 60),
            window: Duration::from_secs(15 * 60),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Record {
    failures: u32,
    last: Instant,
}

/// Failure counts by key (`name:…`, `ip:…`).
#[derive(Debug, Default)]
pub struct Throttle {
    policy: ThrottlePolicy,
    records: Mutex<HashMap<String, Record>>,
}

/// Most keys remembered; beyond it the oldest half is dropped (bounded memory).
const MAX_KEYS: usize = 100_000;

impl Throttle {
    /// A throttle with `policy`.
    pub fn new(policy: ThrottlePolicy) -> Self {
        Self {
            policy,
            records: Mutex::default(),
        }
    }

    fn wait_for(&self, r: &Record, free: u32, now: Instant) -> Option<Duration> {
        if now.duration_since(r.last) > self.policy.window || r.failures < free {
            return None;
        }
        let extra = (r.failures - free).min(20);
        let wait = self
            .policy
            .base
            .saturating_mul(1 << extra)
            .min(self.policy.max_wait);
        let ready = r.last + wait;
        (ready > now).then(|| ready - now)
    }

    /// How long the caller must wait before trying `name` from `ip`, if at all.
    pub fn check(&self, name: &str, ip: &str) -> Option<Duration> {
        let now = Instant::now();
        let records = self.records.lock().unwrap_or_else(|p| p.into_inner());
        let by_name = records
            .get(&format!("name:{name}"))
            .and_then(|r| self.wait_for(r, self.policy.free_per_name, now));
        let by_ip = records
            .get(&format!("ip:{ip}"))
            .and_then(|r| self.wait_for(r, self.policy.free_per_ip, now));
        by_name.max(by_ip)
    }

    /// Notes a failed attempt.
    pub fn failed(&self, name: &str, ip: &str) {
        let now = Instant::now();
        let window = self.policy.window;
        let mut records = self.records.lock().unwrap_or_else(|p| p.into_inner());
        if records.len() >= MAX_KEYS {
            records.retain(|_, r| now.duration_since(r.last) <= window);
            if records.len() >= MAX_KEYS {
                let mut lasts: Vec<Instant> = records.values().map(|r| r.last).collect();
                lasts.sort();
                let cut = lasts[lasts.len() / 2];
                records.retain(|_, r| r.last > cut);
            }
        }
        for key in [format!("name:{name}"), format!("ip:{ip}")] {
            let r = records.entry(key).or_insert(Record {
                failures: 0,
                last: now,
            });
            if now.duration_since(r.last) > window {
                r.failures = 0;
            }
            r.failures += 1;
            r.last = now;
        }
    }

    /// Notes a success: the name's failures are forgotten.
    pub fn succeeded(&self, name: &str) {
        self.records
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&format!("name:{name}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backs_off_then_forgets() {
        let t = Throttle::new(ThrottlePolicy {
            free_per_name: 2,
            free_per_ip: 100,
            base: Duration::from_millis(40),
            max_wait: Duration::from_millis(100),
            window: Duration::from_millis(300),
        });
        assert!(t.check("ana", "1.1.1.1").is_none());
        t.failed("ana", "1.1.1.1");
        t.failed("ana", "1.1.1.1");
        let w = t
            .check("ana", "9.9.9.9")
            .expect("name is throttled from any address");
        assert!(w <= Duration::from_millis(40));
        assert!(t.check("bob", "1.1.1.1").is_none(), "other names are not");
        for _ in 0..10 {
            t.failed("ana", "1.1.1.1");
        }
        assert!(
            t.check("ana", "1.1.1.1").unwrap() <= Duration::from_millis(100),
            "capped"
        );
        std::thread::sleep(Duration::from_millis(350));
        assert!(
            t.check("ana", "1.1.1.1").is_none(),
            "forgotten after the window"
        );
        t.failed("ana", "1.1.1.1");
        t.failed("ana", "1.1.1.1");
        t.succeeded("ana");
        assert!(t.check("ana", "1.1.1.1").is_none());
    }

    #[test]
    fn per_address_limit() {
        let t = Throttle::new(ThrottlePolicy {
            free_per_ip: 3,
            ..Default::default()
        });
        for i in 0..3 {
            t.failed(&format!("user{i}"), "6.6.6.6");
        }
        assert!(t.check("someone-else", "6.6.6.6").is_some());
        assert!(t.check("someone-else", "7.7.7.7").is_none());
    }
}
