//! Benchmark 5: K graphql-transport-ws sockets on one instance, each
//! subscribed to `transactionUpdated` for its user, and a stream of
//! transfers. Fan-out latency is measured from the moment the transfer
//! mutation is sent to each socket's receipt of its event.

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

use futures::{SinkExt, StreamExt, stream};
use rand::{Rng, SeedableRng, rngs::StdRng};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest};

use crate::{
    client::{Gql, Reply, usd},
    seed::User,
    stats::{Latencies, rss_kib},
};

pub struct SubsPlan {
    pub sockets: usize,
    pub transfers: usize,
    pub per_second: u64,
    pub server_pid: Option<String>,
}

const SUBSCRIBE: &str = "subscription { transactionUpdated { id status } }";
const TRANSFER: &str = "mutation($i: TransferInput!) { transfer(input: $i) { id status } }";

/// Opens one socket as `user`, subscribes, and forwards every delivered
/// transaction id with its arrival time until `stop`.
async fn socket(
    ws_url: String,
    token: String,
    tx: mpsc::UnboundedSender<(String, Instant)>,
    ready: mpsc::Sender<bool>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let opened = async {
        let mut req = ws_url.into_client_request().ok()?;
        req.headers_mut()
            .insert("Sec-WebSocket-Protocol", "graphql-transport-ws".parse().ok()?);
        let (mut ws, _) = tokio_tungstenite::connect_async(req).await.ok()?;
        let init = json!({"type": "connection_init", "payload": {"Authorization": format!("Bearer {token}")}});
        ws.send(Message::text(init.to_string())).await.ok()?;
        loop {
            match ws.next().await? .ok()? {
                Message::Text(t) if t.contains("connection_ack") => break,
                Message::Close(_) => return None,
                _ => {}
            }
        }
        let sub = json!({"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIBE}});
        ws.send(Message::text(sub.to_string())).await.ok()?;
        Some(ws)
    }
    .await;
    let Some(mut ws) = opened else {
        let _ = ready.send(false).await;
        return;
    };
    let _ = ready.send(true).await;
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            msg = ws.next() => match msg {
                Some(Ok(Message::Text(t))) => {
                    let at = Instant::now();
                    let v: Value = serde_json::from_str(&t).unwrap_or_default();
                    match v["type"].as_str() {
                        Some("next") => {
                            if let Some(id) = v["payload"]["data"]["transactionUpdated"]["id"].as_str() {
                                let _ = tx.send((id.to_owned(), at));
                            }
                        }
                        Some("ping") => {
                            let _ = ws.send(Message::text(r#"{"type":"pong"}"#)).await;
                        }
                        _ => {}
                    }
                }
                Some(Ok(_)) => {}
                _ => break,
            }
        }
    }
    let _ = ws.close(None).await;
}

pub async fn run(gql: &Gql, ws_url: &str, users: Arc<Vec<User>>, plan: &SubsPlan) -> Value {
    let pid = plan.server_pid.clone();
    let rss = || pid.as_deref().and_then(rss_kib);
    let rss_before = rss();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (ready_tx, mut ready_rx) = mpsc::channel(plan.sockets.max(1));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    // Sockets per user: socket i belongs to user i mod U.
    let mut per_user = vec![0u64; users.len()];
    let opening = Instant::now();
    // Open sockets a few hundred at a time.
    let mut spawned = 0;
    let mut opened = 0usize;
    let mut failed = 0usize;
    for i in 0..plan.sockets {
        let u = i % users.len();
        tokio::spawn(socket(
            ws_url.to_owned(),
            users[u].token.clone(),
            tx.clone(),
            ready_tx.clone(),
            stop_rx.clone(),
        ));
        per_user[u] += 1;
        spawned += 1;
        if spawned - opened - failed >= 200 {
            match ready_rx.recv().await {
                Some(true) => opened += 1,
                _ => failed += 1,
            }
        }
    }
    while opened + failed < spawned {
        match ready_rx.recv().await {
            Some(true) => opened += 1,
            _ => failed += 1,
        }
    }
    let open_secs = opening.elapsed().as_secs_f64();
    eprintln!("{opened} sockets open ({failed} failed) in {open_secs:.1}s");
    // Subscriptions have no acknowledgement: give the server a moment.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_open = rss();

    // The transfer stream.
    let sent_at: Arc<std::sync::Mutex<HashMap<String, (Instant, u64)>>> = Arc::default();
    let mut rng = StdRng::seed_from_u64(5);
    let picks: Vec<(usize, usize)> = (0..plan.transfers)
        .map(|_| {
            let s = rng.gen_range(0..users.len());
            let mut r = rng.gen_range(0..users.len() - 1);
            if r >= s {
                r += 1;
            }
            (s, r)
        })
        .collect();
    let interval = Duration::from_micros(1_000_000 / plan.per_second.max(1));
    let mut transfer_lat = Latencies::default();
    let mut transfer_errors = 0u64;
    let results: Vec<_> = stream::iter(picks.into_iter().enumerate())
        .map(|(n, (s, r))| {
            let gql = gql.clone();
            let users = users.clone();
            let sent_at = sent_at.clone();
            let expected = per_user[s] + per_user[r];
            async move {
                tokio::time::sleep(interval * n as u32).await;
                let vars = json!({"i": {"recipientEmail": users[r].email, "amount": usd(1 + (n as u64 % 99)),
                    "currency": "USD", "description": "fan-out", "idempotencyKey": format!("subs-{n}")}});
                let t0 = Instant::now();
                let reply = gql.call(Some(&users[s].token), TRANSFER, vars).await;
                let took = t0.elapsed();
                if let Reply::Data(d) = reply
                    && let Some(id) = d["transfer"]["id"].as_str()
                {
                    sent_at.lock().unwrap().insert(id.to_owned(), (t0, expected));
                    return Some(took);
                }
                None
            }
        })
        .buffer_unordered(plan.transfers.max(1))
        .collect()
        .await;
    for r in results {
        match r {
            Some(d) => transfer_lat.record(d),
            None => transfer_errors += 1,
        }
    }
    let mut peak_rss = rss().unwrap_or(0);
    // Let the last events arrive.
    let drain_until = Instant::now() + Duration::from_secs(3);
    let mut received: Vec<(String, Instant)> = Vec::new();
    while let Ok(Some(item)) = tokio::time::timeout_at(drain_until.into(), rx.recv()).await {
        received.push(item);
        if received.len().is_multiple_of(10_000) {
            peak_rss = peak_rss.max(rss().unwrap_or(0));
        }
    }
    let _ = stop_tx.send(true);
    let sent = sent_at.lock().unwrap();
    let mut fanout = Latencies::default();
    let mut unknown = 0u64;
    for (id, at) in &received {
        match sent.get(id) {
            Some((t0, _)) => fanout.record(at.saturating_duration_since(*t0)),
            None => unknown += 1,
        }
    }
    fanout.sort();
    transfer_lat.sort();
    let expected: u64 = sent.values().map(|(_, e)| e).sum();
    json!({
        "sockets": opened,
        "connect_failures": failed,
        "open_seconds": open_secs,
        "transfers": sent.len(),
        "transfer_errors": transfer_errors,
        "transfer_p50_ms": transfer_lat.quantile_ms(0.5),
        "expected": expected,
        "deliveries": fanout.len(),
        "unmatched_deliveries": unknown,
        "p50_ms": fanout.quantile_ms(0.50),
        "p99_ms": fanout.quantile_ms(0.99),
        "max_ms": fanout.quantile_ms(1.0),
        "server_rss_before_kib": rss_before,
        "server_rss_kib": rss_open,
        "server_peak_rss_kib": peak_rss,
    })
}
