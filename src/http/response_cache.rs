//! Whole answers kept for requests asked again: a map client pans over the same bbox pages,
//! tiles and features many times, and each is a pure function of the data snapshot and the
//! request (its URI, `Accept`, `Accept-Language`, `Host` and whether it takes gzip: what the
//! entity tag is made of). A hit skips the handler: no query, no rendering, no page assembly,
//! only a copy of the headers and a reference to the body.
//!
//! Bounded by bytes (bodies and headers), sharded so that concurrent requests rarely wait on
//! one lock; a shard that would take the cache past its budget is emptied first, so the cache
//! follows what is asked now. Entries belong to one data snapshot: the key holds the data
//! version, and a reload empties the cache.

use std::collections::HashMap;
use std::hash::{Hash as _, Hasher as _};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{header, HeaderMap, HeaderValue, Uri};

/// The request headers that choose a representation (with the URI and the gzip preference).
const VARYING: [header::HeaderName; 3] = [header::ACCEPT, header::ACCEPT_LANGUAGE, header::HOST];

/// What identifies a representation: compared in full on a hit (the map is keyed by its hash).
#[derive(Debug)]
struct Identity {
    uri: Uri,
    headers: [Option<HeaderValue>; 3],
    gzip: bool,
    /// The data snapshot's identity (version and load time).
    data: u128,
}

impl Identity {
    fn matches(&self, uri: &Uri, headers: &HeaderMap, gzip: bool, data: u128) -> bool {
        self.data == data && self.gzip == gzip && self.uri == *uri && VARYING.iter().zip(&self.headers).all(|(name, v)| headers.get(name) == v.as_ref())
    }
}

/// A kept answer (status 200): its headers and body.
#[derive(Debug)]
pub struct Cached {
    identity: Identity,
    /// The response headers the handler set.
    pub headers: HeaderMap,
    /// The entity tag of the answer (a function of the request's identity, kept so a hit does
    /// not compute it again).
    pub etag: HeaderValue,
    /// The body.
    pub body: Bytes,
    /// What it counts against the budget (body, headers, identity), reckoned once.
    bytes: usize,
}

impl Cached {
    fn bytes(&self) -> usize {
        self.bytes
    }
}

/// The hash that keys a request's answer; `data` identifies the snapshot.
#[must_use]
pub fn request_hash(uri: &Uri, headers: &HeaderMap, gzip: bool, data: u128) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    uri.hash(&mut h);
    for name in &VARYING {
        headers.get(name).map(HeaderValue::as_bytes).hash(&mut h);
    }
    gzip.hash(&mut h);
    data.hash(&mut h);
    h.finish()
}

/// Answers kept within a byte budget.
#[derive(Debug)]
pub struct ResponseCache {
    shards: Vec<Mutex<HashMap<u64, Arc<Cached>>>>,
    bytes: AtomicUsize,
    budget: usize,
}

impl ResponseCache {
    const SHARDS: usize = 16;
    /// Answers larger than this are not kept (a whole-city page: rare, and costly to hold).
    pub const MAX_ENTRY_BYTES: usize = 1 << 20;

    /// An empty cache holding at most `budget` bytes (0: keeps nothing).
    #[must_use]
    pub fn new(budget: usize) -> Self {
        Self { shards: (0..Self::SHARDS).map(|_| Mutex::new(HashMap::new())).collect(), bytes: AtomicUsize::new(0), budget }
    }

    fn shard(&self, key: u64) -> &Mutex<HashMap<u64, Arc<Cached>>> {
        &self.shards[usize::try_from(key % Self::SHARDS as u64).unwrap_or(0)]
    }

    /// The kept answer to the request for `uri` with `headers`, if any.
    #[must_use]
    pub fn get(&self, key: u64, uri: &Uri, headers: &HeaderMap, gzip: bool, data: u128) -> Option<Arc<Cached>> {
        let hit = self.shard(key).lock().ok()?.get(&key).cloned()?;
        hit.identity.matches(uri, headers, gzip, data).then_some(hit)
    }

