//! `engage forget --source S --user-id U [--anonymous-id A]...`: erases a person (GDPR art. 17,
//! CCPA), like `DELETE /api/v1/users/{id}` (see [`engage_api::erase`]).
//!
//! Two ways, for the two kinds of deployment:
//! - `--target URL` (an `engage run` or `engage api` process, with an admin token in
//!   `--token` / `ENGAGE_API_TOKEN`): sends the DELETE there; the process does the rest.
//! - `--kafka-brokers` and the store flags (a production deployment, from a shell or a Job):
//!   publishes the erasure record to the topic the consumers read and deletes the stored rows
//!   itself.
//!
//! Prints the answer (what was deleted, the request id of the audit lines) as JSON.

use crate::cli::{KafkaArgs, StoreArgs};
use anyhow::{Context, bail};
use clap::Args;
use engage_api::erase::{Eraser, Person, erase};
use engage_kafka::KafkaPublisher;
use engage_kafka::producer::ProducerSettings;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Args)]
pub struct ForgetArgs {
    /// The source (tenant) the person belongs to: the name `--write-keys` gives their key.
    #[arg(long, env = "ENGAGE_FORGET_SOURCE")]
    pub source: String,
    /// The person's `userId` (repeatable).
    #[arg(long = "user-id")]
    pub user_ids: Vec<String>,
    /// The person's `anonymousId` (repeatable).
    #[arg(long = "anonymous-id")]
    pub anonymous_ids: Vec<String>,
    /// A running engage process (`engage run`, `engage api`) to send the erasure to.
    #[arg(long, env = "ENGAGE_TARGET")]
    pub target: Option<String>,
    /// An admin API token for --target (`--admin-tokens` of that process).
    #[arg(long, env = "ENGAGE_API_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Where the SQLite store lives when no ClickHouse is configured (without --target).
    #[arg(long, env = "ENGAGE_DATA_DIR", default_value = "./engage-data")]
    pub data_dir: PathBuf,
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub kafka: KafkaArgs,
}

pub async fn run(args: ForgetArgs) -> anyhow::Result<()> {
    let person = person(&args)?;
    let answer = match &args.target {
        Some(target) => {
            let (target, token) = (target.clone(), args.token.clone());
            tokio::task::spawn_blocking(move || over_http(&target, token.as_deref(), &person)).await??
        }
        None => {
            let Some(kafka) = args.kafka.config() else {
                bail!(
                    "give --target URL (with an admin --token) to erase through a running engage, or --kafka-brokers \
                     (and the store flags) to erase directly: consumer state must forget the person too"
                );
            };
            let publisher =
                KafkaPublisher::new(&kafka, &ProducerSettings::default()).context("creating the Kafka producer")?;
            let store = crate::store::open_store(&args.store, &args.data_dir).await?;
            let eraser = Eraser { store, bus: Some(Arc::new(publisher.clone())) };
            let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_millis() as i64;
            let erased = erase(&eraser, person, "engage forget", now_ms).await.map_err(|e| anyhow::anyhow!("{e}"))?;
            publisher.flush(Duration::from_secs(10)).await.context("flushing the erasure record")?;
            serde_json::to_value(erased)?
        }
    };
    #[allow(clippy::print_stdout)]
    {
        println!("{answer}");
    }
    Ok(())
}

/// The person the flags name (checked like the API's parameters).
fn person(args: &ForgetArgs) -> anyhow::Result<Person> {
    let source = engage_api::params::check_source(args.source.trim()).map_err(|e| anyhow::anyhow!("--source: {e}"))?;
    let check = |what, ids: &[String]| -> anyhow::Result<Vec<String>> {
        ids.iter().map(|id| engage_api::params::check_person_id(what, id).map_err(|e| anyhow::anyhow!("{e}"))).collect()
    };
    let user_ids = check("--user-id", &args.user_ids)?;
    let anonymous_ids = check("--anonymous-id", &args.anonymous_ids)?;
    if user_ids.is_empty() && anonymous_ids.is_empty() {
        bail!("give --user-id and/or --anonymous-id");
    }
    Ok(Person { source, user_ids, anonymous_ids })
}

/// `DELETE {target}/api/v1/users/{id}?source=&anonymous_id=...`; the answer's JSON.
fn over_http(target: &str, token: Option<&str>, person: &Person) -> anyhow::Result<serde_json::Value> {
    let enc = crate::ingest::percent_encode;
    if person.user_ids.len() > 1 {
        bail!("--target takes one --user-id per run (the API's path holds one); run it again for each");
    }
    let mut query = format!("source={}", enc(&person.source));
    let path_id = person.user_ids.first().map_or_else(|| "-".to_owned(), |u| enc(u));
    for a in &person.anonymous_ids {
        query.push_str(&format!("&anonymous_id={}", enc(a)));
    }
    let url = format!("{}/api/v1/users/{path_id}?{query}", target.trim_end_matches('/'));
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into();
    let mut request = agent.delete(&url);
    if let Some(token) = token {
        request = request.header("Authorization", &format!("Bearer {token}"));
    }
    let mut response = request.call().with_context(|| format!("DELETE {url}"))?;
    let status = response.status();
    let body = response.body_mut().read_to_string().context("reading the answer")?;
    if !status.is_success() {
        bail!("{status}: {body}");
    }
    serde_json::from_str(&body).context("the answer is not JSON")
}
