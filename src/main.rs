//! `nati-chat`: serve (the default), migrate, account create.
#![forbid(unsafe_code)]

/// See Cargo.toml: an allocator that returns freed memory to the system.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use anyhow::{Context, Result, bail};
use chat_core::AccountRole;
use clap::{Args, Parser, Subcommand};
use nati_chat::config::{FlagOverrides, Settings};
use nati_chat::state::AppState;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "nati-chat",
    version,
    about = "Real-time support chat for Nati Automotive"
)]
struct Cli {
    #[command(flatten)]
    common: Common,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Args)]
struct Common {
    /// Address to listen on [env: NATI_BIND] (default 127.0.0.1:8080).
    #[arg(long, global = true)]
    bind: Option<SocketAddr>,
    /// Directory for the SQLite file [env: NATI_DATA_DIR] (default ./data).
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// Database URL: sqlite://data/nati-chat.db, postgres://... or mysql://... (mariadb://)
    /// [env: NATI_DATABASE_URL].
    #[arg(long, global = true)]
    database_url: Option<String>,
    /// Where accounts live: `own` tables, or the `host` site's tbl_user/tbl_admin/tbl_worker
    /// (MariaDB/MySQL; docs/mariadb.md) [env: NATI_ACCOUNTS] (default own).
    #[arg(long, global = true, value_parser = ["own", "host"])]
    accounts: Option<String>,
    /// A TOML settings file.
    #[arg(long, global = true, env = "NATI_CONFIG")]
    config: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API, the WebSocket stream and the panels (the default).
    Serve {
        /// Seed one admin, two workers and two users (password `demo-password`).
        #[arg(long)]
        demo: bool,
    },
    /// Apply pending database migrations and exit.
    Migrate {
        /// Print the SQL that would run on this database, in order, and run nothing.
        #[arg(long, conflicts_with = "status")]
        print_sql: bool,
        /// List applied and pending migrations, and run nothing.
        #[arg(long, conflicts_with = "print_grants")]
        status: bool,
        /// MariaDB/MySQL: print the GRANT statements the serving account ACCOUNT (such as
        /// 'chat'@'%') needs on this database, and run nothing.
        #[arg(long, value_name = "ACCOUNT", conflicts_with = "print_sql")]
        print_grants: Option<String>,
    },
    /// Manage accounts.
    Account {
        #[command(subcommand)]
        action: AccountCommand,
    },
    /// Server-to-server API keys for the host site's back end (docs/integration.md).
    ApiKey {
        #[command(subcommand)]
        action: ApiKeyCommand,
    },
    /// Check this setup and say what is wrong, in words (database and migrations, an admin,
    /// SMTP, host sign-in and embedding, open-file limit, clock). Changes nothing; exits 1
    /// when something needs fixing.
    Doctor,
    /// SQLite: copy the live database into FILE, consistently, while the server keeps
    /// serving (PostgreSQL and MariaDB: see docs/operations.md for their dump commands).
    Backup {
        /// Where to write the copy (must not exist).
        file: std::path::PathBuf,
    },
    /// SQLite: put a backup made by `backup` in place, in an empty data directory.
    Restore {
        /// The backup file.
        file: std::path::PathBuf,
    },
    /// Benchmark data only: add N messages over M new chats straight into the SQLite file,
    /// for `nati-bench history` (docs/BENCHMARKS.md). Run it with the server stopped.
    BenchSeed {
        /// Messages to add.
        #[arg(long, default_value_t = 1_000_000)]
        messages: u64,
        /// New chats (one guest each) the messages are spread over.
        #[arg(long, default_value_t = 100)]
        chats: u64,
    },
}

/// The SQLite URL of these settings, or an error naming what to do for other databases.
fn sqlite_only(settings: &Settings, what: &str) -> Result<String> {
    let url = settings.database_url();
    if !url.starts_with("sqlite:") {
        bail!(
            "`{what}` is for the embedded SQLite database; for {} use the database's own dump and restore (docs/operations.md)",
            redact(&url)
        );
    }
    Ok(url)
}

#[derive(Subcommand)]
enum AccountCommand {
    /// Create an admin, worker or user.
    Create {
        #[arg(long)]
        role: AccountRole,
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        /// The password; also read from NATI_PASSWORD, else prompted for.
        #[arg(long, env = "NATI_PASSWORD", hide_env_values = true)]
        password: Option<String>,
    },
}

