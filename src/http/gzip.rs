//! Gzip for pages the handlers compress themselves, off the async executor.
//!
//! Items pages are rendered and compressed on a blocking thread ([`gzip_fast`]); the compression
//! layer, which would compress them again on the executor, leaves answers that already carry a
//! `Content-Encoding` alone. [`prefers_gzip`] makes the same choice the layer would.

use std::io::Write as _;

use axum::http::{header, HeaderMap};
use flate2::Compression;

/// `data` gzipped at the fastest level.
#[must_use]
pub fn gzip_fast(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::with_capacity(data.len() / 4 + 64), Compression::fast());
    // Writing into a vector cannot fail.
    let _ = encoder.write_all(data);
    encoder.finish().unwrap_or_default()
}

/// Whether the client's `Accept-Encoding` makes gzip the encoding to send: `gzip` or `x-gzip`
/// with a non-zero q-value at least that of `identity`. This matches the compression layer's
/// choice, which only offers gzip.
#[must_use]
pub fn prefers_gzip(headers: &HeaderMap) -> bool {
    let mut gzip: Option<u16> = None;
    let mut identity: Option<u16> = None;
    for value in headers.get_all(header::ACCEPT_ENCODING).iter().filter_map(|v| v.to_str().ok()) {
        for entry in value.split(',') {
            let mut parts = entry.splitn(2, ';');
            let name = parts.next().unwrap_or("").trim();
            let q = match parts.next() {
                Some(q) => match qvalue(q.trim()) {
                    Some(q) => q,
                    None => continue,
                },
                None => 1000,
            };
            let slot = if name.eq_ignore_ascii_case("gzip") || name.eq_ignore_ascii_case("x-gzip") {
                &mut gzip
            } else if name.eq_ignore_ascii_case("identity") {
                &mut identity
            } else {
                continue;
            };
            *slot = Some(slot.map_or(q, |s| s.max(q)));
        }
    }
    gzip.is_some_and(|g| g > 0 && identity.is_none_or(|i| g >= i))
}

/// A q-value (`q=0.5`) in thousandths: at most three decimals, 0 to 1.
fn qvalue(s: &str) -> Option<u16> {
    let v = s.strip_prefix("q=").or_else(|| s.strip_prefix("Q="))?;
    let (int, frac) = v.split_once('.').unwrap_or((v, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let frac_value: u16 = if frac.is_empty() { 0 } else { frac.parse::<u16>().ok()? * 10u16.pow(3 - u32::try_from(frac.len()).ok()?) };
    match int {
        "0" => Some(frac_value),
        "1" if frac_value == 0 => Some(1000),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read as _;

    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn gzip_fast_round_trips() {
        for data in [Vec::new(), b"{}".to_vec(), "小区 ".repeat(10_000).into_bytes()] {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(&gzip_fast(&data)[..]).read_to_end(&mut out).expect("valid gzip");
            assert_eq!(out, data);
        }
    }

    #[test]
    fn gzip_preference_follows_q_values() {
        let prefers = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::ACCEPT_ENCODING, HeaderValue::from_str(v).expect("header"));
            prefers_gzip(&h)
        };
        assert!(!prefers_gzip(&HeaderMap::new()));
        assert!(prefers("gzip"));
        assert!(prefers("br, GZIP, deflate"));
        assert!(prefers("x-gzip;q=0.5"));
        assert!(prefers("gzip;q=0.5, identity;q=0.5"));
        assert!(!prefers("gzip;q=0"));
        assert!(!prefers("gzip;q=0.000"));
        assert!(!prefers("gzip;q=0.4, identity;q=0.5"));
        assert!(!prefers("gzip;q=2"));
        assert!(!prefers("gzip;q=0.1234"));
        assert!(!prefers("br, deflate, *"));
        assert!(!prefers("identity"));
    }
}
