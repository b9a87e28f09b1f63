//! The command line: serve, migrate, print-schema, users, dynamodb, audit,
//! documents.

use clap::{Parser, Subcommand};
use sea_orm::ActiveEnum;
use secrecy::ExposeSecret;

use crate::{
    auth::{self, Role},
    cache::{Cache, redis_client},
    config::Config,
    db,
    startup::Application,
};

#[derive(Parser)]
#[command(
    name = "paygraph",
    version,
    about = "The paygraph GraphQL payments backend"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (the default).
    Serve,
    /// Apply pending database migrations.
    Migrate,
    /// Print the GraphQL schema (SDL).
    PrintSchema,
    /// Manage users.
    Users {
        #[command(subcommand)]
        command: UsersCommand,
    },
    /// DynamoDB tables for the audit store.
    Dynamodb {
        #[command(subcommand)]
        command: DynamodbCommand,
    },
    /// The audit relay's outbox.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Trusted documents (PAYGRAPH_TRUSTED_DOCUMENTS).
    Documents {
        #[command(subcommand)]
        command: DocumentsCommand,
    },
}

#[derive(Subcommand)]
enum DocumentsCommand {
    /// Check a persisted-query manifest before it ships: each operation
    /// against the schema and the query limits (PAYGRAPH_MAX_* as set),
    /// one line each with its complexity and depth; exits non-zero when
    /// the manifest does not read or an operation would be refused.
    Check { manifest: std::path::PathBuf },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Audit events the relay gave up on after PAYGRAPH_AUDIT_RELAY_MAX_ATTEMPTS
    /// failed deliveries.
    DeadLetters {
        #[command(subcommand)]
        command: DeadLettersCommand,
    },
}

#[derive(Subcommand)]
enum DeadLettersCommand {
    /// One line per dead letter: event id, attempts, when it was given up
    /// on, service and event type, last error.
    List,
    /// Put dead letters back in the outbox, to be delivered again (once
    /// each), e.g. `paygraph audit dead-letters requeue --all`.
    #[command(group(clap::ArgGroup::new("which").required(true).args(["id", "all"])))]
    Requeue {
        /// The event id of one dead letter.
        id: Option<uuid::Uuid>,
        /// Every dead letter.
        #[arg(long)]
        all: bool,
    },
}

#[derive(Subcommand)]
enum UsersCommand {
    /// Give a user a role, e.g. `paygraph users grant-role ann@example.com support`.
    GrantRole { email: String, role: String },
    /// Take a role away.
    RevokeRole { email: String, role: String },
}

#[derive(Subcommand)]
enum DynamodbCommand {
    /// Print the table definitions the service uses, as JSON.
    DescribeTables,
    /// Create the tables (with DYNAMODB_TABLE_PREFIX) where missing, against
    /// the configured endpoint; tables that exist are left as they are.
    CreateTables,
}

impl Cli {
    /// Whether the command serves the API: its configuration is read
    /// before the runtime is built, since it decides how the runtime's
    /// threads are scheduled.
    pub fn serves(&self) -> bool {
        matches!(self.command, None | Some(Command::Serve))
    }
}

/// Serves the API until a shutdown signal.
pub async fn serve(config: Config) -> Result<(), String> {
    crate::telemetry::init(&config.server.log);
    let app = Application::build(config)
        .await
        .map_err(|e| e.to_string())?;
    app.run_until_stopped()
        .await
        .map_err(|e| format!("server error: {e}"))
}

/// Runs the command; an error is one line for the operator.
pub async fn run(cli: Cli) -> Result<(), String> {
    match cli.command.unwrap_or(Command::Serve) {
        Command::PrintSchema => {
            print!("{}", crate::graphql::sdl());
            Ok(())
        }
        Command::Dynamodb {
            command: DynamodbCommand::DescribeTables,
        } => {
            let text =
                serde_json::to_string_pretty(&crate::audit::tables::describe()).expect("json");
            println!("{text}");
            Ok(())
        }
        Command::Dynamodb {
            command: DynamodbCommand::CreateTables,
        } => create_dynamodb_tables(&Config::from_env()?).await,
        Command::Documents {
            command: DocumentsCommand::Check { manifest },
        } => {
            let config = Config::from_env()?;
            check_documents(&config, &manifest).await
        }
        Command::Serve => serve(Config::from_env()?).await,
        Command::Migrate => migrate(&Config::from_env()?).await,
        Command::Audit {
            command: AuditCommand::DeadLetters { command },
        } => {
            let config = Config::from_env()?;
            let conn = connect_migrated(&config).await?;
            dead_letters(&conn, command).await
        }
        Command::Users { command } => change_role(&Config::from_env()?, command).await,
    }
}

/// `dynamodb create-tables`.
async fn create_dynamodb_tables(config: &Config) -> Result<(), String> {
    let client = crate::audit::dynamodb::client(config).await;
    let created =
        crate::audit::dynamodb::create_tables(&client, &config.audit.dynamodb.table_prefix)
            .await
            .map_err(|e| format!("cannot create the DynamoDB tables: {e}"))?;
    if created.is_empty() {
        println!("the DynamoDB tables exist already");
    } else {
        println!("created {}", created.join(", "));
    }
    Ok(())
}

