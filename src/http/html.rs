//! Server-rendered HTML: plain pages with links and tables, no scripts. Every piece of text
//! that comes from data or the request goes through [`escape`].

use std::fmt::Write as _;

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};

/// Escapes text for HTML element content and quoted attribute values.
#[must_use]
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A whole page around `body` (already escaped HTML).
#[must_use]
pub fn page(title: &str, lang: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"{lang}\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{t} – gapmap</title><style>body{{font-family:system-ui,sans-serif;margin:1.5em;max-width:100%}}table{{border-collapse:collapse;font-size:0.85em}}\
td,th{{border:1px solid #ccc;padding:2px 6px;text-align:left;vertical-align:top}}th{{background:#f3f3f3}}code{{background:#f6f6f6}}nav a{{margin-right:1em}}</style></head>\
<body><nav><a href=\"{home}?f=html\">gapmap</a><a href=\"{home}map\">map 地图</a><a href=\"{home}collections?f=html\">collections</a><a href=\"{home}api?f=html\">API</a><a href=\"{home}conformance?f=html\">conformance</a></nav>\
<h1>{t}</h1>\n{body}\n</body></html>\n",
        t = escape(title),
        // A browser's `/` is the web map: the landing page is `/?f=html`, the map `/map`.
        home = "/",
    )
}

/// A list of links: `(href, text)`.
#[must_use]
pub fn link_list(links: &[(String, String)]) -> String {
    let mut s = String::from("<ul>");
    for (href, text) in links {
        let _ = write!(s, "<li><a href=\"{}\">{}</a></li>", escape(href), escape(text));
    }
    s.push_str("</ul>");
    s
}

/// A table: header cells and rows of already-escaped cell HTML.
#[must_use]
pub fn table(headers: &[String], rows: &[Vec<String>]) -> String {
    let mut s = String::from("<table><thead><tr>");
    for h in headers {
        let _ = write!(s, "<th>{}</th>", escape(h));
    }
    s.push_str("</tr></thead><tbody>");
    for row in rows {
        s.push_str("<tr>");
        for cell in row {
            let _ = write!(s, "<td>{cell}</td>");
        }
        s.push_str("</tr>");
    }
    s.push_str("</tbody></table>");
    s
}

/// A key/value definition table of already-escaped values.
#[must_use]
pub fn definitions(rows: &[(&str, String)]) -> String {
    let mut s = String::from("<table>");
    for (k, v) in rows {
        let _ = write!(s, "<tr><th>{}</th><td>{v}</td></tr>", escape(k));
    }
    s.push_str("</table>");
    s
}

/// An HTML response (negotiated, so it varies on `Accept`).
#[must_use]
pub fn response(html: String) -> Response {
    (
        [(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8")), (header::VARY, HeaderValue::from_static(super::params::VARY_NEGOTIATED))],
        html,
    )
        .into_response()
}
