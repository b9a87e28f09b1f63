//! `GET /graphql` with `Upgrade: websocket`: subscriptions over
//! `graphql-transport-ws` (and the legacy `graphql-ws` subprotocol).
//!
//! We read `connection_init` ourselves before async-graphql sees the
//! socket, because a refused token must close the socket with 4403 and no
//! data (async-graphql's own init hook would close with 1002). After that,
//! one loop per socket moves async-graphql's messages to the client and
//! watches the socket's health:
//! - each send must complete within `ws_send_timeout_secs`, or the socket
//!   is dropped: a client that does not read is not buffered for;
//! - a WebSocket ping goes out every `ws_ping_secs`; a client silent for
//!   three intervals is gone and its socket is closed;
//! - the session is checked again every `ws_session_check_secs`, so a
//!   logout or an expired session ends the subscriptions (4403);
//! - a subscription that lost events (it fell behind, or the bus dropped)
//!   asks for the socket to close with 1013 so the client re-subscribes.
//!
//! Every close sends the close frame and then reads the client's frames
//! until its close frame (briefly), so that the code reaches a client
//! that is still writing instead of a reset connection.

use std::{
    str::FromStr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use async_graphql::{
    Data,
    http::{ALL_WEBSOCKET_PROTOCOLS, WebSocketProtocols, WsMessage},
};
use axum::{
    body::Bytes,
    extract::{
        FromRequestParts, WebSocketUpgrade,
        ws::{CloseFrame, Message, Utf8Bytes, WebSocket},
    },
    http::{StatusCode, header, request::Parts},
    response::{IntoResponse, Response},
};
use futures::{
    SinkExt, StreamExt,
    stream::{SplitSink, SplitStream},
};

use super::{HttpState, error_response::error_response};
use crate::{
    auth::{Caller, Principal},
    graphql::errors::{ApiError, Code},
    graphql::{loaders, subscription::SocketControl},
};

const SOCKET_BUFFER: usize = 4 * 1024;

/// graphql-ws closes a socket that has not sent `connection_init` in time.
const INIT_TIMEOUT: Duration = Duration::from_secs(10);

pub async fn upgrade(state: HttpState, parts: &mut Parts) -> Response {
    // A browser sends no CORS preflight for a WebSocket: a page elsewhere
    // could otherwise open one to this server (cross-site WebSocket
    // hijacking). Clients that are not browsers send no Origin.
    if !state.origins.allows_request(&parts.headers) {
        return error_response(
            StatusCode::FORBIDDEN,
            ApiError::new(
                Code::Forbidden,
                "this origin may not open a WebSocket here (PAYGRAPH_CORS_ORIGINS)",
            ),
        );
    }
    let protocol = parts
        .headers
        .get(header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|v| v.to_str().ok())
        .and_then(|list| {
            list.split(',')
                .find_map(|p| WebSocketProtocols::from_str(p.trim()).ok())
        });
    let Some(protocol) = protocol else {
        return (StatusCode::BAD_REQUEST, "unsupported WebSocket subprotocol").into_response();
    };
    let upgrade = match WebSocketUpgrade::from_request_parts(parts, &state).await {
        Ok(u) => u,
        Err(e) => return e.into_response(),
    };
    let max_message = state.app.config.server.max_body_bytes;
    // tungstenite's defaults (128 KiB read and write buffers per socket)
    // cost more than everything else a socket holds; subscription
    // messages are small. Writes go out at once (each send is flushed
    // anyway), and the write buffer never grows past a message or two.
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .read_buffer_size(SOCKET_BUFFER)
        .write_buffer_size(0)
        .max_write_buffer_size(max_message + SOCKET_BUFFER)
        .max_message_size(max_message)
        .max_frame_size(max_message)
        .on_upgrade(move |socket| serve(socket, state, protocol))
        .into_response()
}

type Sink = SplitSink<WebSocket, Message>;
type Source = SplitStream<WebSocket>;

/// How long a socket being closed waits for the client's close frame.
const CLOSE_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(2);

/// Sends the close frame, then reads and discards what the client still
/// sends until its own close frame (or the end of the connection, or
/// `CLOSE_HANDSHAKE_TIMEOUT`). Dropping a connection with unread data
/// resets it, and a client that is still writing then loses the close
/// frame and its code (it sees 1006).
async fn close(sink: &mut Sink, stream: &mut Source, code: u16, reason: &str) {
    let frame = CloseFrame {
        code,
        reason: reason.into(),
    };
    let sent = tokio::time::timeout(
        Duration::from_secs(2),
        sink.send(Message::Close(Some(frame))),
    )
    .await;
    if !matches!(sent, Ok(Ok(()))) {
        return;
    }
    let _ = tokio::time::timeout(CLOSE_HANDSHAKE_TIMEOUT, async {
        while let Some(Ok(msg)) = stream.next().await {
            if let Message::Close(_) = msg {
                break;
            }
        }
    })
    .await;
}

/// The `Authorization` value of a `connection_init` message; `Err` when
/// the message is something else (a client must init first).
fn init_authorization(text: &str) -> Result<Option<String>, ()> {
    let msg: serde_json::Value = serde_json::from_str(text).map_err(|_| ())?;
    if msg["type"] != "connection_init" {
        return Err(());
    }
    let payload = &msg["payload"];
    let value = payload
        .get("Authorization")
        .or_else(|| payload.get("authorization"))
        .and_then(|v| v.as_str())
        .map(str::to_owned);
    Ok(value)
}

async fn serve(socket: WebSocket, state: HttpState, protocol: WebSocketProtocols) {
    let _open = OpenSocket::count();
    let (mut sink, mut stream) = socket.split();
    let Some(Opened {
        init,
        authorization,
        principal,
    }) = open(&mut sink, &mut stream, &state).await
    else {
        return;
    };
    let auth = &state.app.auth;
    let config = &state.app.config;
    let (control, mut close_requested) = SocketControl::new(config.websocket.max_subscriptions);
    let data = connection_data(&state, principal, control);
    let last_heard = Arc::new(Mutex::new(Instant::now()));
    let input = graphql_input(&init, &mut stream, last_heard.clone());
    let mut graphql = async_graphql::http::WebSocket::new(state.schema.clone(), input, protocol)
        .connection_data(data);

    let send_timeout = config.websocket.send_timeout;
    let ping_every = config.websocket.ping;
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + ping_every, ping_every);
    let check_every = config.websocket.session_check.max(Duration::from_secs(1));
    let mut recheck =
        tokio::time::interval_at(tokio::time::Instant::now() + check_every, check_every);
    // What the socket closes with; `None` drops it without a close frame.
    let ending: Option<(u16, String)> = loop {
        tokio::select! {
            out = graphql.next() => match out {
                Some(WsMessage::Text(text)) => {
                    let sent = tokio::time::timeout(send_timeout, sink.send(Message::Text(text.into()))).await;
                    if !matches!(sent, Ok(Ok(()))) {
                        tracing::info!("dropping a WebSocket that does not read");
                        break None;
                    }
                }
                Some(WsMessage::Close(code, reason)) => break Some((code, reason)),
                None => break Some((1000, String::new())),
            },
            _ = ping.tick() => {
                let silent = last_heard.lock().expect("lock").elapsed();
                if silent > ping_every * 3 {
                    break Some((1001, "no answer to ping".into()));
                }
                let sent = tokio::time::timeout(send_timeout, sink.send(Message::Ping(Bytes::new()))).await;
                if !matches!(sent, Ok(Ok(()))) {
                    break None;
                }
            },
            _ = recheck.tick() => match auth.authenticate(authorization.as_deref()).await {
                Ok(Caller::User(_)) => {}
                Ok(_) => break Some((4403, "Forbidden".into())),
                Err(e) => {
                    tracing::error!(error = %e, "cannot recheck the session of a socket");
                    break Some((1013, "service unavailable".into()));
                }
            },
            changed = close_requested.changed() => {
                let request = close_requested.borrow().clone();
                if let (Ok(()), Some(r)) = (changed, request) {
                    break Some((r.code, r.reason.to_string()));
                }
            },
        }
    };
    // async-graphql reads the socket through `stream`: it lets go first.
    drop(graphql);
    if let Some((code, reason)) = ending {
        close(&mut sink, &mut stream, code, &reason).await;
    }
}

