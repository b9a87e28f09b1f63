//! Rate limits shared by every instance: `rate_limit:{subject}:{class}`,
//! where the subject is a user id, or `ip:{address}` for anonymous traffic.
//!
//! The algorithm is GCRA (the generic cell rate algorithm): one number per
//! key, the "theoretical arrival time" (TAT). Each request pushes the TAT
//! forward by `window / limit`; a request is refused while the TAT would
//! run more than one window ahead of now. It is a sliding window without
//! per-request bookkeeping, allows bursts of up to `limit`, and never lets
//! a client double its budget at a window edge as the seed's fixed window
//! does. In Redis it runs as one Lua script (atomic, with the server's
//! clock so instances with skewed clocks agree); in process, the same
//! arithmetic under a lock.
//!
//! While Redis is unreachable every class is still limited, by the same
//! rules counted in this instance alone (so a client spread over N
//! instances gets up to N budgets for that time). Each such decision is
//! counted in `paygraph_rate_limit_fallback_total`, and the switch both
//! ways is logged.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use super::{Cache, CacheError, MemoryStore, RedisStore, Store};

/// Operation classes, each with its own limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Class {
    /// `register`, `login`: guessing passwords and creating accounts.
    Auth,
    /// Queries and the mutations that move no money.
    Read,
    /// Mutations that move or reserve money.
    MoneyMovement,
    /// Wrong passwords and second-factor codes, per account and per
    /// address: counted only when they fail (see [`RateLimiter::charge`]).
    SecondFactor,
}

impl Class {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auth => "auth",
            Self::Read => "read",
            Self::MoneyMovement => "money_movement",
            Self::SecondFactor => "second_factor",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub limit: u32,
    pub window: Duration,
}

#[derive(Debug, Clone, Copy)]
pub struct Rules {
    pub auth: Rule,
    pub read: Rule,
    pub money_movement: Rule,
    pub second_factor: Rule,
}

impl Rules {
    fn of(&self, class: Class) -> Rule {
        match class {
            Class::Auth => self.auth,
            Class::Read => self.read,
            Class::MoneyMovement => self.money_movement,
            Class::SecondFactor => self.second_factor,
        }
    }
}

/// Who is counted: a user, or for anonymous traffic the client address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    User(uuid::Uuid),
    Address(std::net::IpAddr),
}

impl Subject {
    fn key(&self, class: Class) -> String {
        match self {
            Self::User(id) => format!("rate_limit:{id}:{}", class.as_str()),
            Self::Address(ip) => format!("rate_limit:ip:{ip}:{}", class.as_str()),
        }
    }
}

/// What a count does to the budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Counts the request unless that would exceed the limit.
    Spend = 0,
    /// Decides as `Spend` would and counts nothing.
    Peek = 1,
    /// Counts the request whatever the decision: past the limit each one
    /// pushes the next allowed time further out.
    Charge = 2,
}

/// The outcome, with what the client is told in headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub limit: u32,
    /// Requests that could be made right now.
    pub remaining: u32,
    /// Until the whole budget is back.
    pub reset_after: Duration,
    /// Until this request would be allowed; zero when it was.
    pub retry_after: Duration,
}

#[derive(Clone)]
pub struct RateLimiter {
    cache: Cache,
    rules: Rules,
    /// This instance's own counters, for when Redis is unreachable.
    fallback: MemoryStore,
    falling_back: Arc<AtomicBool>,
}

const FALLBACK_METRIC: &str = "paygraph_rate_limit_fallback_total";

impl RateLimiter {
    pub fn new(cache: Cache, rules: Rules) -> Self {
        Self {
            cache,
            rules,
            fallback: MemoryStore::default(),
            falling_back: Arc::default(),
        }
    }

    /// Counts `cost` requests of `class` for `subject` (a document with
    /// three `transfer` fields costs three), unless that would exceed the
    /// limit, in which case nothing is counted.
    pub async fn check(&self, subject: &Subject, class: Class, cost: u32) -> Decision {
        self.count(subject, class, cost, Mode::Spend).await
    }