#[derive(Subcommand)]
enum ApiKeyCommand {
    /// Create a key and print it (shown this once; only its SHA-256 is stored).
    Create {
        /// What the key is for ("shop back end").
        #[arg(long)]
        name: String,
        /// unread:read, chats:read, accounts:write (repeat or separate with commas).
        #[arg(long = "scope", required = true, value_delimiter = ',')]
        scopes: Vec<chat_core::model::ApiScope>,
    },
    /// List the keys (never the keys themselves).
    List,
    /// Revoke a key for good.
    Revoke {
        #[arg(long)]
        id: i64,
    },
}

fn settings(c: &Common) -> Result<Settings> {
    let flags = FlagOverrides {
        bind: c.bind,
        data_dir: c.data_dir.clone(),
        database_url: c.database_url.clone(),
        accounts: c.accounts.clone(),
    };
    Settings::load(c.config.as_deref(), &flags).map_err(|e| anyhow::anyhow!("configuration: {e}"))
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    // Settings first: they say how to log. A settings error is printed by `main`'s error.
    let settings = settings(&cli.common)?;
    let telemetry =
        nati_chat::telemetry::init(&settings).map_err(|e| anyhow::anyhow!("configuration: {e}"))?;
    let done = run(cli, settings).await;
    // Off the runtime's worker: flushing waits for the exporter's thread.
    let _ = tokio::task::spawn_blocking(move || telemetry.shutdown()).await;
    done
}

async fn run(cli: Cli, settings: Settings) -> Result<()> {
    match cli.command.unwrap_or(Command::Serve { demo: false }) {
        Command::Serve { demo } => serve(settings, demo, cli.common.config.as_deref()).await,
        Command::ApiKey { action } => api_key(settings, action).await,
        Command::Doctor => {
            let findings = nati_chat::doctor::run(&settings).await;
            for f in &findings {
                println!("{f}");
            }
            let bad = findings.iter().filter(|f| !f.ok).count();
            if bad > 0 {
                println!("{bad} thing(s) to fix.");
                std::process::exit(1);
            }
            println!("All good.");
            Ok(())
        }
        Command::Backup { file } => {
            let url = sqlite_only(&settings, "backup")?;
            let s = chat_store_sqlite::backup::backup(&url, &file)
                .await
                .with_context(|| format!("backing up into {}", file.display()))?;
            println!(
                "backed up {} chats and {} messages (up to message {}) into {} ({} bytes); checked",
                s.chats,
                s.messages,
                s.last_message_id,
                file.display(),
                s.bytes
            );
            // The attachments' files, after the database: every file it refers to was kept
            // before its record, and kept files never change.
            let files = settings.data_dir.join("attachments");
            let to = nati_chat::attachments::storage::backup_dir(&file);
            let n = nati_chat::attachments::storage::copy_tree(&files, &to)
                .with_context(|| format!("copying attachments into {}", to.display()))?;
            if n > 0 {
                println!("copied {n} attachment files into {}", to.display());
            }
            Ok(())
        }
        Command::Restore { file } => {
            let url = sqlite_only(&settings, "restore")?;
            let s = chat_store_sqlite::backup::restore(&file, &url)
                .await
                .with_context(|| format!("restoring {}", file.display()))?;
            let from = nati_chat::attachments::storage::backup_dir(&file);
            let files = settings.data_dir.join("attachments");
            let n = nati_chat::attachments::storage::copy_tree(&from, &files)
                .with_context(|| format!("restoring attachments from {}", from.display()))?;
            println!(
                "restored {} chats and {} messages (up to message {}) and {n} attachment files into {}; start the server with this data directory",
                s.chats,
                s.messages,
                s.last_message_id,
                redact(&url)
            );
            Ok(())
        }
        Command::BenchSeed { messages, chats } => {
            let url = settings.database_url();
            if !url.starts_with("sqlite:") {
                bail!(
                    "bench-seed writes SQLite files only (database URL {})",
                    redact(&url)
                );
            }
            if let Some(parent) = std::path::Path::new(
                url.trim_start_matches("sqlite://")
                    .trim_start_matches("sqlite:"),
            )
            .parent()
                && !parent.as_os_str().is_empty()
            {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("creating {}", parent.display()))?;
            }
            let s = chat_store_sqlite::bench_seed::seed(&url, messages, chats).await?;
            println!(
                "seeded {} messages over {} chats (chat ids {}..={}) in {:.1}s",
                s.messages,
                s.chats,
                s.first_chat_id,
                s.first_chat_id + s.chats as i64 - 1,
                s.seconds
            );
            Ok(())
        }
        Command::Migrate {
            print_grants: Some(account),
            ..
        } => {
            let url = settings.database_url();
            if !chat_store_mysql::handles(&url) {
                anyhow::bail!(
                    "--print-grants is for MariaDB/MySQL databases; NATI_DATABASE_URL is {}",
                    redact(&url)
                );
            }
            let text = chat_store_mysql::MysqlStore::grants(
                &url,
                &nati_chat::mysql_options(&settings),
                &account,
            )
            .await
            .context("reading what the schema needs")?;
            print!("{text}");
            Ok(())
        }
        Command::Migrate {
            print_sql, status, ..
        } if print_sql || status => {
            let report = nati_chat::migrations::report(&settings)
                .await
                .context("reading the database's migrations")?;
            if print_sql {
                print!("{}", report.sql_text());
            } else {
                println!("{}", redact(&settings.database_url()));
                print!("{}", report.status_text());
            }
            Ok(())
        }
        Command::Migrate { .. } => {
            let store = nati_chat::open_store(&settings)
                .await
                .context("opening the database")?;
            drop(store);
            println!("migrations applied to {}", redact(&settings.database_url()));
            Ok(())
        }
        Command::Account {
            action:
                AccountCommand::Create {
                    role,
                    email,
                    name,
                    password,
                },
        } => {
            let password = match password {
                Some(p) => p,
                None => rpassword::prompt_password("password: ").context("reading the password")?,
            };
            let store = nati_chat::open_store(&settings)
                .await
                .context("opening the database")?;
            let account = nati_chat::http::admin::create_account(
                store.as_ref(),
                &nati_chat::hashing::Hashing::default(),
                role,
                &email,
                &name,
                &password,
            )
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!(
                "created {} #{} {} <{}>",
                account.role, account.id, account.name, account.email
            );
            Ok(())
        }
    }
}

