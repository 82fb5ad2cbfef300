//! The `switchboard` binary: parses the command line and calls into the library.

use std::io::Read;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use sqlx::postgres::PgPoolOptions;
use tokio_util::sync::CancellationToken;

use switchboard::api::tenants::{create_tenant, NewTenant};
use switchboard::app::{AppState, Application};
use switchboard::config::{
    Cli, Command, ReencryptArgs, ServeArgs, Settings, TenantCommand, TenantCreateArgs,
};
use switchboard::{api, bench, channels, listen, persist, retention, simulate, store, telemetry};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    telemetry::init(cli.log_json);
    match run(cli.command).await {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Serve(args) => serve(*args).await?,
        Command::Migrate(db) => {
            store::connect_and_migrate(&db).await?;
            println!("migrations applied");
        }
        Command::Tenant(TenantCommand::Create(args)) => tenant_create(args).await?,
        Command::Normalize { file } => return normalize(&file),
        Command::Reprocess(db) => {
            let pool = store::connect_and_migrate(&db).await?;
            let report = persist::reprocess_flagged(&pool).await?;
            println!(
                "checked {} flagged receipts: {} now readable, {} new events",
                report.checked, report.fixed, report.events
            );
        }
        Command::Simulate(args) if args.list => print!("{}", simulate::catalogue()),
        Command::Simulate(args) => {
            if simulate::run(&args).await? > 0 {
                return Ok(ExitCode::FAILURE);
            }
        }
        Command::Listen(args) => listen::run(args, shutdown_signal()).await?,
        Command::Bench(args) => bench::run(&args).await?,
        Command::Reencrypt(args) => reencrypt(args).await?,
        Command::Openapi(public) => {
            // The spec needs no database; a lazy pool never connects.
            let pool =
                PgPoolOptions::new().connect_lazy(switchboard::config::DEFAULT_DATABASE_URL)?;
            let state = AppState::new(pool, Settings::new(&public.public_url));
            println!("{}", api::service(&state).spec());
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let pool = store::connect_and_migrate(&args.database)
        .await
        .context("connecting to the database")?;
    let settings = Settings::from(&args);
    if settings.admin_token.is_none() {
        tracing::warn!("SWITCHBOARD_ADMIN_TOKEN is not set: the admin API will answer 401");
    }
    match settings.encryption.current() {
        None => tracing::warn!(
            "SWITCHBOARD_ENCRYPTION_KEY is not set: app and endpoint secrets are stored in clear"
        ),
        Some(key) => tracing::info!(key_id = key.id(), "secrets are encrypted at rest"),
    }
    let app = Application::bind(args.bind, AppState::new(pool.clone(), settings), args.role)
        .await
        .with_context(|| format!("binding {}", args.bind))?;
    let shutdown = CancellationToken::new();
    let trigger = shutdown.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        trigger.cancel();
    });
    let purger = tokio::spawn(retention::run(pool, args.retention, shutdown.clone()));
    let served = app.run_until(shutdown.clone()).await;
    // Whatever stopped the gateway stops the purge too.
    shutdown.cancel();
    purger.await?;
    served?;
    tracing::info!("gateway stopped");
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(%err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::error!(%err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("SIGINT received, shutting down"),
        () = term => tracing::info!("SIGTERM received, shutting down"),
    }
}

async fn tenant_create(args: TenantCreateArgs) -> anyhow::Result<()> {
    let pool = store::connect_and_migrate(&args.database).await?;
    let new = NewTenant {
        name: args.name,
        verify_token: args.verify_token,
        app_secret: args.app_secret,
    };
    let keys = args.encryption.keyring();
    let created = create_tenant(&pool, &keys, &args.public.public_url, &new).await?;
    if args.json {
        let out = serde_json::json!({
            "id": created.id,
            "api_key": created.api_key,
            "callback_urls": created.callback_urls,
        });
        println!("{out}");
    } else {
        println!("tenant    {} ({})", created.id, created.name);
        println!("api key   {}   (shown once: store it now)", created.api_key);
        println!("callbacks {}", created.callback_urls.all);
        for url in [
            &created.callback_urls.whatsapp,
            &created.callback_urls.messenger,
            &created.callback_urls.instagram,
        ] {
            println!("          {url}");
        }
    }
    Ok(())
}

/// Seals every stored secret with the current key, so old keys can be removed.
async fn reencrypt(args: ReencryptArgs) -> anyhow::Result<()> {
    let keys = args.encryption.keyring();
    let key = keys
        .current()
        .context("set SWITCHBOARD_ENCRYPTION_KEY to the key secrets should be encrypted with")?;
    let key_id = key.id().to_owned();
    let pool = store::connect_and_migrate(&args.database).await?;
    let rewritten = store::reencrypt_secrets(&pool, &keys).await?;
    println!("{rewritten} secrets rewritten; every secret is now encrypted with key {key_id}");
    Ok(())
}

/// Prints the events of a body; exits 1 when the body is not a readable Meta envelope.
fn normalize(file: &std::path::Path) -> anyhow::Result<ExitCode> {
    let mut body = Vec::new();
    if file.as_os_str() == "-" {
        std::io::stdin().read_to_end(&mut body)?;
    } else {
        body = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    }
    let batch = channels::normalize(&body, chrono::Utc::now().timestamp_millis());
    for normalized in &batch.events {
        println!("{}", serde_json::to_string(&normalized.event)?);
    }
    Ok(match batch.problem {
        Some(problem) => {
            eprintln!("not a readable Meta webhook: {problem}");
            ExitCode::FAILURE
        }
        None => ExitCode::SUCCESS,
    })
}
