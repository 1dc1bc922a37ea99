//! Strict query parsing: every parameter is known, given once and well formed, or the request
//! gets a 400 naming the parameter and what is accepted.
#![expect(clippy::doc_markdown, reason = "GeoJSON, OpenAPI and CRS84 are names, not code")]

use std::fmt::Write as _;

use axum::http::{header, HeaderMap};

use super::error::ApiError;

/// The percent-decoded query pairs of a request, in order, each name at most once.
#[derive(Debug, Clone, Default)]
pub struct QueryPairs {
    pairs: Vec<(String, String)>,
}

impl QueryPairs {
    /// Parses a raw query string.
    ///
    /// # Errors
    /// [`ApiError::BadParameter`] when a parameter is repeated.
    pub fn parse(query: Option<&str>) -> Result<Self, ApiError> {
        let mut pairs: Vec<(String, String)> = Vec::new();
        for (name, value) in form_urlencoded_pairs(query.unwrap_or("")) {
            if pairs.iter().any(|(n, _)| *n == name) {
                return Err(ApiError::bad(&name, "is given more than once; give it once"));
            }
            pairs.push((name, value));
        }
        Ok(Self { pairs })
    }

    /// The value of `name`, if given.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// The pairs in request order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// Fails on the first parameter that is not in `accepted`.
    ///
    /// # Errors
    /// [`ApiError::BadParameter`] listing the accepted parameters.
    pub fn only(&self, accepted: &[&str]) -> Result<(), ApiError> {
        match self.pairs.iter().find(|(n, _)| !accepted.contains(&n.as_str())) {
            Some((name, _)) => Err(ApiError::bad(
                name,
                format!("unknown parameter; this resource accepts: {}", if accepted.is_empty() { "none".to_owned() } else { accepted.join(", ") }),
            )),
            None => Ok(()),
        }
    }

    /// The query string with `name` set to `value` (or removed when `None`), other parameters
    /// kept in order: for `next`/`prev`/`alternate` links.
    #[must_use]
    pub fn with(&self, changes: &[(&str, Option<&str>)]) -> String {
        let mut pairs: Vec<(String, String)> = self.pairs.clone();
        for (name, value) in changes {
            match (pairs.iter().position(|(n, _)| n == name), value) {
                (Some(i), Some(v)) => (*v).clone_into(&mut pairs[i].1),
                (Some(i), None) => {
                    pairs.remove(i);
                }
                (None, Some(v)) => pairs.push(((*name).to_owned(), (*v).to_owned())),
                (None, None) => {}
            }
        }
        if pairs.is_empty() {
            return String::new();
        }
        let encoded: Vec<String> = pairs.iter().map(|(n, v)| format!("{}={}", encode(n), encode(v))).collect();
        format!("?{}", encoded.join("&"))
    }
}

/// Splits and percent-decodes `application/x-www-form-urlencoded` text.
fn form_urlencoded_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (n, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(n), decode(v))
        })
        .collect()
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                    (Some(a), Some(b)) => {
                        out.push(a << 4 | b);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Percent-encodes a query component (unreserved characters kept).
#[must_use]
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// The `Vary` of every negotiated answer: `Accept` chooses between HTML and JSON (and, at `/`,
/// the web map), `Accept-Language` the language of titles, `Accept-Encoding` whether it is
/// compressed; a shared cache must key on all three. Named in one field: the compression layer
/// adds its own only when none names `accept-encoding`, and a client reading the first `Vary`
/// field alone must still see it.
pub const VARY_NEGOTIATED: &str = "accept, accept-language, accept-encoding";

/// Representation asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// JSON (GeoJSON for features).
    Json,
    /// Server-rendered HTML.
    Html,
}

impl Format {
    /// The `f` value naming this format.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::Html => "html",
        }
    }
}