async fn api_key(settings: Settings, action: ApiKeyCommand) -> Result<()> {
    let store = nati_chat::open_store(&settings)
        .await
        .context("opening the database")?;
    match action {
        ApiKeyCommand::Create { name, scopes } => {
            let (key, record) =
                nati_chat::http::hostapi::create_api_key(store.as_ref(), &name, &scopes)
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("{key}");
            eprintln!(
                "created API key #{} `{}` with {}; it is shown this once",
                record.id,
                record.name,
                chat_core::model::scopes_to_text(&record.scopes)
            );
        }
        ApiKeyCommand::List => {
            for k in store.list_api_keys().await? {
                println!(
                    "#{}\t{}…\t{}\t{}\t{}",
                    k.id,
                    k.prefix,
                    k.name,
                    chat_core::model::scopes_to_text(&k.scopes),
                    if k.revoked_at.is_some() {
                        "revoked"
                    } else {
                        "active"
                    }
                );
            }
        }
        ApiKeyCommand::Revoke { id } => {
            let k = store
                .revoke_api_key(id, time::OffsetDateTime::now_utc())
                .await?
                .with_context(|| format!("no API key #{id}"))?;
            println!("revoked API key #{} `{}`", k.id, k.name);
        }
    }
    Ok(())
}

fn redact(url: &str) -> String {
    nati_chat::redact(url)
}

async fn serve(settings: Settings, demo: bool, config: Option<&std::path::Path>) -> Result<()> {
    nati_chat::clientip::parse_trusted(&settings.trusted_proxies)
        .map_err(|e| anyhow::anyhow!("configuration: {e}"))?;
    let store = nati_chat::open_store(&settings)
        .await
        .context("opening the database")?;
    if demo {
        let lines = nati_chat::demo::seed(store.as_ref())
            .await
            .map_err(|e| anyhow::anyhow!("seeding demo accounts: {e}"))?;
        for l in lines {
            println!("{l}");
        }
    }
    // A fresh install: nobody can sign in yet; say how to make the first admin.
    if store
        .list_accounts(Some(chat_core::AccountRole::Admin))
        .await
        .map(|a| a.is_empty())
        .unwrap_or(false)
    {
        // The same settings file as this server, or the account lands in another database.
        let command = match config {
            Some(path) => nati_chat::http::FIRST_ADMIN_COMMAND.replacen(
                "nati-chat ",
                &format!("nati-chat --config {} ", path.display()),
                1,
            ),
            None => nati_chat::http::FIRST_ADMIN_COMMAND.to_owned(),
        };
        println!(
            "No admin account yet. Create the first one (it asks for a password), then sign in:\n  {command}"
        );
    }
    let listener = tokio::net::TcpListener::bind(settings.bind)
        .await
        .with_context(|| format!("binding {}", settings.bind))?;
    let addr = listener.local_addr()?;
    if addr.port() == 0 {
        bail!("no port");
    }
    println!("listening on http://{addr}");
    std::io::stdout().flush()?;
    tracing::info!(database = %redact(&settings.database_url()), "Nati Chat started");
    let state = AppState::new(store, settings);
    nati_chat::metrics::spawn_upkeep();
    nati_chat::serve(listener, state, shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
