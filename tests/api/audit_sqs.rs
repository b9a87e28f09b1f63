//! The audit events' downstream queue: every event the relay delivers is
//! also in SQS (moto's, the same server as its DynamoDB), with its event
//! id as a message attribute; an SQS outage delays events, never loses one.

use std::{collections::BTreeSet, time::Duration};

use aws_sdk_sqs::{
    Client,
    config::{BehaviorVersion, Credentials, Region},
};
use sea_orm::EntityTrait;
use uuid::Uuid;

use crate::{
    dynamo::{PrivateMoto, dynamodb_url, fast_relay, free_port, outbox_len, wait_for_empty_outbox},
    helpers::{Backend, TestApp, spawn_app_with},
};

fn sqs(endpoint: &str) -> Client {
    let conf = aws_sdk_sqs::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .build();
    Client::from_conf(conf)
}

async fn new_queue(client: &Client) -> String {
    let name = format!("paygraph-audit-{}", Uuid::new_v4().simple());
    client
        .create_queue()
        .queue_name(name)
        .send()
        .await
        .unwrap_or_else(|e| panic!("SQS (moto) is required for this test: {e:?}"))
        .queue_url()
        .expect("a queue URL")
        .to_owned()
}

/// Every message's `event_id` attribute, reading until the queue is empty.
async fn event_ids_in(client: &Client, queue: &str) -> Vec<Uuid> {
    let mut ids = Vec::new();
    let mut empty_reads = 0;
    while empty_reads < 2 {
        let got = client
            .receive_message()
            .queue_url(queue)
            .max_number_of_messages(10)
            .message_attribute_names("All")
            .wait_time_seconds(1)
            .send()
            .await
            .expect("receive");
        let messages = got.messages();
        if messages.is_empty() {
            empty_reads += 1;
            continue;
        }
        for m in messages {
            let id = m.message_attributes().unwrap()["event_id"]
                .string_value()
                .expect("an event_id attribute");
            ids.push(id.parse().expect("a uuid"));
            client
                .delete_message()
                .queue_url(queue)
                .receipt_handle(m.receipt_handle().unwrap())
                .send()
                .await
                .expect("delete");
        }
    }
    ids
}

async fn stored_event_ids(app: &TestApp) -> BTreeSet<Uuid> {
    entity::audit_logs::Entity::find()
        .all(&app.db)
        .await
        .expect("audit_logs")
        .into_iter()
        .map(|e| e.event_id)
        .collect()
}

async fn workload(app: &TestApp) {
    let ada = app.register().await;
    let bob = app.register().await;
    app.funded_wallet(&ada.token, "USD", "50.00").await;
    app.create_wallet(&bob.token, "USD").await;
    let sent = app
        .transfer(&ada.token, &bob.email, "5.00", "USD", "q-1")
        .await;
    assert_eq!(sent["data"]["transfer"]["status"], "COMPLETED", "{sent}");
}

#[tokio::test]
async fn every_delivered_audit_event_is_in_the_queue_with_its_event_id() {
    let endpoint = dynamodb_url();
    let client = sqs(&endpoint);
    let queue = new_queue(&client).await;
    let app = spawn_app_with(Backend::Postgres, |c| {
        fast_relay(c);
        c.audit.sqs_queue_url = Some(queue.clone());
        c.audit.aws_endpoint_url.sqs = Some(endpoint.clone());
    })
    .await;
    workload(&app).await;
    wait_for_empty_outbox(&app.db, Duration::from_secs(30)).await;

    let queued = event_ids_in(&client, &queue).await;
    let stored = stored_event_ids(&app).await;
    assert!(!stored.is_empty());
    let unique: BTreeSet<Uuid> = queued.iter().copied().collect();
    assert_eq!(unique.len(), queued.len(), "a duplicate in the queue");
    assert_eq!(unique, stored, "the queue's event ids and the audit log's");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sqs_outage_delays_audit_events_and_loses_none() {
    let moto = PrivateMoto::start(free_port()).await;
    let client = sqs(&moto.url);
    let queue = new_queue(&client).await;
    let endpoint = moto.url.clone();
    let app = spawn_app_with(Backend::Postgres, |c| {
        fast_relay(c);
        c.audit.store_timeout = Duration::from_millis(500);
        c.audit.sqs_queue_url = Some(queue.clone());
        c.audit.aws_endpoint_url.sqs = Some(endpoint);
    })
    .await;

    // SQS hangs: the events are written to the store but stay in the outbox.
    moto.pause();
    workload(&app).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        outbox_len(&app.db).await > 0,
        "rows left the outbox while SQS was down"
    );

    // Back: every event arrives, once.
    moto.resume();
    wait_for_empty_outbox(&app.db, Duration::from_secs(60)).await;
    let queued = event_ids_in(&client, &queue).await;
    let stored = stored_event_ids(&app).await;
    let unique: BTreeSet<Uuid> = queued.iter().copied().collect();
    assert_eq!(unique, stored, "events lost or invented across the outage");
}