/// A socket the client opened with `connection_init` as an authenticated
/// user.
struct Opened {
    /// The `connection_init` message, for the GraphQL protocol to read.
    init: Utf8Bytes,
    /// What it authenticated with, to check the session again later.
    authorization: Option<String>,
    principal: Principal,
}

/// Waits for the client's `connection_init` (at most `INIT_TIMEOUT`) and
/// authenticates it; closes the socket, with the code the protocol gives
/// the reason, and returns `None` when it does not open one.
async fn open(sink: &mut Sink, stream: &mut Source, state: &HttpState) -> Option<Opened> {
    let first = tokio::time::timeout(INIT_TIMEOUT, async {
        while let Some(Ok(msg)) = stream.next().await {
            match msg {
                Message::Text(t) => return Some(t),
                Message::Close(_) => return None,
                _ => {}
            }
        }
        None
    })
    .await;
    let init = match first {
        Ok(Some(text)) => text,
        Ok(None) => return None,
        Err(_) => {
            close(sink, stream, 4408, "connection initialisation timeout").await;
            return None;
        }
    };
    let Ok(authorization) = init_authorization(init.as_str()) else {
        close(sink, stream, 4401, "Unauthorized").await;
        return None;
    };
    let refused = match state.app.auth.authenticate(authorization.as_deref()).await {
        Ok(Caller::User(principal)) => {
            // Without the bus the socket would hear of no change: come back
            // later.
            if state.app.events.is_connected() {
                return Some(Opened {
                    init,
                    authorization,
                    principal,
                });
            }
            (1013, "service unavailable")
        }
        Ok(Caller::Anonymous) => (4401, "Unauthorized"),
        Ok(Caller::Rejected) => (4403, "Forbidden"),
        // Fail closed, as on HTTP: the session cannot be checked.
        Err(e) => {
            tracing::error!(error = %e, "cannot check the session of a socket");
            (1013, "service unavailable")
        }
    };
    close(sink, stream, refused.0, refused.1).await;
    None
}

