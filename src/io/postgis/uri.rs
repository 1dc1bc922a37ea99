//! PostgreSQL URIs as gapmap takes them: `postgresql://user[:password]@host[:port]/db?table=…`
//! (or `?query=SELECT …`), their redaction for messages, and the password look-up.
//!
//! Parsed by hand rather than with a URL crate: the parts are few (libpq's URI form minus
//! multiple hosts), and the query values (`where=`, `query=`) are SQL that must come through
//! exactly as percent-decoded, with no form-encoding rules (`+` stays `+`).

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use percent_encoding::percent_decode_str;

pub use crate::config::is_postgres_uri as is_uri;

/// Length of `postgresql://` or `postgres://` at the start of `s` (any case).
fn scheme_len(s: &str) -> Option<usize> {
    ["postgresql://", "postgres://"]
        .into_iter()
        .find(|p| s.len() >= p.len() && s.is_char_boundary(p.len()) && s[..p.len()].eq_ignore_ascii_case(p))
        .map(str::len)
}

/// `text` with the password of every PostgreSQL URI in it replaced by `***`: what every message,
/// report and log line shows instead of the URI as given.
#[must_use]
pub fn redact(text: &str) -> Cow<'_, str> {
    // Most texts name no database: answered without allocating.
    if !text.as_bytes().windows(8).any(|w| w.eq_ignore_ascii_case(b"postgres")) {
        return Cow::Borrowed(text);
    }
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut rest = 0;
    let mut changed = false;
    let mut search = 0;
    while let Some(found) = lower[search..].find("postgres").map(|i| i + search) {
        let Some(scheme) = scheme_len(&text[found..]) else {
            search = found + "postgres".len();
            continue;
        };
        let authority_start = found + scheme;
        let authority_end = text[authority_start..]
            .find(|c: char| c == '/' || c == '?' || c == '#' || c.is_whitespace() || c == '\'' || c == '"')
            .map_or(text.len(), |i| i + authority_start);
        let authority = &text[authority_start..authority_end];
        if let Some(at) = authority.rfind('@') {
            if let Some(colon) = authority[..at].find(':') {
                out.push_str(&text[rest..=authority_start + colon]);
                out.push_str("***");
                rest = authority_start + at;
                changed = true;
            }
        }
        search = authority_end.max(found + scheme);
    }
    if !changed {
        return Cow::Borrowed(text);
    }
    out.push_str(&text[rest..]);
    Cow::Owned(out)
}

/// [`redact`] for a path (a source or output that may be a URI).
#[must_use]
pub fn redact_path(path: &Path) -> PathBuf {
    match path.to_str().map(redact) {
        Some(Cow::Owned(s)) => PathBuf::from(s),
        _ => path.to_owned(),
    }
}

/// What a source URI reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// A table or view: `table=schema.name` (schema optional), with optional `where=`.
    Table {
        /// Schema; `None` follows the search path.
        schema: Option<String>,
        /// Table or view name.
        name: String,
        /// An SQL condition for `WHERE`.
        filter: Option<String>,
    },
    /// `query=SELECT …`: any query returning one geometry column.
    Query(String),
}

/// TLS as the URI asks for it (`sslmode=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    /// `disable`, `allow`, `prefer` (the default): plain connections.
    Plain,
    /// `require`, `verify-ca`, `verify-full`: not supported yet.
    Required,
}

/// A parsed PostgreSQL URI.
#[derive(Clone, PartialEq, Eq)]
pub struct PgUri {
    /// The URI with its password replaced by `***`, for messages.
    pub shown: String,
    /// Host name or address (default `localhost`).
    pub host: String,
    /// Port (default 5432).
    pub port: u16,
    /// User (default: the OS user, as libpq does).
    pub user: String,
    /// Password given in the URI, percent-decoded.
    password: Option<String>,
    /// Database (default: the user name, as libpq does).
    pub dbname: String,
    /// What to read or where to write.
    pub selection: Option<Selection>,
    /// The geometry column (`geometry=`); `None`: the only one.
    pub geometry: Option<String>,
    /// `sslmode=`.
    pub ssl: SslMode,
}

