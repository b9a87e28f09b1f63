use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

/// The in-process store of the embedded default. Expired entries are
/// dropped when read and swept when the map grows, so memory stays bounded
/// by the live entries.
#[derive(Clone, Default)]
pub struct MemoryStore {
    entries: Arc<Mutex<HashMap<String, (String, Instant)>>>,
}

const SWEEP_EVERY: usize = 1024;

impl MemoryStore {
    pub fn set_ex(&self, key: String, value: String, ttl: Duration) {
        let mut map = self.entries.lock().expect("cache lock poisoned");
        let now = Instant::now();
        if map.len() % SWEEP_EVERY == SWEEP_EVERY - 1 {
            map.retain(|_, (_, until)| *until > now);
        }
        map.insert(key, (value, now + ttl));
    }

    /// Stores the value unless `keep` says the live entry should stay; the
    /// check and the write happen under one lock, like a Redis script.
    pub fn set_ex_unless(
        &self,
        key: String,
        value: String,
        ttl: Duration,
        keep: impl FnOnce(&str) -> bool,
    ) {
        let mut map = self.entries.lock().expect("cache lock poisoned");
        let now = Instant::now();
        if let Some((current, until)) = map.get(&key)
            && *until > now
            && keep(current)
        {
            return;
        }
        map.insert(key, (value, now + ttl));
    }

    /// Runs `f` on the live value of `key` (or `None`) and stores what it
    /// returns, all under one lock: the in-process twin of a Redis script.
    pub fn update<T>(
        &self,
        key: &str,
        f: impl FnOnce(Option<&str>) -> (Option<(String, Duration)>, T),
    ) -> T {
        let mut map = self.entries.lock().expect("cache lock poisoned");
        let now = Instant::now();
        // Rate-limit keys (one per client address) come and go: sweep here
        // too, or the map would keep every address ever seen.
        if map.len() % SWEEP_EVERY == SWEEP_EVERY - 1 {
            map.retain(|_, (_, until)| *until > now);
        }
        let current = map
            .get(key)
            .filter(|(_, until)| *until > now)
            .map(|(v, _)| v.as_str());
        let (write, out) = f(current);
        if let Some((value, ttl)) = write {
            map.insert(key.to_owned(), (value, now + ttl));
        }
        out
    }

    pub fn get(&self, key: &str) -> Option<String> {
        let mut map = self.entries.lock().expect("cache lock poisoned");
        match map.get(key) {
            Some((v, until)) if *until > Instant::now() => Some(v.clone()),
            Some(_) => {
                map.remove(key);
                None
            }
            None => None,
        }
    }

    pub fn del(&self, key: &str) -> bool {
        let mut map = self.entries.lock().expect("cache lock poisoned");
        map.remove(key)
            .is_some_and(|(_, until)| until > Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire() {
        let m = MemoryStore::default();
        m.set_ex("a".into(), "1".into(), Duration::from_millis(0));
        m.set_ex("b".into(), "2".into(), Duration::from_secs(60));
        assert_eq!(m.get("a"), None);
        assert_eq!(m.get("b").as_deref(), Some("2"));
        assert!(m.del("b"));
        assert!(!m.del("b"));
    }
}
