//! PostgreSQL/PostGIS as a source and a sink.
//!
//! Any input path may be a URI, `postgresql://user@host:port/db?table=schema.name` (optional
//! `&geometry=col`, `&where=condition`) or `?query=SELECT …`: [`PostgisSource`] reads it as
//! [`RawFeature`](super::RawFeature)s, which then go through the same field mapping, filters,
//! CRS handling and load report as a file's features. `analyze --out postgresql://…?table=s.t`
//! writes the results with [`write_results`]: three tables replaced in one transaction.
//! [`notify_sql`] is what `gapmap db init` installs so that a server can reload on changes;
//! [`ChangeProbe`] polls a source where such triggers are not allowed.
//!
//! The driver is the `postgres` crate (pure Rust, synchronous over its own small tokio runtime),
//! chosen over GDAL's PostgreSQL driver for a portal that streams rows and binary `COPY` on
//! writing, and over `tokio-postgres` because loading is synchronous everywhere else.
//!
//! Passwords come from the URI, `PGPASSWORD` or `~/.pgpass` ([`PgUri::password`]) and never
//! appear in messages: every URI shown goes through [`redact`].

mod connect;
mod notify;
mod probe;
mod read;
pub mod uri;
mod write;

pub use connect::connect;
pub use notify::{notify_sql, DEFAULT_CHANNEL};
pub use probe::{ChangeProbe, TRIGGER_NAME};
pub use read::{PostgisSource, BATCH_ROWS};
pub use uri::{is_uri, redact, redact_path, PgUri, Selection};
pub use write::{check_target, write_plan, write_results, WrittenPlan, WrittenTables};

/// An SQL identifier, double-quoted with inner quotes doubled.
#[must_use]
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `"schema"."name"`, or `"name"` without a schema.
#[must_use]
pub fn quote_qualified(schema: Option<&str>, name: &str) -> String {
    match schema {
        Some(s) => format!("{}.{}", quote_ident(s), quote_ident(name)),
        None => quote_ident(name),
    }
}

/// A driver error in words: the server's message with its detail and hint, or the driver's.
#[must_use]
pub fn describe(e: &postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        let mut s = db.message().to_owned();
        if let Some(d) = db.detail() {
            s.push_str(" (");
            s.push_str(d);
            s.push(')');
        }
        if let Some(h) = db.hint() {
            s.push_str("; hint: ");
            s.push_str(h);
        }
        return s;
    }
    // The driver's own errors put the useful part in the source ("invalid configuration":
    // "password missing").
    let mut s = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        s.push_str(": ");
        s.push_str(&cause.to_string());
        source = cause.source();
    }
    redact(&s).into_owned()
}