/// What every operation on the socket sees: its user, its loaders and
/// its control.
fn connection_data(state: &HttpState, principal: Principal, control: Arc<SocketControl>) -> Data {
    let mut data = Data::default();
    data.insert(Caller::User(principal));
    // Loaders batch without caching, so one per socket cannot serve stale
    // rows; and a socket has one user.
    data.insert(loaders::new(&state.app));
    data.insert(control);
    data
}

/// What the GraphQL protocol reads: the `connection_init` message already
/// read, then the client's text and binary messages until it closes.
/// Every message heard, pongs included, is noted in `last_heard`.
fn graphql_input<'a>(
    init: &Utf8Bytes,
    stream: &'a mut Source,
    last_heard: Arc<Mutex<Instant>>,
) -> impl futures::Stream<Item = Bytes> + 'a {
    let first = Bytes::from(init.as_str().to_owned());
    futures::stream::iter([first]).chain(
        stream
            .scan((), |_, msg| {
                std::future::ready(match msg {
                    Ok(Message::Close(_)) | Err(_) => None,
                    Ok(m) => Some(m),
                })
            })
            .filter_map(move |msg| {
                *last_heard.lock().expect("lock") = Instant::now();
                std::future::ready(match msg {
                    Message::Text(t) => Some(Bytes::from(t.as_str().to_owned())),
                    Message::Binary(b) => Some(b),
                    _ => None,
                })
            }),
    )
}

/// Counts open sockets in `/metrics` (`paygraph_websocket_connections`).
struct OpenSocket;

impl OpenSocket {
    fn count() -> Self {
        metrics::gauge!("paygraph_websocket_connections").increment(1.0);
        Self
    }
}

impl Drop for OpenSocket {
    fn drop(&mut self) {
        metrics::gauge!("paygraph_websocket_connections").decrement(1.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_comes_from_connection_init() {
        let msg = r#"{"type":"connection_init","payload":{"Authorization":"Bearer x"}}"#;
        assert_eq!(init_authorization(msg), Ok(Some("Bearer x".into())));
        assert_eq!(
            init_authorization(r#"{"type":"connection_init"}"#),
            Ok(None)
        );
        assert_eq!(
            init_authorization(r#"{"type":"subscribe","id":"1"}"#),
            Err(())
        );
    }
}
