//! Chaos and crash tests of the aliyun backend over the emulator (issues 8 and 14): seeded
//! applies under throttling, server errors, dropped connections and lost replies; `kill -9` of
//! an apply, and of the emulator itself, at seeded moments. After each, the applies converge,
//! no object exists twice, and every API key's current secret was delivered to a secrets file.
//!
//! Counts are printed (`cargo test --test chaos -- --nocapture` shows them).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use msctl::backend::aliyun::Credentials;
use msctl::emulator::{self, EmulatorConfig, FaultConfig, RunningEmulator};
use msctl::store::LedgerStore;
use sha2::{Digest, Sha256};

mod common;
use common::text;

const AK: &str = "LTAI5tChaosKeyId";
const SECRET: &str = "chaos-Secret-7d2e9b4f1a";
const WORKSPACES: usize = 40;

/// A config of 40 workspaces, each with a model grant and an API key, six RAM users (one of
/// them the caller, who owns the keys) and three custom policies.
fn write_config(cfg: &Path) {
    std::fs::create_dir_all(cfg).unwrap();
    std::fs::write(
        cfg.join("msctl.toml"),
        "[project]\nname = \"chaos\"\naccount_uid = \"1378030599924858\"\n\
         default_region = \"cn-beijing\"\n",
    )
    .unwrap();
    let envs: Vec<String> = (1..=WORKSPACES).map(|i| format!("\"t{i:02}\"")).collect();
    std::fs::write(
        cfg.join("workspaces.toml"),
        format!(
            "[[workspace]]\nname = \"team-{{env}}\"\nenvironments = [{}]\n\
             models = [{{ model = \"qwen-plus\", inference = true }}]\n\
             api_keys = [{{ name = \"svc\", owner = \"ci\", description = \"service\" }}]\n",
            envs.join(", ")
        ),
    )
    .unwrap();
    let mut ram = String::from("[[ram.user]]\nname = \"ci\"\n\n");
    for i in 1..=5 {
        ram.push_str(&format!(
            "[[ram.user]]\nname = \"user{i}\"\ndisplay_name = \"User {i}\"\n\n"
        ));
    }
    for i in 1..=3 {
        ram.push_str(&format!(
            "[[ram.policy]]\nname = \"policy{i}\"\ndescription = \"index {i}\"\n\
             document = {{ Version = \"1\", Statement = [{{ Effect = \"Allow\", \
             Action = [\"sfm:CreateIndex\"], Resource = \"acs:sfm:*:*:index/i{i}\" }}] }}\n\n"
        ));
    }
    std::fs::write(cfg.join("ram.toml"), ram).unwrap();
}

/// One trial's directory: the config, the cloud's database, msctl's ledger, secrets files.
struct Trial {
    dir: tempfile::TempDir,
}

impl Trial {
    fn new() -> Trial {
        let dir = tempfile::tempdir().unwrap();
        write_config(&dir.path().join("cfg"));
        Trial { dir }
    }

    fn db(&self) -> PathBuf {
        self.dir.path().join("cloud.db")
    }

    fn ledger(&self) -> PathBuf {
        self.dir.path().join("ledger.db")
    }

    fn secrets(&self, n: usize) -> PathBuf {
        self.dir.path().join(format!("secrets-{n}.txt"))
    }

    fn emulator(&self, faults: FaultConfig) -> RunningEmulator {
        let config = EmulatorConfig {
            faults,
            ..EmulatorConfig::new(self.db(), Credentials::new(AK, SECRET))
        };
        emulator::spawn(config).expect("emulator starts")
    }

    /// `msctl ARGS` against the emulator at `url`, as a command not yet started.
    fn msctl(&self, url: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_msctl"));
        cmd.arg("-C")
            .arg(self.dir.path().join("cfg"))
            .args(["--backend", "aliyun", "--endpoint", url, "--caller", "ci"])
            .arg("--ledger")
            .arg(self.ledger())
            .args(args)
            .env("NO_COLOR", "1")
            .env("ALIBABA_CLOUD_ACCESS_KEY_ID", AK)
            .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", SECRET)
            .stdin(Stdio::null());
        cmd
    }

    fn run(&self, url: &str, args: &[&str]) -> Output {
        self.msctl(url, args).output().unwrap()
    }

