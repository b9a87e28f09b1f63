//! A small graphql-transport-ws client for the tests (the reference npm
//! client is driven separately, through node).

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream,
    tungstenite::{Error, Message, client::IntoClientRequest},
};

use crate::helpers::{Backend, TestApp, spawn_app};

/// Generous: a deadline only fails a test that would otherwise hang.
pub const DEADLINE: Duration = Duration::from_secs(30);

pub struct Ws {
    socket: WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>,
}

/// What the server did with `connection_init`.
pub enum Init {
    Acked(Box<Ws>),
    Closed(u16, String),
}

impl Init {
    pub fn acked(self) -> Ws {
        match self {
            Self::Acked(ws) => *ws,
            Self::Closed(code, reason) => panic!("socket closed with {code} {reason}"),
        }
    }

    pub fn closed(self) -> (u16, String) {
        match self {
            Self::Acked(_) => panic!("the socket was accepted"),
            Self::Closed(code, reason) => (code, reason),
        }
    }
}

impl Ws {
    /// Opens a socket and sends `connection_init` with the token, if any.
    pub async fn connect(app: &TestApp, token: Option<&str>) -> Init {
        Self::connect_with(app, token, &[]).await
    }

    /// As `connect`, with extra headers on the upgrade request.
    pub async fn connect_with(
        app: &TestApp,
        token: Option<&str>,
        headers: &[(&'static str, &str)],
    ) -> Init {
        let mut ws = Self::open_with(app, headers).await;
        let payload = match token {
            Some(t) => json!({"Authorization": format!("Bearer {t}")}),
            None => json!({}),
        };
        ws.send(json!({"type": "connection_init", "payload": payload}))
            .await;
        match ws.next_frame().await {
            Frame::Json(v) if v["type"] == "connection_ack" => Init::Acked(Box::new(ws)),
            Frame::Json(v) => panic!("expected an ack or a close, got {v}"),
            Frame::Closed(code, reason) => Init::Closed(code, reason),
        }
    }

    /// Opens a socket and sends nothing yet.
    pub async fn open(app: &TestApp) -> Self {
        Self::open_with(app, &[]).await
    }

    async fn open_with(app: &TestApp, headers: &[(&'static str, &str)]) -> Self {
        let url = format!("{}/graphql", app.address.replace("http", "ws"));
        let mut req = url.into_client_request().unwrap();
        req.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            "graphql-transport-ws".parse().unwrap(),
        );
        for (name, value) in headers {
            req.headers_mut().insert(*name, value.parse().unwrap());
        }
        let (socket, _) = tokio_tungstenite::connect_async(req)
            .await
            .expect("upgrade");
        Ws { socket }
    }

    pub async fn send(&mut self, v: Value) {
        self.socket
            .send(Message::text(v.to_string()))
            .await
            .expect("send");
    }

    pub async fn subscribe(&mut self, id: &str, query: &str, variables: Value) {
        self.send(json!({"type": "subscribe", "id": id, "payload": {"query": query, "variables": variables}}))
            .await;
    }

    pub async fn complete(&mut self, id: &str) {
        self.send(json!({"type": "complete", "id": id})).await;
    }

    /// The next protocol message or the close, within the deadline.
    pub async fn next_frame(&mut self) -> Frame {
        tokio::time::timeout(DEADLINE, async {
            loop {
                match self.socket.next().await {
                    Some(Ok(Message::Text(t))) => {
                        return Frame::Json(serde_json::from_str(t.as_str()).unwrap());
                    }
                    Some(Ok(Message::Close(frame))) => {
                        let (code, reason) = frame
                            .map(|f| (u16::from(f.code), f.reason.to_string()))
                            .unwrap_or((1005, String::new()));
                        return Frame::Closed(code, reason);
                    }
                    Some(Ok(_)) => continue,
                    Some(Err(_)) | None => return Frame::Closed(1006, String::new()),
                }
            }
        })
        .await
        .expect("the server answered within the deadline")
    }

    /// The next `next` message's `payload`, panicking on anything else.
    pub async fn next_payload(&mut self) -> Value {
        match self.next_frame().await {
            Frame::Json(v) if v["type"] == "next" => v["payload"].clone(),
            Frame::Json(v) => panic!("expected a next message, got {v}"),
            Frame::Closed(code, reason) => panic!("socket closed with {code} {reason}"),
        }
    }

    /// Reads until the server closes the socket; returns the close code.
    pub async fn closed(&mut self) -> u16 {
        loop {
            if let Frame::Closed(code, _) = self.next_frame().await {
                return code;
            }
        }
    }
}

#[derive(Debug)]
pub enum Frame {
    Json(Value),
    Closed(u16, String),
}

/// A client that does not wait for the answer to `connection_init` still
/// reads why it was refused, and the connection ends with the close
/// handshake: the server reads what the client sent after the refused
/// frame until the client's close frame. Dropping a connection with
/// unread data resets it, and a client still writing then fails the
/// connection (a browser reports 1006 instead of the code).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_token_closes_with_4403_even_when_frames_follow_at_once() {
    let app = spawn_app(Backend::Sqlite).await;
    let mut tries = Vec::new();
    for _ in 0..20 {
        let ws = Ws::open(&app).await;
        let (mut tx, mut rx) = ws.socket.split();
        let init = json!({"type": "connection_init",
            "payload": {"Authorization": "Bearer not-a-jwt"}});
        tx.send(Message::text(init.to_string())).await.unwrap();
        // Subscribes keep coming until the client learns of the close.
        let writer = tokio::spawn(async move {
            for n in 0..1000 {
                let frame = json!({"type": "subscribe", "id": n.to_string(), "payload": {
                    "query": "subscription { walletUpdated { id } }"}});
                match tx.send(Message::text(frame.to_string())).await {
                    Ok(()) => {}
                    Err(Error::Io(_)) => return "reset",
                    Err(_) => return "",
                }
            }
            ""
        });
        let (code, end) = tokio::time::timeout(DEADLINE, async {
            let mut code = 1006;
            loop {
                match rx.next().await {
                    Some(Ok(Message::Close(frame))) => {
                        code = frame.map_or(1005, |f| u16::from(f.code));
                    }
                    Some(Ok(_)) => continue,
                    Some(Err(Error::Io(_))) => return (code, "reset"),
                    Some(Err(_)) | None => return (code, ""),
                }
            }
        })
        .await
        .expect("the server answered within the deadline");
        let written = writer.await.unwrap();
        tries.push((code, [end, written].join(" ").trim().to_owned()));
    }
    assert!(
        tries
            .iter()
            .all(|(code, ends)| *code == 4403 && ends.is_empty()),
        "close codes and resets: {tries:?}"
    );
}