/// `migrate`.
async fn migrate(config: &Config) -> Result<(), String> {
    let conn = db::connect(config)
        .await
        .map_err(|e| format!("cannot connect to the database: {e}"))?;
    db::migrate(&conn)
        .await
        .map_err(|e| format!("migration failed: {e}"))?;
    println!("migrations applied");
    Ok(())
}

/// `users grant-role` and `users revoke-role`.
async fn change_role(config: &Config, command: UsersCommand) -> Result<(), String> {
    let conn = connect_migrated(config).await?;
    let (email, role, grant) = match command {
        UsersCommand::GrantRole { email, role } => (email, role, true),
        UsersCommand::RevokeRole { email, role } => (email, role, false),
    };
    let role = Role::try_from_value(&role.to_ascii_lowercase())
        .map_err(|_| format!("unknown role {role:?}: expected customer or support"))?;
    let result = if grant {
        auth::grant_role(&conn, &email, role).await
    } else {
        auth::revoke_role(&conn, &email, role).await
    };
    let user_id = result.map_err(|e| e.to_string())?;
    // Servers read roles from the shared cache: rewrite the user's entry
    // there, or the change would wait for it to expire.
    if let Some(url) = &config.redis.url {
        refresh_standing(config, url.expose_secret(), &conn, user_id).await?;
    }
    println!(
        "{} role {} for {email}",
        if grant { "granted" } else { "revoked" },
        role.to_value()
    );
    Ok(())
}

/// Rewrites the user's standing in the Redis at `url`.
async fn refresh_standing(
    config: &Config,
    url: &str,
    conn: &sea_orm::DatabaseConnection,
    user_id: uuid::Uuid,
) -> Result<(), String> {
    let unreachable = |e| format!("the role is changed, but Redis is unreachable: {e}");
    let limits = crate::startup::redis_limits(config);
    let client = redis_client::RedisClient::open(
        url,
        config.redis.tls_ca_file.as_deref(),
        config.redis.cluster,
    )
    .map_err(unreachable)?;
    let cache = Cache::redis(client, 1, &config.redis.key_prefix, limits)
        .await
        .map_err(unreachable)?;
    auth::Standings::new(cache)
        .refresh(conn, user_id)
        .await
        .map_err(|e| format!("the role is changed, but not yet seen by sessions: {e}"))
}

/// The database, migrated when it is the embedded one (which migrates
/// itself wherever it is opened).
async fn connect_migrated(config: &Config) -> Result<sea_orm::DatabaseConnection, String> {
    let conn = db::connect(config)
        .await
        .map_err(|e| format!("cannot connect to the database: {e}"))?;
    if config.is_sqlite() {
        db::migrate(&conn)
            .await
            .map_err(|e| format!("migration failed: {e}"))?;
    }
    Ok(conn)
}

async fn dead_letters(
    conn: &sea_orm::DatabaseConnection,
    command: DeadLettersCommand,
) -> Result<(), String> {
    use crate::audit::dead_letters::{self, Which};
    match command {
        DeadLettersCommand::List => {
            let letters = dead_letters::list(conn)
                .await
                .map_err(|e| format!("cannot read the dead letters: {e}"))?;
            if letters.is_empty() {
                println!("no dead letters");
            }
            for l in letters {
                // One line each: the error's own line breaks are flattened.
                let error = l
                    .last_error
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ");
                println!(
                    "{}\t{} attempts\t{}\t{}/{}\t{error}",
                    l.event_id,
                    l.attempts,
                    l.dead_lettered_at
                        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    l.service_name,
                    l.event_type,
                );
            }
            Ok(())
        }
        DeadLettersCommand::Requeue { id, all } => {
            let which = match id {
                Some(id) if !all => Which::One(id),
                _ => Which::All,
            };
            let moved = dead_letters::requeue(conn, which)
                .await
                .map_err(|e| format!("cannot requeue: {e}"))?;
            if let (Which::One(id), 0) = (which, moved) {
                return Err(format!("no dead letter {id}"));
            }
            println!("requeued {moved}");
            Ok(())
        }
    }
}

/// Prints each operation of the manifest with its cost, or why the server
/// would refuse it.
async fn check_documents(config: &Config, path: &std::path::Path) -> Result<(), String> {
    use crate::graphql::{Limits, cost, trusted_documents::TrustedDocuments};
    let documents = TrustedDocuments::load(path, false)?;
    let limits = Limits::from(config);
    let operations = documents.operations();
    let mut refused = 0;
    for op in operations {
        let checked = cost::check(limits, &op.body).await;
        let cost = match checked.cost {
            Some(c) => format!(
                "complexity {}/{}\tdepth {}/{}",
                c.complexity, limits.max_complexity, c.depth, limits.max_depth
            ),
            None => "-\t-".to_owned(),
        };
        let verdict = if checked.errors.is_empty() {
            "ok".to_owned()
        } else {
            refused += 1;
            format!("REFUSED: {}", checked.errors.join("; "))
        };
        println!("{}\t{} {}\t{cost}\t{verdict}", op.id, op.kind, op.name);
    }
    if refused > 0 {
        return Err(format!(
            "{refused} of {} operations in {} would be refused",
            operations.len(),
            path.display()
        ));
    }
    println!("{} operations, all valid", operations.len());
    Ok(())
}