    /// Whether one more request of `class` would be allowed now, counting
    /// nothing: for failures, which are counted only once they happen.
    pub async fn peek(&self, subject: &Subject, class: Class) -> Decision {
        self.count(subject, class, 1, Mode::Peek).await
    }

    /// Counts one failure even past the limit, so that an attacker who
    /// keeps guessing while refused is told to wait longer each time.
    pub async fn charge(&self, subject: &Subject, class: Class) -> Decision {
        self.count(subject, class, 1, Mode::Charge).await
    }

    async fn count(&self, subject: &Subject, class: Class, cost: u32, mode: Mode) -> Decision {
        let rule = self.rules.of(class);
        let key = self.cache.key(&subject.key(class));
        match self.cache.store() {
            Store::Memory(m) => local(m, &key, rule, cost, mode),
            Store::Redis(r) => match shared(r, &key, rule, cost, mode).await {
                Ok(decision) => {
                    if self.falling_back.swap(false, Ordering::Relaxed) {
                        tracing::info!("rate limits are shared through Redis again");
                    }
                    decision
                }
                Err(e) => {
                    if !self.falling_back.swap(true, Ordering::Relaxed) {
                        tracing::warn!(error = %e, "Redis unreachable; rate limits count per instance");
                    }
                    metrics::counter!(FALLBACK_METRIC).increment(1);
                    local(&self.fallback, &key, rule, cost, mode)
                }
            },
        }
    }
}

/// GCRA on this instance's own counters.
fn local(m: &MemoryStore, key: &str, rule: Rule, cost: u32, mode: Mode) -> Decision {
    let window_ms = rule.window.as_millis() as f64;
    let now = now_ms();
    m.update(key, |current| {
        let tat = current.and_then(|v| v.parse::<f64>().ok());
        let (decision, new_tat) = gcra(now, tat, rule.limit, window_ms, cost);
        let new_tat = match mode {
            Mode::Spend => new_tat,
            Mode::Peek => None,
            Mode::Charge => Some(
                tat.unwrap_or(now).max(now) + f64::from(cost) * window_ms / f64::from(rule.limit),
            ),
        };
        let write = new_tat.map(|t| {
            let ttl = Duration::from_millis((t - now).ceil().max(1.0) as u64);
            (format!("{t:.3}"), ttl)
        });
        (write, decision)
    })
}

/// GCRA in Redis, shared by every instance.
async fn shared(
    r: &RedisStore,
    key: &str,
    rule: Rule,
    cost: u32,
    mode: Mode,
) -> Result<Decision, CacheError> {
    let window_ms = rule.window.as_millis() as f64;
    let reply: Vec<i64> = r
        .call(async |c| {
            script()
                .key(key)
                .arg(rule.limit)
                .arg(window_ms)
                .arg(cost)
                .arg(mode as u8)
                .invoke_async(c)
                .await
        })
        .await?;
    let [allowed, remaining, reset_ms, retry_ms] = reply[..] else {
        return Err(CacheError::UnexpectedReply(format!(
            "the rate limit script answered {reply:?}"
        )));
    };
    Ok(Decision {
        allowed: allowed == 1,
        limit: rule.limit,
        remaining: remaining.max(0) as u32,
        reset_after: Duration::from_millis(reset_ms.max(0) as u64),
        retry_after: Duration::from_millis(retry_ms.max(0) as u64),
    })
}

fn now_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_millis() as f64
}

/// GCRA in milliseconds; returns the decision and the TAT to store (none
/// when refused: a refused request costs nothing). The Lua script below is
/// the same arithmetic, line for line.
fn gcra(now: f64, tat: Option<f64>, limit: u32, window: f64, cost: u32) -> (Decision, Option<f64>) {
    let interval = window / f64::from(limit);
    let tat = tat.unwrap_or(now).max(now);
    let new_tat = tat + f64::from(cost) * interval;
    let allow_at = new_tat - window;
    let ms = |v: f64| Duration::from_millis(v.ceil().max(0.0) as u64);
    let budget = |t: f64| ((window - (t - now)) / interval).floor().max(0.0) as u32;
    if allow_at > now {
        let decision = Decision {
            allowed: false,
            limit,
            remaining: budget(tat),
            reset_after: ms(tat - now),
            retry_after: ms(allow_at - now),
        };
        return (decision, None);
    }
    let decision = Decision {
        allowed: true,
        limit,
        remaining: budget(new_tat),
        reset_after: ms(new_tat - now),
        retry_after: Duration::ZERO,
    };
    (decision, Some(new_tat))
}