/// The format from `f` (wins) or the `Accept` header (HTML when it names `text/html`).
///
/// # Errors
/// [`ApiError::BadParameter`] for an unknown `f`.
pub fn negotiate(pairs: &QueryPairs, headers: &HeaderMap) -> Result<Format, ApiError> {
    if let Some(f) = pairs.get("f") {
        return match f.to_ascii_lowercase().as_str() {
            "json" | "geojson" | "application/json" | "application/geo+json" => Ok(Format::Json),
            "html" | "text/html" => Ok(Format::Html),
            _ => Err(ApiError::bad("f", format!("`{f}` is not a format; use json or html"))),
        };
    }
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
    Ok(if prefers_html(accept) { Format::Html } else { Format::Json })
}

/// Whether an `Accept` header ranks `text/html` above every JSON type.
fn prefers_html(accept: &str) -> bool {
    let mut html = -1.0_f64;
    let mut json = -1.0_f64;
    for (i, item) in accept.split(',').enumerate() {
        let mut parts = item.split(';');
        let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = parts
            .find_map(|p| p.trim().strip_prefix("q=").and_then(|q| q.parse::<f64>().ok()))
            .unwrap_or(1.0);
        // Earlier items win ties.
        #[expect(clippy::cast_precision_loss, reason = "a handful of media ranges")]
        let score = q - i as f64 * 1e-6;
        if media == "text/html" {
            html = html.max(score);
        } else if media.contains("json") {
            json = json.max(score);
        }
    }
    html > 0.0 && html > json
}

/// Language of titles and descriptions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// Chinese.
    Zh,
    /// English.
    En,
}

impl Lang {
    /// From `Accept-Language`: Chinese when its first language is `zh*`, else English.
    #[must_use]
    pub fn from_headers(headers: &HeaderMap) -> Self {
        let first = headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if first.starts_with("zh") { Self::Zh } else { Self::En }
    }

    /// The BCP 47 tag.
    #[must_use]
    pub fn tag(self) -> &'static str {
        match self {
            Self::Zh => "zh",
            Self::En => "en",
        }
    }
}

/// Parses `bbox`: `minx,miny,maxx,maxy` (or six values with heights, which are ignored), in
/// the axis order of its CRS. The corners' order is checked where the axes are known: a west
/// edge east of the east edge crosses the antimeridian.
///
/// # Errors
/// [`ApiError::BadParameter`] naming `param`.
pub fn parse_bbox(param: &str, s: &str) -> Result<[f64; 4], ApiError> {
    let values: Result<Vec<f64>, _> = s.split(',').map(|v| v.trim().parse::<f64>()).collect();
    let usage = "expected four comma-separated numbers minx,miny,maxx,maxy (or six with heights)";
    let values = values.map_err(|_| ApiError::bad(param, format!("`{s}`: {usage}")))?;
    let b = match values.as_slice() {
        [x0, y0, x1, y1] | [x0, y0, _, x1, y1, _] => [*x0, *y0, *x1, *y1],
        _ => return Err(ApiError::bad(param, format!("`{s}`: {usage}"))),
    };
    if b.iter().any(|v| !v.is_finite()) {
        return Err(ApiError::bad(param, format!("`{s}`: coordinates must be finite numbers")));
    }
    Ok(b)
}

/// Parses a non-negative integer parameter.
///
/// # Errors
/// [`ApiError::BadParameter`] naming `param`.
pub fn parse_count(param: &str, s: &str, min: usize) -> Result<usize, ApiError> {
    match s.trim().parse::<usize>() {
        Ok(n) if n >= min => Ok(n),
        _ => Err(ApiError::bad(param, format!("`{s}` is not an integer ≥ {min}"))),
    }
}

/// Parses a year given as parameter `param` (`year`, `from`).
///
/// # Errors
/// [`ApiError::BadParameter`] unless a whole year within 1000..=3000.
pub fn parse_year(param: &str, s: &str) -> Result<i32, ApiError> {
    match s.trim().parse::<i32>() {
        Ok(y) if (1000..=3000).contains(&y) => Ok(y),
        _ => Err(ApiError::bad(param, format!("`{s}` is not a year between 1000 and 3000"))),
    }
}

/// A closed range of years; `None` ends are open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct YearRange {
    /// First year included.
    pub start: Option<i32>,
    /// Last year included.
    pub end: Option<i32>,
}