impl std::fmt::Debug for PgUri {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the password, also not in debug output.
        f.write_str(&self.shown)
    }
}

impl std::fmt::Display for PgUri {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.shown)
    }
}

impl PgUri {
    /// Parses a URI; the error says what is wrong, naming the URI without its password.
    ///
    /// # Errors
    /// Not a PostgreSQL URI, a bad port, an unknown parameter, `table=` and `query=` together,
    /// bad percent-encoding.
    pub fn parse(text: &str) -> Result<Self, String> {
        let shown = redact(text).into_owned();
        let fail = |message: String| Err(format!("{shown}: {message}"));
        let Some(prefix) = scheme_len(text) else {
            return fail("not a PostgreSQL URI; write postgresql://user@host:port/database?table=schema.name".to_owned());
        };
        let rest = &text[prefix..];
        let (before_query, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (authority, path) = before_query.split_once('/').unwrap_or((before_query, ""));
        let (userinfo, hostport) = match authority.rfind('@') {
            Some(at) => (Some(&authority[..at]), &authority[at + 1..]),
            None => (None, authority),
        };
        let (user, password) = match userinfo {
            Some(info) => match info.split_once(':') {
                Some((u, p)) => (decode(u, &shown)?, Some(decode(p, &shown)?)),
                None => (decode(info, &shown)?, None),
            },
            None => (String::new(), None),
        };
        let (host, port) = if let Some(bracketed) = hostport.strip_prefix('[') {
            // [IPv6]:port
            let Some((h, after)) = bracketed.split_once(']') else {
                return fail("unclosed `[` in the host".to_owned());
            };
            (h.to_owned(), after.strip_prefix(':').unwrap_or(""))
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (decode(h, &shown)?, p),
                None => (decode(hostport, &shown)?, ""),
            }
        };
        let port = if port.is_empty() {
            5432
        } else {
            match port.parse::<u16>() {
                Ok(p) if p > 0 => p,
                _ => return fail(format!("port `{port}` is not a number between 1 and 65535")),
            }
        };
        let user = if user.is_empty() { os_user() } else { user };
        let dbname = match decode(path, &shown)? {
            d if d.is_empty() => user.clone(),
            d => d,
        };
        let mut uri = Self {
            shown: shown.clone(),
            host: if host.is_empty() { "localhost".to_owned() } else { host },
            port,
            user,
            password,
            dbname,
            selection: None,
            geometry: None,
            ssl: SslMode::Plain,
        };
        let (mut table, mut filter, mut sql) = (None, None, None);
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = decode(value, &shown)?;
            match key {
                "table" => table = Some(value),
                "where" => filter = Some(value),
                "query" => sql = Some(value),
                "geometry" => uri.geometry = Some(value),
                "sslmode" => {
                    uri.ssl = match value.as_str() {
                        "disable" | "allow" | "prefer" => SslMode::Plain,
                        "require" | "verify-ca" | "verify-full" => SslMode::Required,
                        other => return fail(format!("sslmode `{other}` is not one of disable, allow, prefer, require, verify-ca, verify-full")),
                    }
                }
                // Accepted as libpq accepts them; gapmap has no use for them.
                "application_name" | "connect_timeout" => {}
                other => return fail(format!("unknown parameter `{other}`; gapmap takes table, where, query, geometry and sslmode")),
            }
        }
        uri.selection = match (table, sql) {
            (Some(_), Some(_)) => return fail("give either table= or query=, not both".to_owned()),
            (Some(t), None) => {
                if t.trim().is_empty() {
                    return fail("table= is empty".to_owned());
                }
                let (schema, name) = split_qualified(&t);
                Some(Selection::Table { schema, name, filter })
            }
            (None, Some(q)) => {
                if filter.is_some() {
                    return fail("where= goes with table=; put the condition into query=".to_owned());
                }
                if q.trim().is_empty() {
                    return fail("query= is empty".to_owned());
                }
                Some(Selection::Query(q))
            }
            (None, None) => {
                if filter.is_some() {
                    return fail("where= needs table=".to_owned());
                }
                None
            }
        };
        Ok(uri)
    }

    /// The password: from the URI, else `PGPASSWORD`, else the first matching line of
    /// `~/.pgpass` (or `PGPASSFILE`), as libpq looks it up.
    #[must_use]
    pub fn password(&self) -> Option<String> {
        if let Some(p) = &self.password {
            return Some(p.clone());
        }
        // The environment is read here, not in cli/config: it is libpq's convention for opening a
        // connection, and every connection (load, write, db init, serve reload) must follow it.
        if let Some(p) = std::env::var_os("PGPASSWORD") {
            return Some(p.to_string_lossy().into_owned());
        }
        let file = std::env::var_os("PGPASSFILE")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".pgpass")))?;
        let text = std::fs::read_to_string(file).ok()?;
        pgpass_lookup(&text, &self.host, self.port, &self.dbname, &self.user)
    }

    /// The driver's connection settings (password included, never shown).
    #[must_use]
    pub fn config(&self) -> postgres::Config {
        let mut config = postgres::Config::new();
        config.host(&self.host).port(self.port).user(&self.user).dbname(&self.dbname).application_name("gapmap");
        config.connect_timeout(std::time::Duration::from_secs(30));
        if let Some(p) = self.password() {
            config.password(p);
        }
        config
    }
}

