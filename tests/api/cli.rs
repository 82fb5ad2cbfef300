//! The command line, run as a real process.

use std::process::Command;

use serde_json::Value;
use sqlx::PgPool;

use crate::helpers::database_url;

#[sqlx::test(migrator = "switchboard::store::MIGRATOR")]
async fn tenant_create_json_prints_id_key_and_urls(pool: PgPool) {
    let url = database_url(&pool).await;
    let output = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args([
            "tenant",
            "create",
            "--name",
            "Cli Co",
            "--verify-token",
            "t",
            "--app-secret",
            "s",
            "--json",
        ])
        .args(["--public-url", "https://gw.example.test/"])
        .env("DATABASE_URL", &url)
        .output()
        .expect("run switchboard");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let printed: Value = serde_json::from_slice(&output.stdout).expect("one JSON object");
    let id = printed["id"].as_str().expect("id");
    assert!(printed["api_key"]
        .as_str()
        .is_some_and(|k| k.starts_with("sbk_")));
    assert_eq!(
        printed["callback_urls"]["whatsapp"],
        format!("https://gw.example.test/hooks/{id}/whatsapp")
    );
    let names: Vec<String> = sqlx::query_scalar("SELECT name FROM tenants")
        .fetch_all(&pool)
        .await
        .expect("tenants");
    assert_eq!(names, ["Cli Co"]);
}

#[test]
fn normalize_reads_stdin_and_fails_on_garbage() {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["normalize", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run switchboard");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"not json")
        .expect("write");
    let output = child.wait_with_output().expect("wait");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("not a readable Meta webhook"));
}