    /// Keeps the answer (`answer_headers`, `body`) to the request for `uri` with `headers`
    /// when it fits.
    #[expect(clippy::too_many_arguments, reason = "the request's identity and the answer")]
    pub fn insert(&self, key: u64, uri: &Uri, headers: &HeaderMap, gzip: bool, data: u128, etag: HeaderValue, answer_headers: HeaderMap, body: Bytes) {
        if body.len() > Self::MAX_ENTRY_BYTES || self.budget == 0 {
            return;
        }
        let identity = Identity { uri: uri.clone(), headers: VARYING.clone().map(|name| headers.get(name).cloned()), gzip, data };
        let headers = answer_headers;
        let bytes = body.len() + headers.iter().map(|(n, v)| n.as_str().len() + v.len() + 32).sum::<usize>() + etag.len() + uri.path().len() + uri.query().map_or(0, str::len) + 128;
        let entry = Arc::new(Cached { identity, headers, etag, body, bytes });
        let size = entry.bytes();
        let Ok(mut shard) = self.shard(key).lock() else { return };
        if self.bytes.load(Ordering::Relaxed) + size > self.budget {
            let freed: usize = shard.values().map(|e| e.bytes()).sum();
            shard.clear();
            self.bytes.fetch_sub(freed, Ordering::Relaxed);
        }
        if self.bytes.load(Ordering::Relaxed) + size > self.budget {
            return;
        }
        if let Some(old) = shard.insert(key, entry) {
            self.bytes.fetch_sub(old.bytes(), Ordering::Relaxed);
        }
        self.bytes.fetch_add(size, Ordering::Relaxed);
    }

    /// Drops every answer (after a reload).
    pub fn clear(&self) {
        for shard in &self.shards {
            if let Ok(mut s) = shard.lock() {
                let freed: usize = s.values().map(|e| e.bytes()).sum();
                s.clear();
                self.bytes.fetch_sub(freed, Ordering::Relaxed);
            }
        }
    }

    /// Bytes held.
    #[must_use]
    pub fn bytes(&self) -> usize {
        self.bytes.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(uri: &str, accept: Option<&str>) -> (Uri, HeaderMap) {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static("h"));
        if let Some(a) = accept {
            headers.insert(header::ACCEPT, HeaderValue::from_str(a).unwrap_or(HeaderValue::from_static("x")));
        }
        (uri.parse().unwrap_or_default(), headers)
    }

    #[test]
    fn answers_only_the_same_request_of_the_same_data_and_stays_within_budget() {
        let cache = ResponseCache::new(64 << 10);
        let a = request("/x?a=1", None);
        let key = request_hash(&a.0, &a.1, false, 7);
        cache.insert(key, &a.0, &a.1, false, 7, HeaderValue::from_static("W/\"a\""), HeaderMap::new(), Bytes::from_static(b"body a"));
        assert_eq!(cache.get(key, &a.0, &a.1, false, 7).map(|c| c.body.clone()), Some(Bytes::from_static(b"body a")));
        // Another URI, Accept, gzip preference or snapshot under the same key is not answered.
        for (other, gzip, data) in [(request("/x?a=2", None), false, 7), (request("/x?a=1", Some("text/html")), false, 7), (request("/x?a=1", None), true, 7), (request("/x?a=1", None), false, 8)] {
            assert!(cache.get(key, &other.0, &other.1, gzip, data).is_none());
        }
        // Many answers: the cache stays within its budget and still keeps the latest.
        for i in 0..200 {
            let r = request(&format!("/y/{i}"), None);
            let k = request_hash(&r.0, &r.1, false, 7);
            cache.insert(k, &r.0, &r.1, false, 7, HeaderValue::from_static("W/\"y\""), HeaderMap::new(), Bytes::from(vec![b'x'; 1000]));
            assert!(cache.bytes() <= 64 << 10);
            assert!(cache.get(k, &r.0, &r.1, false, 7).is_some());
        }
        cache.clear();
        assert_eq!(cache.bytes(), 0);
        assert!(cache.get(key, &a.0, &a.1, false, 7).is_none());
    }
}
