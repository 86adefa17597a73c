//! `nati-chat doctor` on real setups: a fresh directory, a schema without an admin, SMTP that
//! answers and one that does not, a low open-file limit.

use crate::smtp::SmtpSink;
use crate::support::*;
use std::process::Command;

struct Run {
    ok: bool,
    out: String,
}

impl Run {
    fn problems(&self) -> Vec<&str> {
        self.out
            .lines()
            .filter(|l| l.starts_with("PROBLEM"))
            .collect()
    }
}

/// `doctor` (or another command) on the embedded database in `dir`, with `env`, optionally
/// under a lower open-file limit.
fn nati(dir: &std::path::Path, args: &[&str], env: &[(&str, String)], nofile: Option<u32>) -> Run {
    let bin = env!("CARGO_BIN_EXE_nati-chat");
    let mut cmd = match nofile {
        Some(n) => {
            let mut c = Command::new("sh");
            c.arg("-c")
                .arg(format!("ulimit -n {n} && exec \"$0\" \"$@\""))
                .arg(bin);
            c
        }
        None => Command::new(bin),
    };
    cmd.args(args)
        .env("NATI_DATA_DIR", dir)
        .env_remove("NATI_DATABASE_URL")
        .env("RUST_LOG", "error");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let o = cmd.output().expect("run nati-chat");
    Run {
        ok: o.status.success(),
        out: String::from_utf8_lossy(&o.stdout).into_owned(),
    }
}

/// This machine's own limit may be low; then `limits` is the one problem we expect.
fn machine_problems() -> usize {
    usize::from(
        nati_chat::doctor::open_file_limit().is_some_and(|n| n < nati_chat::doctor::MIN_OPEN_FILES),
    )
}

#[tokio::test]
async fn doctor_says_what_is_wrong_and_what_to_do() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A fresh directory is fine: serve creates the database.
    let fresh = nati(dir.path(), &["doctor"], &[], None);
    assert!(fresh.out.contains("does not exist yet"), "{}", fresh.out);
    assert_eq!(fresh.problems().len(), machine_problems(), "{}", fresh.out);
    assert!(
        !dir.path().join("nati-chat.db").exists(),
        "doctor creates nothing"
    );

    // Migrated but nobody can sign in.
    assert!(nati(dir.path(), &["migrate"], &[], None).ok);
    let no_admin = nati(dir.path(), &["doctor"], &[], None);
    assert!(!no_admin.ok);
    assert!(
        no_admin
            .problems()
            .iter()
            .any(|l| l.contains("no active admin")
                && l.contains("nati-chat account create --role admin")),
        "{}",
        no_admin.out
    );
    assert!(
        no_admin.out.contains("migrations applied"),
        "{}",
        no_admin.out
    );
    let made = nati(
        dir.path(),
        &[
            "account",
            "create",
            "--role",
            "admin",
            "--email",
            "boss@d.test",
            "--name",
            "Boss",
            "--password",
            PASSWORD,
        ],
        &[],
        None,
    );
    assert!(made.ok);

    // SMTP that answers (EHLO only: the sink receives no mail), and SMTP that does not.
    let sink = SmtpSink::start().await;
    let smtp = |port: u16| {
        vec![
            ("NATI_SMTP_HOST", "127.0.0.1".to_owned()),
            ("NATI_SMTP_PORT", port.to_string()),
            ("NATI_SMTP_SECURITY", "none".to_owned()),
        ]
    };
    let (d, env) = (dir.path().to_path_buf(), smtp(sink.addr.port()));
    let good = tokio::task::spawn_blocking(move || nati(&d, &["doctor"], &env, None))
        .await
        .expect("doctor");
    assert!(
        good.out.contains("answers (EHLO); no mail was sent"),
        "{}",
        good.out
    );
    assert_eq!(good.problems().len(), machine_problems(), "{}", good.out);
    assert_eq!(good.ok, machine_problems() == 0);
    assert!(sink.received().is_empty(), "no mail sent");
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let bad = nati(dir.path(), &["doctor"], &smtp(closed), None);
    assert!(!bad.ok);
    assert!(
        bad.problems()
            .iter()
            .any(|l| l.contains("email") && l.contains("Check smtp_host")),
        "{}",
        bad.out
    );

    // Attachments: where files go; a clamd that is not there is a problem, with the fix.
    assert!(
        good.out.contains("files kept on disk") && good.out.contains("not scanned"),
        "{}",
        good.out
    );
    let env = vec![("NATI_CLAMD_SOCKET", "/nonexistent/clamd.ctl".to_owned())];
    let no_clamd = nati(dir.path(), &["doctor"], &env, None);
    assert!(!no_clamd.ok);
    assert!(
        no_clamd
            .problems()
            .iter()
            .any(|l| l.contains("attachments") && l.contains("clamav-daemon")),
        "{}",
        no_clamd.out
    );
    if let Ok(socket) = std::env::var("NATI_TEST_CLAMD_SOCKET") {
        let env = vec![("NATI_CLAMD_SOCKET", socket)];
        let scanned = nati(dir.path(), &["doctor"], &env, None);
        assert!(scanned.out.contains("clamd at"), "{}", scanned.out);
        assert!(scanned.out.contains("answers"), "{}", scanned.out);
    }

    // A low open-file limit is named, with the fix.
    let low = nati(dir.path(), &["doctor"], &[], Some(256));
    assert!(!low.ok);
    assert!(
        low.problems()
            .iter()
            .any(|l| l.contains("open files limited to 256") && l.contains("LimitNOFILE")),
        "{}",
        low.out
    );
}