    /// After a `kill -9`, the dead run's lock is still held: remove it the way a person does,
    /// with `msctl force-unlock ID` (the id the refusal names).
    fn force_unlock(&self, url: &str) {
        if !self.ledger().exists() {
            return;
        }
        let holder = LedgerStore::open(self.ledger())
            .unwrap()
            .lock_holder()
            .unwrap();
        if let Some(holder) = holder {
            let o = self.run(url, &["force-unlock", &holder.id]);
            assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        }
    }

    fn apply(&self, url: &str, secrets: usize) -> Output {
        let path = self.secrets(secrets);
        self.run(
            url,
            &[
                "apply",
                "--auto-approve",
                "--secrets-to",
                path.to_str().unwrap(),
            ],
        )
    }

    /// Whether the live state matches the config: a plan through a fault-free emulator.
    fn converged(&self, clean_url: &str) -> bool {
        let plan = self.run(clean_url, &["plan", "--detailed-exitcode"]);
        match plan.status.code() {
            Some(0) => true,
            Some(2) => false,
            _ => panic!("plan failed: {}", text(&plan)),
        }
    }

    /// Objects that exist more than once: API keys by (workspace, description), workspaces by
    /// (region, name), RAM users and policies by name.
    fn duplicates(&self) -> u64 {
        let conn = rusqlite::Connection::open(self.db()).unwrap();
        let extra = |sql: &str| -> u64 {
            conn.query_row(
                &format!("SELECT COALESCE(SUM(c - 1), 0) FROM ({sql})"),
                [],
                |r| r.get::<_, i64>(0),
            )
            .unwrap() as u64
        };
        extra(
            "SELECT COUNT(*) AS c FROM ms_api_key GROUP BY workspace_id, description HAVING c > 1",
        ) + extra("SELECT COUNT(*) AS c FROM ms_workspace GROUP BY region, name HAVING c > 1")
            + extra("SELECT COUNT(*) AS c FROM ram_user GROUP BY name HAVING c > 1")
            + extra("SELECT COUNT(*) AS c FROM ram_policy GROUP BY name HAVING c > 1")
    }

    /// msctl's API keys whose current secret is not the last one written for their address to
    /// any of the trial's secrets files (read in order): secrets lost.
    fn lost_secrets(&self, files: usize) -> Vec<String> {
        let mut written: BTreeMap<String, String> = BTreeMap::new();
        for n in 1..=files {
            let Ok(text) = std::fs::read_to_string(self.secrets(n)) else {
                continue;
            };
            for line in text.lines() {
                if let Some((address, secret)) = line.split_once('=') {
                    written.insert(address.to_string(), secret.to_string());
                }
            }
        }
        let conn = rusqlite::Connection::open(self.db()).unwrap();
        let mut stmt = conn
            .prepare(
                "SELECT w.name, k.description, k.secret_sha256 FROM ms_api_key k \
                 JOIN ms_workspace w ON w.id = k.workspace_id",
            )
            .unwrap();
        let rows: Vec<(String, String, String)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let mut lost = Vec::new();
        for (workspace, description, sha) in rows {
            let Some(rest) = description.strip_prefix("msctl:") else {
                continue;
            };
            let name = rest.split(' ').next().unwrap_or_default();
            let address = format!("workspace.{workspace}.apikey.{name}");
            let delivered = written
                .get(&address)
                .is_some_and(|s| hex(&Sha256::digest(s.as_bytes())) == sha);
            if !delivered {
                lost.push(address);
            }
        }
        lost
    }

    /// Keys whose secret the ledger says is owed.
    fn owed(&self) -> usize {
        self.owed_addresses().len()
    }

    fn owed_addresses(&self) -> Vec<String> {
        if !self.ledger().exists() {
            return Vec::new();
        }
        LedgerStore::open(self.ledger())
            .unwrap()
            .owed_secrets()
            .unwrap()
            .into_keys()
            .collect()
    }

    /// Of `addresses`, the keys that exist in the cloud.
    fn existing_keys(&self, addresses: &[String]) -> usize {
        let conn = rusqlite::Connection::open(self.db()).unwrap();
        addresses
            .iter()
            .filter(|address| {
                let mut parts = address.split('.');
                let (Some(_), Some(workspace), Some(_), Some(name)) =
                    (parts.next(), parts.next(), parts.next(), parts.next())
                else {
                    return false;
                };
                let n: i64 = conn
                    .query_row(
                        "SELECT COUNT(*) FROM ms_api_key k JOIN ms_workspace w \
                         ON w.id = k.workspace_id WHERE w.name = ?1 \
                         AND (k.description = ?2 OR k.description LIKE ?2 || ' %')",
                        [workspace, &format!("msctl:{name}")],
                        |r| r.get(0),
                    )
                    .unwrap();
                n > 0
            })
            .count()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// SplitMix64, for kill moments and seeds.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// Runs `trials` on up to `threads` threads; each trial gets its index.
fn parallel<T: Send>(trials: u64, threads: usize, f: impl Fn(u64) -> T + Sync) -> Vec<T> {
    let next = AtomicU64::new(0);
    let results = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= trials {
                        break;
                    }
                    let r = f(i);
                    results.lock().unwrap().push((i, r));
                }
            });
        }
    });
    let mut results = results.into_inner().unwrap();
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, r)| r).collect()
}

