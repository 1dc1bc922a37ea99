//! Opening a connection: the URI's settings, the password look-up, TLS as far as supported.

use postgres::{Client, NoTls};

use super::uri::{PgUri, SslMode};

/// Connects to the database `uri` names.
///
/// # Errors
/// A message (never containing the password) when the URI asks for TLS, which gapmap does not
/// support yet, or when the server cannot be reached or refuses the login.
pub fn connect(uri: &PgUri) -> Result<Client, String> {
    if uri.ssl == SslMode::Required {
        return Err(
            "sslmode=require (or verify-ca/verify-full) is not supported yet: gapmap connects without TLS; \
             use sslmode=disable or prefer on a trusted network, or reach the server through an SSH tunnel"
                .to_owned(),
        );
    }
    let mut config = uri.config();
    // `prefer` ends up plain too: no TLS connector is linked in.
    config.ssl_mode(postgres::config::SslMode::Disable);
    config.connect(NoTls).map_err(|e| {
        let mut message = format!("cannot connect as {} to {}:{}/{}: {}", uri.user, uri.host, uri.port, uri.dbname, super::describe(&e));
        if message.contains("password") && uri.password().is_none() {
            message.push_str("; give the password in PGPASSWORD or ~/.pgpass (or in the URI)");
        }
        message
    })
}
