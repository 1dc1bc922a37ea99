//! `gapmap db init`: prepares a PostgreSQL database for gapmap, printing every statement it runs.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::{bail, Context as _};
use clap::{Args, Subcommand};

use crate::config::Config;
use crate::io::postgis::{self, PgUri, Selection};

pub(super) const HELP: &str = "\
`gapmap db init` installs, on each source table, a statement-level trigger that sends
NOTIFY <channel> (payload: schema.table) after every INSERT, UPDATE, DELETE or TRUNCATE, so that
a server can reload when the data change instead of polling. It is idempotent (CREATE OR
REPLACE), runs in one transaction per URI and prints the SQL first. The role needs to own the
tables (or have TRIGGER on them) and may create a function in `public`.

Examples:
  gapmap db init 'postgresql://planner@db/city?table=plan.estates' 'postgresql://planner@db/city?table=plan.pois'
  gapmap db init --config city.toml          # every table= source of the config
  gapmap db init --config city.toml --dry-run";

/// Options of `gapmap db`.
#[derive(Debug, Args)]
pub struct DbArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: DbCommand,
}

/// `gapmap db` subcommands.
#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Install NOTIFY triggers on the source tables (idempotent; prints the SQL it runs).
    #[command(after_help = HELP)]
    Init(DbInitArgs),
}

/// Options of `gapmap db init`.
#[derive(Debug, Args)]
pub struct DbInitArgs {
    /// Source tables as PostgreSQL URIs with `?table=schema.name`.
    #[arg(value_name = "URI")]
    pub uris: Vec<PathBuf>,
    /// Also every PostgreSQL source (`table=`) of this config: estates, facilities, planned.
    #[arg(long, env = "GAPMAP_CONFIG")]
    pub config: Option<PathBuf>,
    /// The NOTIFY channel.
    #[arg(long, env = "GAPMAP_DB_CHANNEL", default_value = postgis::DEFAULT_CHANNEL)]
    pub channel: String,
    /// Print the SQL without running it.
    #[arg(long)]
    pub dry_run: bool,
}

/// `(schema, table)`: a table as `table=` names it.
type QualifiedName = (Option<String>, String);

/// Runs `gapmap db …`.
pub(super) fn run(args: &DbArgs) -> anyhow::Result<()> {
    match &args.command {
        DbCommand::Init(init) => run_init(init),
    }
}

fn run_init(args: &DbInitArgs) -> anyhow::Result<()> {
    let mut paths = args.uris.clone();
    if let Some(file) = &args.config {
        let config = Config::from_file(file)?;
        let sources = config.estates.iter().chain(&config.facilities).chain(&config.planned);
        paths.extend(sources.filter(|s| postgis::is_uri(&s.path)).map(|s| s.path.clone()));
    }
    if paths.is_empty() {
        bail!("no tables: pass source URIs (postgresql://…?table=schema.name) or --config with PostgreSQL sources");
    }
    if args.channel.is_empty() || args.channel.len() > 63 {
        bail!("--channel `{}`: a channel name has 1 to 63 bytes", args.channel);
    }
    // One transaction per database (same host, port, database and user), all its tables at once.
    let mut groups: Vec<(PgUri, Vec<QualifiedName>)> = Vec::new();
    for path in &paths {
        let shown = postgis::redact_path(path);
        let uri = PgUri::parse(&path.to_string_lossy()).map_err(anyhow::Error::msg)?;
        let table = match &uri.selection {
            Some(Selection::Table { schema, name, .. }) => (schema.clone(), name.clone()),
            Some(Selection::Query(_)) => bail!("{}: a trigger goes on a table; name it with ?table=schema.name instead of query=", shown.display()),
            None => bail!("{}: name the table with ?table=schema.name", shown.display()),
        };
        let same_database = |u: &PgUri| (u.host.as_str(), u.port, u.dbname.as_str(), u.user.as_str()) == (uri.host.as_str(), uri.port, uri.dbname.as_str(), uri.user.as_str());
        match groups.iter_mut().find(|(u, _)| same_database(u)) {
            Some((_, tables)) if tables.contains(&table) => {}
            Some((_, tables)) => tables.push(table),
            None => groups.push((uri, vec![table])),
        }
    }
    let mut stdout = std::io::stdout().lock();
    for (uri, tables) in &groups {
        let statements = postgis::notify_sql(tables, &args.channel);
        writeln!(stdout, "-- {uri}")?;
        for sql in &statements {
            writeln!(stdout, "{sql};")?;
        }
        stdout.flush()?;
        if args.dry_run {
            continue;
        }
        let mut client = postgis::connect(uri).map_err(|m| anyhow::anyhow!("{uri}: {m}"))?;
        let mut tx = client.transaction().with_context(|| format!("{uri}: starting a transaction"))?;
        for sql in &statements {
            tx.batch_execute(sql).map_err(|e| anyhow::anyhow!("{uri}: {} (running: {})", postgis::describe(&e), sql.lines().next().unwrap_or(sql)))?;
        }
        tx.commit().with_context(|| format!("{uri}: committing"))?;
        eprintln!("{uri}: NOTIFY {} installed on {} table(s)", args.channel, tables.len());
    }
    Ok(())
}
