//! The access log, read from the binary's own stdout at the default log
//! level: one JSON line per request, with what an operator needs to find a
//! request and nothing a caller must keep secret.

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::Duration,
};

use serde_json::{Value, json};

use crate::helpers::{PASSWORD, key_of, unique_email};

/// `paygraph serve` on the embedded default, its stdout collected line by
/// line; killed when dropped.
struct Served {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    address: String,
    _dir: tempfile::TempDir,
}

impl Served {
    async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let database = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("db.sqlite").display()
        );
        let mut child = Command::new(env!("CARGO_BIN_EXE_paygraph"))
            .arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DATABASE_URL", database)
            .env("PAYGRAPH_ADDR", "127.0.0.1:0")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start paygraph");
        let stdout = child.stdout.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        let mut served = Self {
            child,
            lines,
            address: String::new(),
            _dir: dir,
        };
        let listening = served
            .wait_for_line(|line| line["fields"]["message"] == "paygraph listening")
            .await;
        served.address = format!("http://127.0.0.1:{}", listening["fields"]["port"]);
        served
    }

    async fn wait_for_line(&self, wanted: impl Fn(&Value) -> bool) -> Value {
        for _ in 0..600 {
            let found = self
                .lines
                .lock()
                .unwrap()
                .iter()
                .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                .find(|l| wanted(l));
            if let Some(line) = found {
                return line;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no such line in {:#?}", self.lines.lock().unwrap());
    }

    /// The access line of the request with this `x-request-id`.
    async fn access_line(&self, request_id: &str) -> Value {
        self.wait_for_line(|l| {
            l["target"] == "paygraph::access" && l["fields"]["request_id"] == request_id
        })
        .await["fields"]
            .clone()
    }

    async fn post(&self, request_id: &str, headers: &[(&str, &str)], body: Value) -> Value {
        let mut request = reqwest::Client::new()
            .post(format!("{}/graphql", self.address))
            .header("x-request-id", request_id)
            .json(&body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.unwrap().json().await.unwrap()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn each_request_writes_one_access_line_without_secrets() {
    let served = Served::start().await;
    let email = unique_email("access");
    let registered = served
        .post(
            "register-1",
            &[],
            json!({
                "query": "mutation Join($i: RegisterInput!) { register(input: $i) { token user { id } } }",
                "operationName": "Join",
                "variables": {"i": {"email": email, "password": PASSWORD, "firstName": "Ada", "lastName": "Lovelace"}},
            }),
        )
        .await;
    let token = registered["data"]["register"]["token"]
        .as_str()
        .unwrap_or_else(|| panic!("{registered}"))
        .to_owned();
    let user_id = key_of(
        registered["data"]["register"]["user"]["id"]
            .as_str()
            .unwrap(),
    );
    let bearer = format!("Bearer {token}");
    let card = "4242424242424242";
    let added = served
        .post(
            "card-1",
            &[("authorization", &bearer)],
            json!({
                "query": "mutation($i: AddPaymentMethodInput!) { addPaymentMethod(input: $i) { id } }",
                "variables": {"i": {"card": {"number": card, "expiryMonth": 12, "expiryYear": 2031}}},
            }),
        )
        .await;
    assert!(added.get("errors").is_none(), "{added}");
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    served
        .post(
            "me-1",
            &[
                ("authorization", &bearer),
                ("traceparent", &format!("00-{trace}-00f067aa0ba902b7-01")),
            ],
            json!({"query": "query WhoAmI { me { id email } }", "operationName": "WhoAmI"}),
        )
        .await;
    served
        .post("refused-1", &[], json!({"query": "mutation { logout }"}))
        .await;

    let me = served.access_line("me-1").await;
    assert_eq!(me["method"], "POST", "{me}");
    assert_eq!(me["path"], "/graphql", "{me}");
    assert_eq!(me["status"], 200, "{me}");
    assert!(me["duration_ms"].as_f64().is_some(), "{me}");
    assert_eq!(me["trace_id"], trace, "{me}");
    assert_eq!(me["operation_type"], "query", "{me}");
    assert_eq!(me["operation"], "query.me", "{me}");
    assert_eq!(me["operation_name"], "WhoAmI", "{me}");
    assert_eq!(me["user_id"], user_id.to_string(), "{me}");
    assert!(me.get("error_codes").is_none(), "{me}");

    let join = served.access_line("register-1").await;
    assert_eq!(join["operation"], "mutation.register", "{join}");
    assert!(join.get("user_id").is_none(), "{join}");
    assert!(join.get("trace_id").is_none(), "{join}");

    let refused = served.access_line("refused-1").await;
    assert_eq!(refused["operation"], "mutation.logout", "{refused}");
    assert_eq!(refused["error_codes"], "UNAUTHENTICATED", "{refused}");

    // One line per request, and none carries a secret.
    let lines = served.lines.lock().unwrap().clone();
    let access: Vec<_> = lines
        .iter()
        .filter(|l| l.contains("\"paygraph::access\""))
        .collect();
    assert_eq!(access.len(), 4, "{access:#?}");
    for line in &lines {
        for secret in [token.as_str(), PASSWORD, card, "Bearer", &email] {
            assert!(!line.contains(secret), "{secret:?} in the log: {line}");
        }
    }
}

/// The lines CloudWatch's metric filters read (monitoring.yaml): from
/// start, the database pool as it is and the most it opens.
#[tokio::test]
async fn an_instance_writes_its_pool_metrics_to_the_log() {
    let served = Served::start().await;
    let metric = |name: &'static str| {
        move |l: &Value| l["target"] == "paygraph::metrics" && l["fields"]["metric"] == name
    };
    let max = served
        .wait_for_line(metric("paygraph_db_pool_max_connections"))
        .await;
    assert!(max["fields"]["value"].as_f64() >= Some(1.0), "{max}");
    let pool = served
        .wait_for_line(|l| {
            metric("paygraph_db_pool_connections")(l) && l["fields"]["state"] == "in_use"
        })
        .await;
    assert!(pool["fields"]["value"].as_f64().is_some(), "{pool}");
}