/// Reads `stream` until `n` lines starting with `prefix` went by (fewer if it ends first);
/// returns how many did.
fn read_lines(stream: impl std::io::Read, n: u64, prefix: &str) -> (u64, impl BufRead) {
    let mut reader = BufReader::new(stream);
    let mut read = 0;
    let mut line = String::new();
    while read < n {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) if line.starts_with(prefix) => read += 1,
            Ok(_) => {}
        }
    }
    (read, reader)
}

fn kill(child: &mut Child) {
    // `Child::kill` is SIGKILL on Unix: no handler, no cleanup, as `kill -9`.
    let _ = child.kill();
    let _ = child.wait();
}

/// 100 seeded applies under `--throttle-rate 0.2 --error-rate 0.05 --drop-rate 0.05
/// --lost-reply-rate 0.05`: each converges within two applies, with no duplicate and no lost
/// secret. `CHAOS_RUNS=N` runs seeds 0..N instead, for a quicker local check.
#[test]
fn seeded_applies_under_faults_converge_without_duplicates() {
    let runs: u64 = std::env::var("CHAOS_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let outcomes = parallel(runs, 8, |seed| {
        let trial = Trial::new();
        let faulty = trial.emulator(FaultConfig {
            seed,
            throttle_rate: 0.2,
            error_rate: 0.05,
            drop_rate: 0.05,
            lost_reply_rate: 0.05,
            retry_after_ms: 10,
            ..FaultConfig::default()
        });
        let clean = trial.emulator(FaultConfig::default());
        let mut applies = 0;
        let mut outputs = String::new();
        for n in 1..=2 {
            applies = n;
            let out = trial.apply(&faulty.url(), n);
            let tail: Vec<String> = text(&out)
                .lines()
                .filter(|l| !l.starts_with("+ ") && !l.starts_with("  "))
                .map(str::to_string)
                .collect();
            outputs.push_str(&format!("--- apply {n}:\n{}\n", tail.join("\n")));
            if trial.converged(&clean.url()) {
                break;
            }
        }
        let converged = trial.converged(&clean.url());
        (
            seed,
            applies,
            (converged, outputs),
            trial.duplicates(),
            trial.lost_secrets(2),
        )
    });
    let mut by_applies = [0usize; 3];
    for (seed, applies, converged, duplicates, lost) in &outcomes {
        assert!(
            converged.0,
            "seed {seed}: not converged after two applies\n{}",
            converged.1
        );
        assert_eq!(*duplicates, 0, "seed {seed}: duplicates");
        assert!(lost.is_empty(), "seed {seed}: secrets lost for {lost:?}");
        by_applies[*applies] += 1;
    }
    println!(
        "chaos: {runs} runs, {} converged after one apply, {} after two; duplicates 0; lost \
            secrets 0",
        by_applies[1], by_applies[2]
    );
}

/// The seeded kill moment of crash trial `i`: after this many changes were made (of 129).
fn lines_of(i: u64) -> u64 {
    Rng(0xC0FFEE + i).next() % 129
}