const GCRA: &str = r"
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local mode = tonumber(ARGV[4])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval = window / limit
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local new_tat = tat + cost * interval
local allow_at = new_tat - window
local function budget(x) return math.max(0, math.floor((window - (x - now)) / interval)) end
if mode == 2 then
  redis.call('SET', KEYS[1], string.format('%.3f', new_tat), 'PX', math.max(1, math.ceil(new_tat - now)))
end
if allow_at > now then
  return {0, budget(tat), math.ceil(tat - now), math.ceil(allow_at - now)}
end
if mode == 0 then
  redis.call('SET', KEYS[1], string.format('%.3f', new_tat), 'PX', math.max(1, math.ceil(new_tat - now)))
end
return {1, budget(new_tat), math.ceil(new_tat - now), 0}
";

/// `redis::Script` sends EVALSHA and falls back to EVAL (loading the
/// script) when the server answers NOSCRIPT, e.g. after a restart.
fn script() -> &'static redis::Script {
    static SCRIPT: std::sync::OnceLock<redis::Script> = std::sync::OnceLock::new();
    SCRIPT.get_or_init(|| redis::Script::new(GCRA))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: f64 = 60_000.0;

    #[test]
    fn a_burst_up_to_the_limit_passes_then_one_more_is_refused() {
        let mut tat = None;
        for expected_remaining in (0..3).rev() {
            let (d, t) = gcra(0.0, tat, 3, MINUTE, 1);
            assert!(d.allowed);
            assert_eq!(d.remaining, expected_remaining);
            tat = t;
        }
        let (d, t) = gcra(0.0, tat, 3, MINUTE, 1);
        assert!(!d.allowed);
        assert_eq!(t, None, "a refused request is not counted");
        assert_eq!(d.remaining, 0);
        assert_eq!(d.retry_after, Duration::from_secs(20));
        assert_eq!(d.reset_after, Duration::from_secs(60));
    }

    #[test]
    fn the_budget_comes_back_one_interval_at_a_time() {
        let (_, tat) = gcra(0.0, None, 3, MINUTE, 3);
        let (d, _) = gcra(19_999.0, tat, 3, MINUTE, 1);
        assert!(!d.allowed);
        let (d, _) = gcra(20_000.0, tat, 3, MINUTE, 1);
        assert!(d.allowed);
        assert_eq!(d.remaining, 0);
    }

    #[test]
    fn a_cost_above_the_remaining_budget_is_refused_whole() {
        let (_, tat) = gcra(0.0, None, 5, MINUTE, 4);
        let (d, t) = gcra(0.0, tat, 5, MINUTE, 2);
        assert!(!d.allowed);
        assert_eq!(d.remaining, 1);
        assert_eq!(t, None);
    }

    #[tokio::test]
    async fn the_in_process_limiter_counts_per_subject_and_class() {
        let rule = Rule {
            limit: 2,
            window: Duration::from_secs(60),
        };
        let limiter = RateLimiter::new(
            Cache::in_process(""),
            Rules {
                auth: rule,
                read: rule,
                money_movement: rule,
                second_factor: rule,
            },
        );
        let alice = Subject::User(uuid::Uuid::from_u128(1));
        let bob = Subject::User(uuid::Uuid::from_u128(2));
        for _ in 0..2 {
            assert!(limiter.check(&alice, Class::Read, 1).await.allowed);
        }
        assert!(!limiter.check(&alice, Class::Read, 1).await.allowed);
        assert!(limiter.check(&alice, Class::MoneyMovement, 1).await.allowed);
        assert!(limiter.check(&bob, Class::Read, 1).await.allowed);
    }
}