/// `schema.name` → (`Some(schema)`, `name`); double quotes keep dots inside names.
fn split_qualified(text: &str) -> (Option<String>, String) {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for c in text.trim().chars() {
        match c {
            '"' => quoted = !quoted,
            '.' if !quoted => parts.push(std::mem::take(&mut current)),
            c => current.push(c),
        }
    }
    parts.push(current);
    let name = parts.pop().unwrap_or_default();
    if parts.is_empty() {
        (None, name)
    } else {
        (Some(parts.join(".")), name)
    }
}

fn decode(text: &str, shown: &str) -> Result<String, String> {
    percent_decode_str(text)
        .decode_utf8()
        .map(Cow::into_owned)
        .map_err(|_| format!("{shown}: `{}` is not valid percent-encoded UTF-8", redact(text)))
}

/// The OS user name (libpq's default user).
fn os_user() -> String {
    // SAFETY: geteuid has no preconditions; getpwuid returns null or a pointer to static storage
    // that is read before any other call could overwrite it.
    let name = unsafe {
        let pw = libc::getpwuid(libc::geteuid());
        if pw.is_null() || (*pw).pw_name.is_null() {
            None
        } else {
            Some(std::ffi::CStr::from_ptr((*pw).pw_name).to_string_lossy().into_owned())
        }
    };
    name.unwrap_or_else(|| "postgres".to_owned())
}

/// The password of the first `host:port:database:user:password` line matching, `*` matching
/// anything; `\:` and `\\` escape as in libpq.
#[must_use]
pub fn pgpass_lookup(text: &str, host: &str, port: u16, dbname: &str, user: &str) -> Option<String> {
    let port = port.to_string();
    text.lines().filter(|l| !l.trim_start().starts_with('#') && !l.trim().is_empty()).find_map(|line| {
        let fields = split_pgpass(line);
        if fields.len() != 5 {
            return None;
        }
        let matches = |field: &str, value: &str| field == "*" || field == value;
        let host_matches = matches(&fields[0], host) || (fields[0] == "localhost" && (host == "127.0.0.1" || host == "::1"));
        (host_matches && matches(&fields[1], &port) && matches(&fields[2], dbname) && matches(&fields[3], user)).then(|| fields[4].clone())
    })
}