/// 20 trials of `kill -9` of an apply at a seeded moment (after N lines of its output); the
/// next apply converges, nothing exists twice, and every key's secret is delivered.
#[test]
fn an_apply_killed_at_any_moment_is_finished_by_the_next() {
    let trials: u64 = 20;
    let outcomes = parallel(trials, 4, |i| {
        let trial = Trial::new();
        // Latency keeps the apply behind the test reading its output, and calls in flight
        // when the kill lands.
        let emu = trial.emulator(FaultConfig {
            latency: Duration::from_millis(20),
            ..FaultConfig::default()
        });
        let lines = lines_of(i);
        let path = trial.secrets(1);
        let mut child = trial
            .msctl(
                &emu.url(),
                &[
                    "apply",
                    "--auto-approve",
                    "--secrets-to",
                    path.to_str().unwrap(),
                ],
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        // The plan comes first (its lines indented); count the lines of changes made
        // (`+ address: created`), which apply prints on stdout as each change finishes.
        let (read, _rest) = read_lines(stdout, lines, "+ ");
        kill(&mut child);
        let owed_addresses = trial.owed_addresses();
        let owed = (owed_addresses.len(), trial.existing_keys(&owed_addresses));
        trial.force_unlock(&emu.url());
        let again = trial.apply(&emu.url(), 2);
        assert_eq!(again.status.code(), Some(0), "{}", text(&again));
        (
            i,
            read,
            owed,
            trial.converged(&emu.url()),
            trial.duplicates(),
            trial.lost_secrets(2),
            trial.owed(),
        )
    });
    let (mut owed_total, mut owed_existing, mut mid_apply) = (0, 0, 0);
    for (i, read, owed, converged, duplicates, lost, owed_after) in &outcomes {
        println!(
            "trial {i}: killed after {read} lines; {} secrets owed, {} of them for keys that exist",
            owed.0, owed.1
        );
        assert!(
            converged,
            "trial {i} (killed after {read} lines): not converged"
        );
        assert_eq!(*duplicates, 0, "trial {i}: duplicates");
        assert!(lost.is_empty(), "trial {i}: secrets lost for {lost:?}");
        assert_eq!(*owed_after, 0, "trial {i}: secrets still owed");
        owed_total += owed.0;
        owed_existing += owed.1;
        if *read == lines_of(*i) {
            mid_apply += 1;
        }
    }
    println!(
        "crash: {trials} applies killed ({mid_apply} mid-apply); {owed_total} owed secrets left \
         by the kills, {owed_existing} of them for keys that exist, all settled by the next \
         apply; duplicates 0; lost secrets 0"
    );
}

/// `kill -9` of the emulator during an apply (the apply dies with it), then the emulator
/// restarted on its state file: the next apply converges with no duplicate and no lost secret.
#[test]
fn an_emulator_killed_mid_apply_restarts_on_its_state() {
    let trials: u64 = 3;
    parallel(trials, 3, |i| {
        let mut rng = Rng(0xE3 + i);
        let trial = Trial::new();
        let mut server = Command::new(env!("CARGO_BIN_EXE_msctl"))
            .arg("--state")
            .arg(trial.db())
            .args(["emulator", "--listen", "127.0.0.1:0", "--latency-ms", "2"])
            .env("ALIBABA_CLOUD_ACCESS_KEY_ID", AK)
            .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", SECRET)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = String::new();
        BufReader::new(server.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        let url = first
            .trim()
            .rsplit(' ')
            .next()
            .expect("the emulator prints its address")
            .to_string();
        let path = trial.secrets(1);
        let mut apply = trial
            .msctl(
                &url,
                &[
                    "apply",
                    "--auto-approve",
                    "--secrets-to",
                    path.to_str().unwrap(),
                ],
            )
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // The emulator logs one line per request: kill it after a seeded number of them. An
        // apply that finishes first (it makes about 150 requests) takes the emulator down with
        // it, so the count is never waited for in vain.
        let requests = 20 + rng.next() % 200;
        let server_pid = server.id().to_string();
        let apply_pid = apply.id().to_string();
        let watcher = std::thread::spawn(move || {
            let status = apply.wait();
            let _ = Command::new("kill").args(["-9", &server_pid]).status();
            status
        });
        let (_read, _rest) = read_lines(server.stderr.take().unwrap(), requests, "");
        kill(&mut server);
        // SIGKILL the apply too (the watcher holds its handle and reaps it).
        let _ = Command::new("kill").args(["-9", &apply_pid]).status();
        let _status = watcher.join().unwrap();
        let restarted = trial.emulator(FaultConfig::default());
        trial.force_unlock(&restarted.url());
        let again = trial.apply(&restarted.url(), 2);
        assert_eq!(again.status.code(), Some(0), "{}", text(&again));
        assert!(
            trial.converged(&restarted.url()),
            "trial {i}: not converged"
        );
        assert_eq!(trial.duplicates(), 0, "trial {i}: duplicates");
        let lost = trial.lost_secrets(2);
        assert!(lost.is_empty(), "trial {i}: secrets lost for {lost:?}");
    });
}

/// A key whose secret a killed run owed: the plan and an apply without `--secrets-to` name it
/// (never a secret); an apply with `--secrets-to` resets it and writes the new secret.
#[test]
fn an_owed_secret_is_reported_then_delivered() {
    let trial = Trial::new();
    let emu = trial.emulator(FaultConfig::default());
    let first = trial.apply(&emu.url(), 1);
    assert_eq!(first.status.code(), Some(0), "{}", text(&first));
    assert_eq!(trial.owed(), 0);
    assert!(trial.lost_secrets(1).is_empty());

    // What a run killed between the create and the secrets file leaves behind.
    let address = "workspace.team-t07.apikey.svc";
    LedgerStore::open(trial.ledger())
        .unwrap()
        .set_owed_secret(address, Some(Default::default()))
        .unwrap();
    let old = std::fs::read_to_string(trial.secrets(1)).unwrap();
    let old_secret = old
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{address}=")))
        .unwrap()
        .to_string();

    let plan = trial.run(&emu.url(), &["plan"]);
    let out = text(&plan);
    assert!(
        out.contains(&format!("API key `{address}` has an undelivered secret")),
        "{out}"
    );
    let quiet = trial.run(&emu.url(), &["apply", "--auto-approve"]);
    let out = text(&quiet);
    assert_eq!(quiet.status.code(), Some(0), "{out}");
    assert!(
        out.contains(&format!("API key `{address}` has an undelivered secret")),
        "{out}"
    );
    assert!(!out.contains(&old_secret));
    assert_eq!(trial.owed(), 1, "without --secrets-to the record stays");

    let deliver = trial.apply(&emu.url(), 2);
    let out = text(&deliver);
    assert_eq!(deliver.status.code(), Some(0), "{out}");
    assert!(
        out.contains("Reset 1 API key(s)") && out.contains(address),
        "{out}"
    );
    let written = std::fs::read_to_string(trial.secrets(2)).unwrap();
    assert_eq!(written.lines().count(), 1, "{written}");
    let new_secret = written.trim().strip_prefix(&format!("{address}=")).unwrap();
    assert_ne!(new_secret, old_secret);
    assert!(!out.contains(new_secret));
    assert_eq!(trial.owed(), 0);
    assert!(trial.lost_secrets(2).is_empty());
    let plan = trial.run(&emu.url(), &["plan"]);
    assert!(!text(&plan).contains("undelivered"), "{}", text(&plan));
}

/// Faults per request are shared by every connection: the lost-reply fault executes the
/// request, so a create retried blindly would make a second key.
#[test]
fn a_lost_reply_is_executed_but_never_answered() {
    use msctl::backend::aliyun::{
        Body, CallError, Client, ClientConfig, Endpoint, Method, Product, RequestSpec, RetryPolicy,
    };
    let trial = Trial::new();
    let emu = trial.emulator(FaultConfig {
        lost_reply_rate: 1.0,
        ..FaultConfig::default()
    });
    let client = Client::new(
        Credentials::new(AK, SECRET),
        ClientConfig {
            endpoint: Some(Endpoint::parse(&emu.url()).unwrap()),
            retry: RetryPolicy {
                max_attempts: 1,
                ..RetryPolicy::default()
            },
            ..ClientConfig::default()
        },
    );
    let create = RequestSpec::roa(
        Product::ModelStudio,
        "CreateWorkspace",
        Method::Post,
        "/modelstudio/workspaces",
    )
    .query("workspaceName", "made-anyway")
    .body(Body::None);
    let err = client.call(&create).unwrap_err();
    assert!(matches!(err, CallError::Transport { .. }), "{err:?}");
    assert!(err.is_ambiguous(), "{err:?}");
    let conn = rusqlite::Connection::open(trial.db()).unwrap();
    let made: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM ms_workspace WHERE name = 'made-anyway'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(made, 1, "the request was executed");
}

/// `msctl emulator --lost-reply-rate` is checked like the other rates.
#[test]
fn the_emulator_refuses_a_bad_lost_reply_rate() {
    let trial = Trial::new();
    for (rate, why) in [("1.5", "--lost-reply-rate"), ("0.7", "add up to")] {
        let out = Command::new(env!("CARGO_BIN_EXE_msctl"))
            .arg("--state")
            .arg(trial.db())
            .args([
                "emulator",
                "--listen",
                "127.0.0.1:0",
                "--drop-rate",
                "0.4",
                "--lost-reply-rate",
                rate,
            ])
            .env("ALIBABA_CLOUD_ACCESS_KEY_ID", AK)
            .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", SECRET)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        assert!(text(&out).contains(why), "{}", text(&out));
    }
}
