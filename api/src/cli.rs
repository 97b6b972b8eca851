//! Operator commands of the `api` binary.

use std::io::BufRead;

use anyhow::Context;
use clap::{Parser, Subcommand};
use shared::{
    Config,
    domain::{Email, Password, PersonName, Role, ValidationErrors},
    password,
    users::{self, NewUser, UserChanges},
};

#[derive(Parser)]
#[command(name = "api", about = "Airbnb clone HTTP API", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand)]
pub enum Command {
    /// Serve the HTTP API (the default).
    Serve,
    /// Create an admin account, or make an existing account an admin.
    /// The password is read from ADMIN_PASSWORD or, if unset, from the
    /// first line of standard input.
    CreateAdmin {
        #[arg(long)]
        email: String,
        #[arg(long, default_value = "Admin")]
        first_name: String,
        #[arg(long, default_value = "User")]
        last_name: String,
    },
    /// Apply pending database migrations and exit.
    Migrate,
    /// Print the OpenAPI document (to regenerate openapi/openapi.json).
    Openapi,
    /// Print the GraphQL schema (to regenerate openapi/schema.graphql).
    GraphqlSchema,
}

/// Creates the admin `email`, or promotes the existing account.
pub async fn create_admin(config: Config, email: &str, first_name: &str, last_name: &str) -> anyhow::Result<()> {
    let db = shared::db::pool(&config)?;
    shared::db::migrate(&db).await?;
    let email = Email::parse(email).map_err(|e| anyhow::anyhow!("--email {e}"))?;
    let mut tx = db.begin().await?;
    if let Some(existing) = users::credentials_by_email(&mut *tx, &email).await?.filter(|c| c.password_hash.is_some()) {
        let changes = UserChanges { role: Some(Role::Admin), ..UserChanges::default() };
        users::update(&mut tx, existing.id, &changes).await?;
        tx.commit().await?;
        println!("{email} ({}) is now an admin", existing.id);
        return Ok(());
    }
    let raw_password = match std::env::var("ADMIN_PASSWORD") {
        Ok(password) => password,
        Err(_) => {
            eprintln!("Password for {email} (one line on standard input):");
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line).context("reading the password")?;
            line.trim_end_matches(['\r', '\n']).to_owned()
        }
    };
    let mut errors = ValidationErrors::new();
    let password = errors.check("password", Password::parse_new(raw_password));
    let first_name = errors.check("--first-name", PersonName::parse(first_name));
    let last_name = errors.check("--last-name", PersonName::parse(last_name));
    if let Err(errors) = errors.into_result() {
        let problems: Vec<String> = errors.0.iter().map(|e| format!("{} {}", e.field, e.message)).collect();
        anyhow::bail!("{}", problems.join("; "));
    }
    let user = NewUser {
        email,
        password_hash: password::hash(password.expect("checked")).await?,
        first_name: first_name.expect("checked"),
        last_name: last_name.expect("checked"),
        phone_number: None,
        role: Role::Admin,
    };
    let created = users::insert(&mut tx, &user).await?;
    tx.commit().await?;
    println!("created admin {} ({})", created.email, created.id);
    Ok(())
}