fn split_pgpass(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(next) = chars.next() {
                    fields.last_mut().expect("one field at least").push(next);
                }
            }
            ':' if fields.len() < 5 => fields.push(String::new()),
            c => fields.last_mut().expect("one field at least").push(c),
        }
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted_wherever_a_uri_appears() {
        assert_eq!(redact("postgresql://alice:pa%40ss@db:5433/city?table=e"), "postgresql://alice:***@db:5433/city?table=e");
        assert_eq!(redact("cannot read POSTGRES://bob:x@h/d: refused"), "cannot read POSTGRES://bob:***@h/d: refused");
        assert_eq!(redact("two: postgres://a:1@h/d and postgresql://b:2@h/d"), "two: postgres://a:***@h/d and postgresql://b:***@h/d");
        // No password, or no URI: unchanged and not copied.
        assert!(matches!(redact("postgresql://alice@db/city"), Cow::Borrowed(_)));
        assert!(matches!(redact("estates.geojson"), Cow::Borrowed(_)));
        assert!(matches!(redact("postgres is a database"), Cow::Borrowed(_)));
    }

    #[test]
    fn uris_parse_into_their_parts() {
        let uri = PgUri::parse("postgresql://alice:p%3Aw@db.example:5433/city?table=plan.estates&where=district%20%3D%20'A'&geometry=geom").expect("valid");
        assert_eq!((uri.host.as_str(), uri.port, uri.user.as_str(), uri.dbname.as_str()), ("db.example", 5433, "alice", "city"));
        assert_eq!(uri.password.as_deref(), Some("p:w"));
        assert_eq!(
            uri.selection,
            Some(Selection::Table { schema: Some("plan".into()), name: "estates".into(), filter: Some("district = 'A'".into()) })
        );
        assert_eq!(uri.geometry.as_deref(), Some("geom"));
        assert!(!format!("{uri:?} {uri}").contains("p:w"));
        let q = PgUri::parse("postgres://u@h/d?query=SELECT%20*%20FROM%20pois%20WHERE%20a+b%3E1").expect("valid");
        assert_eq!(q.selection, Some(Selection::Query("SELECT * FROM pois WHERE a+b>1".into())));
        assert_eq!(q.port, 5432);
    }

    #[test]
    fn bad_uris_say_what_is_wrong_without_the_password() {
        let e = PgUri::parse("postgresql://u:hunter2@h:99999/d?table=t").expect_err("bad port");
        assert!(e.contains("port `99999`") && !e.contains("hunter2"), "{e}");
        let e = PgUri::parse("postgresql://u:hunter2@h/d?table=t&query=select%201").expect_err("both");
        assert!(e.contains("either table= or query=") && !e.contains("hunter2"), "{e}");
        let e = PgUri::parse("postgresql://h/d?tabel=t").expect_err("typo");
        assert!(e.contains("unknown parameter `tabel`"), "{e}");
        assert_eq!(PgUri::parse("postgresql://h/d?table=t&sslmode=require").expect("parses").ssl, SslMode::Required);
    }

    #[test]
    fn pgpass_lines_match_like_libpq() {
        let file = "# comment\nother:5432:*:alice:wrong\n*:5433:city:alice:right\\:one\nlocalhost:*:*:*:fallback\n";
        assert_eq!(pgpass_lookup(file, "db", 5433, "city", "alice").as_deref(), Some("right:one"));
        assert_eq!(pgpass_lookup(file, "127.0.0.1", 5432, "x", "bob").as_deref(), Some("fallback"));
        assert_eq!(pgpass_lookup(file, "db", 5432, "x", "bob"), None);
    }

    #[test]
    fn qualified_names_split_on_unquoted_dots() {
        assert_eq!(split_qualified("plan.estates"), (Some("plan".into()), "estates".into()));
        assert_eq!(split_qualified("estates"), (None, "estates".into()));
        assert_eq!(split_qualified("\"my.schema\".e"), (Some("my.schema".into()), "e".into()));
    }
}
