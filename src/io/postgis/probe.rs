//! Polling a source for changes where the `gapmap db init` triggers are not allowed: a cheap
//! query whose answer (a fingerprint) changes whenever what the source reads may have changed.
//!
//! - **Tables** (ordinary, partitioned, materialised views) are fingerprinted from the system
//!   columns, without reading the rows' values: `count(*)`, the sum of the rows' `xmin` (the
//!   transaction that wrote each row version) and the table's file node. An INSERT adds a row
//!   and its `xmin`; an UPDATE gives the row a new version whose `xmin` is the updating
//!   transaction's, which differs from the old one; a DELETE removes a row and its `xmin`;
//!   TRUNCATE, VACUUM FULL, CLUSTER and REFRESH write a new file node. Rolled-back transactions
//!   change nothing visible, so they change nothing here either. The whole table is counted,
//!   not only the rows `where=` keeps: a change outside the filter costs one reload that finds
//!   the same content (and keeps the data version). One sequential scan of the table, reading no
//!   column (about as much work as `count(*)`).
//! - **Views, foreign tables and `query=` sources** have no such columns; they are fingerprinted
//!   by their content, `count(*)` and the MD5 of every row's text in the order the source
//!   gives them: the whole query runs on the server at each poll (set `serve.poll_interval_s`
//!   accordingly, or put the triggers on the tables underneath and turn polling off).
//!
//! Whether a table has the trigger (`gapmap_notify_changed`, enabled) is read from `pg_trigger`,
//! so that `gapmap serve --watch` polls only what it cannot listen to.

use postgres::Client;

use super::uri::{PgUri, Selection};
use super::{describe, quote_qualified};

/// The trigger `gapmap db init` installs.
pub const TRIGGER_NAME: &str = "gapmap_notify_changed";

/// How one source is polled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeProbe {
    /// The source as messages name it (`schema.table` or `query`).
    pub source: String,
    /// Whether the source is a table carrying an enabled `gapmap_notify_changed` trigger.
    pub has_trigger: bool,
    /// Whether the fingerprint reads the rows' content (views, queries) rather than the table's
    /// system columns.
    pub reads_content: bool,
    /// The fingerprinting statement.
    sql: String,
}

impl ChangeProbe {
    /// Looks the source up in the catalogue and chooses its fingerprint.
    ///
    /// # Errors
    /// A message naming the source when it has no `table=`/`query=`, the table does not exist, or
    /// the catalogue cannot be read.
    pub fn prepare(client: &mut Client, uri: &PgUri) -> Result<Self, String> {
        let fail = |m: String| format!("{}: {m}", uri.shown);
        match uri.selection.as_ref().ok_or_else(|| fail("no table= or query=".to_owned()))? {
            Selection::Table { schema, name, filter } => {
                let from = quote_qualified(schema.as_deref(), name);
                let source = schema.as_ref().map_or_else(|| name.clone(), |s| format!("{s}.{name}"));
                let row = client
                    .query_opt(
                        "SELECT c.relkind::text, EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = c.oid AND t.tgname = $2 AND t.tgenabled <> 'D') \
                         FROM pg_class c WHERE c.oid = to_regclass($1)",
                        &[&from, &TRIGGER_NAME],
                    )
                    .map_err(|e| fail(describe(&e)))?
                    .ok_or_else(|| fail(format!("no table or view {source}")))?;
                let (relkind, has_trigger): (String, bool) = (row.get(0), row.get(1));
                if matches!(relkind.as_str(), "r" | "p" | "m") {
                    let literal = format!("'{}'", from.replace('\'', "''"));
                    let sql = format!(
                        "SELECT count(*)::text || ':' || coalesce(sum(xmin::text::bigint), 0)::text || ':' || coalesce(pg_relation_filenode({literal}::regclass)::text, '') FROM {from}"
                    );
                    Ok(Self { source, has_trigger, reads_content: false, sql })
                } else {
                    let inner = match filter {
                        Some(f) => format!("SELECT * FROM {from} WHERE {f}"),
                        None => format!("SELECT * FROM {from}"),
                    };
                    Ok(Self { source, has_trigger, reads_content: true, sql: content_sql(&inner) })
                }
            }
            Selection::Query(q) => Ok(Self { source: "query".to_owned(), has_trigger: false, reads_content: true, sql: content_sql(q.trim().trim_end_matches(';')) }),
        }
    }

    /// A placeholder for a source that could not be looked at yet; [`Self::is_unprepared`]
    /// says to [`Self::prepare`] it first.
    #[must_use]
    pub fn unprepared() -> Self {
        Self { source: String::new(), has_trigger: false, reads_content: false, sql: String::new() }
    }

    /// Whether this is [`Self::unprepared`].
    #[must_use]
    pub fn is_unprepared(&self) -> bool {
        self.sql.is_empty()
    }

    /// The source's fingerprint now: equal fingerprints mean nothing the source reads changed
    /// (for tables: no row was written, deleted or moved).
    ///
    /// # Errors
    /// The server's message.
    pub fn fingerprint(&self, client: &mut Client) -> Result<String, String> {
        let row = client.query_one(&self.sql, &[]).map_err(|e| describe(&e))?;
        Ok(row.get::<_, Option<String>>(0).unwrap_or_default())
    }
}

/// The content fingerprint of a query's rows, in the order it gives them.
fn content_sql(inner: &str) -> String {
    format!("SELECT count(*)::text || ':' || coalesce(md5(string_agg(md5(gapmap_probe::text), '')), '') FROM ({inner}) AS gapmap_probe")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_fingerprints_wrap_the_query() {
        let sql = content_sql("SELECT * FROM pois WHERE open");
        assert!(sql.starts_with("SELECT count(*)::text") && sql.ends_with("FROM (SELECT * FROM pois WHERE open) AS gapmap_probe"), "{sql}");
    }
}
