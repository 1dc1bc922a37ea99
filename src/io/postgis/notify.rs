//! `gapmap db init`: statement-level triggers that `NOTIFY` a channel whenever a source table
//! changes, so that a running server can reload (LISTEN) instead of polling.
//!
//! One trigger function, `public.gapmap_notify_changed()`, serves every table (a copy per
//! schema would have to be kept in step), taking the channel as its argument; `CREATE OR
//! REPLACE` (PostgreSQL 14+) keeps every statement idempotent. The payload is the changed
//! table's `schema.name`, so a listener can tell its sources apart.

use super::{quote_ident, quote_qualified};

/// The channel `gapmap db init` notifies and `gapmap serve` will listen on.
pub const DEFAULT_CHANNEL: &str = "gapmap_changed";

/// The statements that install (or re-install, unchanged) the notify trigger on each table, in
/// the order to run them: the trigger function first, then one trigger per table.
///
/// `tables` are `(schema, name)` pairs; `channel` is the `NOTIFY` channel.
#[must_use]
pub fn notify_sql(tables: &[(Option<String>, String)], channel: &str) -> Vec<String> {
    let function = format!("{}.{}", quote_ident("public"), quote_ident("gapmap_notify_changed"));
    let mut statements = vec![format!(
        "CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $gapmap$\n\
         BEGIN\n  PERFORM pg_notify(TG_ARGV[0], TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME);\n  RETURN NULL;\nEND\n$gapmap$"
    )];
    for (schema, name) in tables {
        statements.push(format!(
            "CREATE OR REPLACE TRIGGER {trigger} AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} \
             FOR EACH STATEMENT EXECUTE FUNCTION {function}({channel_literal})",
            trigger = quote_ident("gapmap_notify_changed"),
            table = quote_qualified(schema.as_deref(), name),
            channel_literal = sql_literal(channel),
        ));
    }
    statements
}

/// An SQL string literal.
fn sql_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_function_then_one_idempotent_trigger_per_table() {
        let sql = notify_sql(&[(Some("plan".into()), "estates".into()), (None, "pois".into())], "gapmap_changed");
        assert_eq!(sql.len(), 3);
        assert!(sql[0].starts_with("CREATE OR REPLACE FUNCTION \"public\".\"gapmap_notify_changed\"()"));
        assert!(sql[1].contains("ON \"plan\".\"estates\" FOR EACH STATEMENT") && sql[1].starts_with("CREATE OR REPLACE TRIGGER"));
        assert!(sql[2].contains("ON \"pois\"") && sql[2].ends_with("('gapmap_changed')"));
    }
}