impl YearRange {
    /// Whether `year` falls in the range (a missing year never does).
    #[must_use]
    pub fn contains(&self, year: Option<i32>) -> bool {
        year.is_some_and(|y| self.start.is_none_or(|s| y >= s) && self.end.is_none_or(|e| y <= e))
    }
}

/// Parses `datetime`: an RFC 3339 date-time or date, or an interval `start/end` with `..` or
/// nothing for an open end. Facilities carry an opening *year*, so instants are compared at
/// year precision: a facility opened in 2015 matches any instant or interval touching 2015.
///
/// # Errors
/// [`ApiError::BadParameter`] naming `datetime` and the accepted forms.
pub fn parse_datetime(s: &str) -> Result<YearRange, ApiError> {
    let usage = "use an RFC 3339 date-time or date (2015-06-01T00:00:00Z, 2015-06-01) or an interval start/end with .. for an open end (2010-01-01/2018-12-31, ../2018-12-31)";
    let bad = || ApiError::bad("datetime", format!("`{s}`: {usage}"));
    let year_of = |part: &str| -> Result<Option<i32>, ApiError> {
        let part = part.trim();
        if part.is_empty() || part == ".." {
            return Ok(None);
        }
        if !is_rfc3339_date_or_time(part) {
            return Err(bad());
        }
        part[..4].parse::<i32>().map(Some).map_err(|_| bad())
    };
    let range = if let Some((from, to)) = s.split_once('/') {
        let r = YearRange { start: year_of(from)?, end: year_of(to)? };
        if r.start.is_none() && r.end.is_none() && !(from.trim() == ".." || to.trim() == "..") {
            return Err(bad());
        }
        r
    } else {
        let y = year_of(s)?.ok_or_else(bad)?;
        YearRange { start: Some(y), end: Some(y) }
    };
    // An interval that ends before it starts is empty, not an error: it matches nothing.
    Ok(range)
}

fn is_rfc3339_date_or_time(s: &str) -> bool {
    let bytes = s.as_bytes();
    let digits = |range: std::ops::Range<usize>| bytes.get(range).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    let date = bytes.len() >= 10 && digits(0..4) && bytes[4] == b'-' && digits(5..7) && bytes[7] == b'-' && digits(8..10);
    if !date {
        return false;
    }
    let month: u32 = s[5..7].parse().unwrap_or(0);
    let day: u32 = s[8..10].parse().unwrap_or(0);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return false;
    }
    if bytes.len() == 10 {
        return true;
    }
    matches!(bytes[10], b'T' | b't' | b' ')
        && bytes.len() >= 19
        && digits(11..13)
        && bytes[13] == b':'
        && digits(14..16)
        && bytes[16] == b':'
        && digits(17..19)
        && (s.ends_with('Z') || s.ends_with('z') || s[19..].contains(['+', '-']))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_are_decoded_and_unique() {
        let q = QueryPairs::parse(Some("a=1&b=%E5%B0%8F+%3D")).expect("valid");
        assert_eq!(q.get("b"), Some("小 ="));
        assert!(QueryPairs::parse(Some("a=1&a=2")).is_err());
        assert_eq!(q.with(&[("a", None), ("c", Some("x y"))]), "?b=%E5%B0%8F%20%3D&c=x%20y");
    }

    #[test]
    fn datetimes() {
        assert_eq!(parse_datetime("2015-06-01T00:00:00Z").expect("instant"), YearRange { start: Some(2015), end: Some(2015) });
        assert_eq!(parse_datetime("../2018-12-31").expect("open"), YearRange { start: None, end: Some(2018) });
        assert_eq!(parse_datetime("2010-01-01/").expect("open"), YearRange { start: Some(2010), end: None });
        assert!(parse_datetime("2015").is_err());
        let reversed = parse_datetime("2019-01-01/2018-01-01").expect("empty interval");
        assert!((2000..2030).all(|y| !reversed.contains(Some(y))));
        assert!(parse_datetime("yesterday").is_err());
    }

    #[test]
    fn accept_headers() {
        assert!(prefers_html("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"));
        assert!(!prefers_html("application/geo+json, application/json"));
        assert!(!prefers_html("application/json, text/html"));
        assert!(!prefers_html(""));
    }
}
